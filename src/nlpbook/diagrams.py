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
    with this chapter's stages filled and labelled with what the chapter does there. Every chapter."""
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
    """The alt text of the strip: the stages in order and which ones this chapter covers.

    Every chapter."""
    highlighted, notes, topic = _chapter(chapter)
    parts = ", ".join(f"{s} ({notes[s]})" for s in highlighted)
    return (
        "Pipeline strip: text, tokens, ids, embeddings, encoder, head, loss, left to right. "
        f"Chapter {str(chapter).zfill(2)} ({topic}) covers: {parts}."
    )


def pipeline_strip(chapter: str, alt: str | None = None) -> None:
    """Show the "where we are" strip for a chapter, with alt text (a line at every chapter's top)."""
    plots.show(pipeline_strip_figure(chapter), alt=alt or pipeline_alt(chapter))


def _node(ax, x: float, y: float, text: str, color: str = "#FFFFFF") -> None:
    """A small round operator node (×, +, tanh) on a line of the cell diagram."""
    ax.add_patch(plt.Circle((x, y), 0.26, facecolor=color, edgecolor="#000000", linewidth=1.2, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=9 if len(text) > 1 else 13, zorder=4)


def _line(ax, xs, ys, arrow: bool = False, **kw) -> None:
    style = {"color": "#333333", "linewidth": 1.4, "zorder": 1}
    style.update(kw)
    ax.plot(xs, ys, **style)
    if arrow:
        _arrow(ax, xs[-2], ys[-2], xs[-1], ys[-1], color=style["color"], linewidth=style["linewidth"])


LSTM_GATES = (  # name, symbol, x, activation, colour index in PALETTE, equation
    ("forget gate", "f", 2.2, "σ", 3, r"$f_t = \sigma(W_{if}x_t + W_{hf}h_{t-1} + b_f)$"),
    ("input gate", "i", 3.5, "σ", 0, r"$i_t = \sigma(W_{ii}x_t + W_{hi}h_{t-1} + b_i)$"),
    ("candidate", "g", 4.8, "tanh", 2, r"$g_t = \tanh(W_{ig}x_t + W_{hg}h_{t-1} + b_g)$"),
    ("output gate", "o", 6.3, "σ", 4, r"$o_t = \sigma(W_{io}x_t + W_{ho}h_{t-1} + b_o)$"),
)


def lstm_cell_figure():
    """The LSTM cell: the cell-state line along the top (scaled by f_t, added to by i_t ⊙ g_t),
    the three sigmoid gates and the tanh candidate fed by [x_t, h_{t-1}], the output h_t, and the
    equation of each part beside it, numbered as drawn. Chapter 02."""
    fig, ax = plt.subplots(figsize=(12, 4.6))
    top, gate_y, bottom, mix_y = 5.0, 2.3, 0.7, 3.6
    # the cell-state line: c_{t-1} -> x f_t -> + i_t*g_t -> c_t
    _line(ax, [0.2, 8.9], [top, top], arrow=True, linewidth=2.6, color=plots.PALETTE[7])
    ax.text(0.2, top + 0.35, r"$c_{t-1}$", fontsize=12)
    ax.text(8.6, top + 0.35, r"$c_t$", fontsize=12)
    ax.text(4.6, top + 0.55, "cell state: only scaled and added to", fontsize=9, ha="center", style="italic")
    # [x_t, h_{t-1}] line along the bottom, branching up to each gate
    _line(ax, [0.2, 6.3], [bottom, bottom])
    ax.text(0.2, bottom - 0.45, r"$h_{t-1}$", fontsize=12)
    _line(ax, [1.2, 1.2], [-0.2, bottom])
    ax.text(1.35, -0.25, r"$x_t$", fontsize=12)
    for k, (_name, symbol, x, act, color, _) in enumerate(LSTM_GATES, start=1):
        _line(ax, [x, x], [bottom, gate_y - 0.35], arrow=True)
        _box(ax, x, gate_y, 0.9, 0.7, act, True, fontsize=11)
        ax.patches[-1].set_facecolor(plots.PALETTE[color])
        ax.text(x + 0.08, gate_y + 0.7, f"({k}) {symbol}$_t$", fontsize=9, ha="left")
    f_x, i_x, g_x, o_x = (gate[2] for gate in LSTM_GATES)
    # forget: f_t scales the old cell state
    _line(ax, [f_x, f_x], [gate_y + 0.35, top - 0.26], arrow=True)
    _node(ax, f_x, top, "×")
    # input: i_t * g_t is added to it
    mix_x = (i_x + g_x) / 2
    _line(ax, [i_x, i_x, mix_x - 0.26], [gate_y + 0.35, mix_y, mix_y], arrow=True)
    _line(ax, [g_x, g_x, mix_x + 0.26], [gate_y + 0.35, mix_y, mix_y], arrow=True)
    _node(ax, mix_x, mix_y, "×")
    _line(ax, [mix_x, mix_x], [mix_y + 0.26, top - 0.26], arrow=True)
    _node(ax, mix_x, top, "+")
    ax.text(mix_x + 0.35, top - 0.5, "(5)", fontsize=9)
    # output: h_t = o_t * tanh(c_t)
    out_x = 7.6
    _line(ax, [out_x, out_x], [top, mix_y + 1.0 + 0.26], arrow=True)
    _node(ax, out_x, mix_y + 1.0 - 0.15, "tanh")
    _line(ax, [out_x, out_x], [mix_y + 0.85 - 0.26, mix_y + 0.26], arrow=True)
    _line(ax, [o_x, o_x, out_x - 0.26], [gate_y + 0.35, mix_y, mix_y], arrow=True)
    _node(ax, out_x, mix_y, "×")
    _line(ax, [out_x + 0.26, 8.9], [mix_y, mix_y], arrow=True)
    _line(ax, [8.5, 8.5, 0.2], [mix_y, -0.05, -0.05], color="0.6", linestyle=":")
    ax.text(8.95, mix_y - 0.1, r"$h_t$", fontsize=12)
    ax.text(out_x + 0.35, mix_y + 0.35, "(6)", fontsize=9)
    ax.text(4.6, -0.45, r"$h_t$ is fed back as the next step's $h_{t-1}$", fontsize=8, color="0.4")
    # the equations, numbered as drawn
    lines = [f"({k}) {name}: {eq}" for k, (name, _, _, _, _, eq) in enumerate(LSTM_GATES, start=1)]
    lines += [r"(5) cell update: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$",
              r"(6) hidden state: $h_t = o_t \odot \tanh(c_t)$"]
    for k, text in enumerate(lines):
        ax.text(9.6, top - 0.1 - 0.8 * k, text, fontsize=10, va="center")
    ax.set_xlim(0, 15.4)
    ax.set_ylim(-0.7, 5.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("One step of an LSTM cell (biases b combine nn.LSTM's b_ih and b_hh)", fontsize=11)
    return fig


LSTM_CELL_ALT = (
    "Diagram of one LSTM step. Along the top runs the cell state from c_{t-1} to c_t: it is "
    "multiplied by the forget gate f_t and then has i_t times g_t added to it. Below, the input "
    "x_t and the previous hidden state h_{t-1} feed four boxes: the forget gate (sigmoid), the input "
    "gate (sigmoid), the candidate (tanh) and the output gate (sigmoid). The new hidden state h_t is "
    "the output gate times tanh of c_t. The six equations are listed on the right, numbered as drawn."
)


def lstm_cell(alt: str = LSTM_CELL_ALT) -> None:
    """Show the LSTM cell diagram with its alt text. Chapter 02."""
    plots.show(lstm_cell_figure(), alt=alt)


ESIM_STAGES = (  # column title, premise row, hypothesis row (None: one box across both rows), has weights
    ("embedding\n+ exact-match flag", "(B, $T_a$, E+1)", "(B, $T_b$, E+1)", True),
    ("input encoding:\none BiLSTM\nfor both", r"$\bar a$: (B, $T_a$, 2H)", r"$\bar b$: (B, $T_b$, 2H)", True),
    ("soft alignment:\n" r"$e = \bar a\, \bar b^\top$," "\nmasked softmax", None, None, False),
    ("enhancement:\n" r"$[\bar a; \tilde a; \bar a - \tilde a; \bar a \odot \tilde a]$", r"$m_a$: (B, $T_a$, 8H)",
     r"$m_b$: (B, $T_b$, 8H)", False),
    ("projection F (ReLU)\n+ composition\nBiLSTM", r"$v_a$: (B, $T_a$, 2H)", r"$v_b$: (B, $T_b$, 2H)", True),
    ("average + max\npooling over\nreal words", "(B, 4H)", "(B, 4H)", False),
    ("MLP (tanh)", None, None, True),
)


def esim_architecture_figure():
    """ESIM as a left-to-right flow: premise on the top row, hypothesis on the bottom row, the two
    meeting in the soft alignment and again in the MLP; each box gives its output's shape. Blue
    boxes have trainable weights, grey ones do not. Chapter 04."""
    fig, ax = plt.subplots(figsize=(15, 4.8))
    step, width, height, rows = 2.35, 1.95, 0.95, {"a": 2.2, "b": 0.6}
    ax.text(-1.75, rows["a"], "premise ids\n(B, $T_a$)", ha="center", va="center", fontsize=9)
    ax.text(-1.75, rows["b"], "hypothesis ids\n(B, $T_b$)", ha="center", va="center", fontsize=9)
    previous = {"a": -1.1, "b": -1.1}
    for k, (title, shape_a, shape_b, weights) in enumerate(ESIM_STAGES):
        x = k * step
        ax.text(x, 3.25, title, ha="center", va="bottom", fontsize=8.5, fontweight="bold")
        if shape_a is None:  # one box across both rows: the sentences meet here
            middle = (rows["a"] + rows["b"]) / 2
            label = (r"$\tilde a$: (B, $T_a$, 2H)" "\n" r"$\tilde b$: (B, $T_b$, 2H)" "\n" r"weights (B, $T_a$, $T_b$)"
                     if k == 2 else "v: (B, 8H)\n↓\nlogits (B, 3)")
            _box(ax, x, middle, width, rows["a"] - rows["b"] + height, label, weights, fontsize=8.5)
            for row in rows.values():
                _arrow(ax, previous["a" if row == rows["a"] else "b"], row, x - width / 2, row)
            previous = {"a": x + width / 2, "b": x + width / 2}
            continue
        for name, shape in (("a", shape_a), ("b", shape_b)):
            _box(ax, x, rows[name], width, height, shape, weights, fontsize=8.5)
            _arrow(ax, previous[name], rows[name], x - width / 2, rows[name])
            previous[name] = x + width / 2
    ax.text(5.5 * step, -0.3, r"$v = [v_{a,\mathrm{ave}}; v_{a,\max}; v_{b,\mathrm{ave}}; v_{b,\max}]$", ha="center", fontsize=8,
            color="0.3")
    ax.text(-2.5, -0.75, r"B batch, $T_a$ / $T_b$ sentence lengths, E embedding size, H hidden size; "
            "blue: trainable weights, grey: no weights", fontsize=8.5, color="0.3")
    ax.set_xlim(-2.6, (len(ESIM_STAGES) - 1) * step + width / 2 + 0.1)
    ax.set_ylim(-0.95, 4.3)
    ax.set_axis_off()
    ax.set_title("ESIM: encode each sentence, align them, compare, compose, pool, classify", fontsize=11)
    return fig


ESIM_ALT = (
    "Diagram of ESIM as a left-to-right flow with the premise on the top row and the hypothesis on the "
    "bottom row. Each sentence's word ids go through an embedding with the exact-match flag, shape "
    "(B, T, E+1), and the shared input-encoding BiLSTM, shape (B, T, 2H). One soft-alignment box spanning "
    "both rows computes the alignment matrix e of shape (B, Ta, Tb) and, with a masked softmax, each "
    "word's aligned summary of the other sentence, shape (B, T, 2H). Enhancement concatenates a word, its "
    "aligned summary, their difference and product, shape (B, T, 8H); a ReLU projection and the "
    "composition BiLSTM give (B, T, 2H); average and max pooling over real words give (B, 4H) per "
    "sentence; the four pooled vectors are concatenated to (B, 8H) and an MLP with tanh gives 3 logits. "
    "Blue boxes have trainable weights, grey boxes do not."
)


def esim_architecture(alt: str = ESIM_ALT) -> None:
    """Show the ESIM architecture diagram with its alt text. Chapter 04."""
    plots.show(esim_architecture_figure(), alt=alt)


def infill_shift_figure(words=("<beg>", "the", "movie", "was", "<end>"), target: int = 2):
    """Chapter 05's shift: word t is predicted from the forward state at t-1 and the backward
    state at t+1, never from a state that has read word t."""
    n = len(words)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    step, y_in, y_fw, y_bw, y_out = 1.6, 0.0, 1.1, 2.1, 3.3
    for t, word in enumerate(words):
        x = t * step
        used_f, used_b = t == target - 1, t == target + 1
        _box(ax, x, y_in, 1.1, 0.45, word, t == target, fontsize=9)
        _box(ax, x, y_fw, 0.8, 0.45, f"f{t}", used_f, fontsize=9)
        _box(ax, x, y_bw, 0.8, 0.45, f"b{t}", used_b, fontsize=9)
        _arrow(ax, x, y_in + 0.23, x, y_fw - 0.23, color="#BBBBBB")
        if t:
            _arrow(ax, x - step + 0.4, y_fw, x - 0.4, y_fw)  # forward reads left to right
            _arrow(ax, x - 0.4, y_bw, x - step + 0.4, y_bw)  # backward reads right to left
    x_t = target * step
    _box(ax, x_t, y_out, 4.2, 0.5, f"MLP([f{target - 1}; b{target + 1}]) predicts '{words[target]}'",
         True, fontsize=9)
    _arrow(ax, (target - 1) * step, y_fw + 0.23, x_t - 0.5, y_out - 0.25, color=plots.PALETTE[3], linewidth=2)
    _arrow(ax, (target + 1) * step, y_bw + 0.23, x_t + 0.5, y_out - 0.25, color=plots.PALETTE[3], linewidth=2)
    ax.text(-1.3, y_fw, "forward →", ha="right", va="center", fontsize=9)
    ax.text(-1.3, y_bw, "← backward", ha="right", va="center", fontsize=9)
    ax.text(-1.3, y_in, "input", ha="right", va="center", fontsize=9)
    ax.text(x_t, y_in - 0.55, f"f{target} and b{target} have read '{words[target]}': not used for it",
            ha="center", va="top", fontsize=8, color="#555555")
    ax.set_xlim(-2.6, (n - 1) * step + 0.9)
    ax.set_ylim(-0.9, 3.75)
    ax.set_axis_off()
    ax.set_title("The shift: each word is predicted from the states on either side of it", fontsize=10)
    return fig


def binary_code_figure(shown: int = 12, seed: int = 3):
    """Chapter 05's binary word codes: a word vector -> its signs (the code, D bits); and how a
    candidate word is scored against predicted bit probabilities: log-likelihood + alpha log P(w).
    The numbers are illustrative (a fixed random draw), only `shown` of the D dimensions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vector = rng.normal(0, 0.4, shown).round(2)
    code = (vector > 0).astype(int)
    probs = np.clip(np.where(code == 1, 0.75, 0.25) + rng.normal(0, 0.15, shown), 0.05, 0.95).round(2)
    fig, ax = plt.subplots(figsize=(10, 4.4))
    rows = [
        ("word2vec vector of 'movie'\n(100 numbers; 12 shown)", [f"{v:+.2f}" for v in vector], None),
        ("its code: bit j = 1 if\ncomponent j > 0", [str(b) for b in code], code),
        ("the model's bit probabilities\np_j = sigmoid(z_j) at the blank", [f"{p:.2f}" for p in probs], None),
    ]
    for r, (label, cells, bits) in enumerate(rows):
        y = 3.4 - 1.15 * r
        ax.text(-0.45, y, label, ha="right", va="center", fontsize=8.5)
        for j, text in enumerate(cells):
            filled = bits is not None and bits[j] == 1
            _box(ax, j * 0.62, y, 0.54, 0.45, text, bool(filled), fontsize=7.5)
        ax.text(shown * 0.62 - 0.1, y, "…", ha="left", va="center", fontsize=12)
        if r == 0:
            _arrow(ax, shown * 0.31, y - 0.27, shown * 0.31, y - 0.85)
            ax.text(shown * 0.31 + 0.1, y - 0.56, "take the signs (fixed before training)",
                    fontsize=8, va="center")
    ax.text(shown * 0.31, 0.55,
            "score(w) = Σ_j [ b_wj log p_j + (1 − b_wj) log(1 − p_j) ]  +  α log P(w)",
            ha="center", va="center", fontsize=10.5)
    ax.text(shown * 0.31, 0.05,
            "log-likelihood of w's code under the predicted bits        word-frequency prior",
            ha="center", va="center", fontsize=8, color="#555555")
    ax.text(shown * 0.31, -0.4, "every vocabulary word gets a score; the best-scored words are the guesses",
            ha="center", va="center", fontsize=8.5)
    ax.set_xlim(-4.6, shown * 0.62 + 0.5)
    ax.set_ylim(-0.7, 3.9)
    ax.set_aspect("auto")
    ax.set_axis_off()
    ax.set_title("How a word becomes a binary code, and how a code is scored", fontsize=10)
    return fig
