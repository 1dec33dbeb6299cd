"""Fixed diagrams the chapters show, drawn by code with matplotlib.

Drawn rather than linked as image files, so that they render offline everywhere a chapter is
read: JupyterLab, Colab (one notebook opened alone, no other files of the repository) and the
book. Each `*_figure` function returns the Figure (for tests and for saving); the one-line
helpers show it through `plots.show`, with alt text. Every chapter opens with
`pipeline_strip("NN")`.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from nlpbook import plots

STAGES = ("text", "tokens", "ids", "embeddings", "encoder", "head", "loss")

# chapter -> (highlighted stages, {stage: what this chapter does there}, short chapter topic)
CHAPTER_STAGES: dict[str, tuple[tuple[str, ...], dict[str, str], str]] = {
    "01": (
        ("head", "loss"),
        {"head": "linear + sigmoid", "loss": "binary cross-entropy"},
        "logistic regression",
    ),
    "02": (
        ("tokens", "ids", "embeddings", "encoder"),
        {
            "tokens": "tokeniser",
            "ids": "vocabulary",
            "embeddings": "nn.Embedding",
            "encoder": "LSTM from scratch",
        },
        "an LSTM from scratch",
    ),
    "03": (
        ("embeddings", "encoder"),
        {"embeddings": "GloVe", "encoder": "BiLSTM, packing"},
        "BiLSTM sentiment",
    ),
    "04": (
        ("encoder", "head"),
        {"encoder": "BiLSTM + soft alignment", "head": "ESIM pooling + MLP"},
        "ESIM on SNLI",
    ),
    "05": (
        ("head", "loss"),
        {"head": "infilling (both sides)", "loss": "BCE on binary codes"},
        "BiRNN word infilling",
    ),
}


def _chapter(chapter: str) -> tuple[tuple[str, ...], dict[str, str], str]:
    key = str(chapter).zfill(2)
    if key not in CHAPTER_STAGES:
        raise ValueError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTER_STAGES)}")
    return CHAPTER_STAGES[key]


def _box(ax, x: float, y: float, w: float, h: float, text: str, highlighted: bool, **kw):
    """A rounded box with centred text; highlighted boxes are filled blue with white bold text."""
    face = plots.PALETTE[0] if highlighted else "#EEEEEE"
    edge = "#000000" if highlighted else "#888888"
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=face,
            edgecolor=edge,
            linewidth=2.0 if highlighted else 1.0,
        )
    )
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        color="white" if highlighted else "#333333",
        fontweight="bold" if highlighted else "normal",
        **kw,
    )


def _arrow(ax, x0: float, y0: float, x1: float, y1: float, **kw) -> None:
    style = {"arrowstyle": "-|>", "mutation_scale": 12, "color": "#555555", "linewidth": 1.2}
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), **{**style, **kw}))


def pipeline_strip_figure(chapter: str):
    """The "where we are" strip: text → tokens → ids → embeddings → encoder → head → loss,
    with this chapter's stages filled and labelled with what the chapter does there."""
    highlighted, notes, topic = _chapter(chapter)
    fig, ax = plt.subplots(figsize=(10, 1.9))
    width, height, step = 1.3, 0.55, 1.55
    for k, stage in enumerate(STAGES):
        x = k * step
        _box(ax, x, 0.6, width, height, stage, stage in highlighted, fontsize=9.5)
        if k:
            _arrow(ax, x - step + width / 2, 0.6, x - width / 2, 0.6)
        if stage in notes:
            note = textwrap.fill(notes[stage], 16)
            ax.text(x, 0.22, note, ha="center", va="top", fontsize=8, color="#000000")
    ax.set_title(f"Chapter {str(chapter).zfill(2)} ({topic}): where we are", fontsize=10)
    ax.set_xlim(-width / 2 - 0.1, (len(STAGES) - 1) * step + width / 2 + 0.1)
    ax.set_ylim(-0.35, 1.0)
    ax.set_axis_off()
    return fig


def pipeline_alt(chapter: str) -> str:
    """The alt text of the strip: the stages in order and which ones this chapter covers."""
    highlighted, notes, topic = _chapter(chapter)
    parts = ", ".join(f"{s} ({notes[s]})" for s in highlighted)
    return (
        "Pipeline strip: text, tokens, ids, embeddings, encoder, head, loss, left to right. "
        f"Chapter {str(chapter).zfill(2)} ({topic}) covers: {parts}."
    )


def pipeline_strip(chapter: str, alt: str | None = None) -> None:
    """Show the "where we are" strip for a chapter, with alt text. One line at each chapter's top."""
    plots.show(pipeline_strip_figure(chapter), alt=alt or pipeline_alt(chapter))
