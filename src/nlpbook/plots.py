"""Plots the chapters share: training curves, a 2-D decision boundary, and heatmaps
(attention, gate activations). Each returns the matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

# One colour-blind-safe palette for every series in the book (Okabe & Ito, "Color Universal
# Design", 2008): blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def plot_history(
    history: Sequence[dict], metrics: Sequence[str] = ("loss", "acc"), title: str = ""
):
    """Train and validation curves per epoch, one panel per metric. Chapters 03-04.

    Where the rows carry `batch_losses` (`train.fit`'s do), the loss panel also draws the
    training loss of every batch, at its fraction of the epoch, and its running mean."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(axes[0], metrics, strict=True):
        if metric == "loss" and all(row.get("batch_losses") for row in history):
            _plot_batch_losses(ax, history)
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if key in history[0]:
                ax.plot(epochs, [row[key] for row in history], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot_batch_losses(ax, history: Sequence[dict], window: int = 25) -> None:
    """Every batch's training loss at epoch - 1 + its fraction of the epoch, and a running mean."""
    x, losses = [], []
    for row in history:
        batches = row["batch_losses"]
        x += [row["epoch"] - 1 + (k + 1) / len(batches) for k in range(len(batches))]
        losses += batches
    ax.plot(x, losses, color="0.75", linewidth=0.6, label="train, per batch")
    if len(losses) >= window:
        mean = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(x[window - 1 :], mean, color="0.3", label=f"train, mean of {window} batches")


def plot_decision_boundary(
    predict_proba: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    ax=None,
    title: str = "",
    labels: Sequence[str] = ("class 0", "class 1"),
    axis_labels: Sequence[str] = ("x1", "x2"),
    resolution: int = 200,
):
    """Scatter 2-D points by class and shade P(class 1) from `predict_proba` over the plane,
    with the 0.5 contour as the decision boundary. Chapter 01."""
    X, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    pad = 0.05 * (X.max(0).values - X.min(0).values)
    lo, hi = X.min(0).values - pad, X.max(0).values + pad
    xs = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    ys = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        probs = predict_proba(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)).reshape(
            gx.shape
        )
    ax.contourf(gx, gy, probs, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    if float(probs.min()) < 0.5 < float(probs.max()):
        ax.contour(gx, gy, probs, levels=[0.5], colors="k", linewidths=1.5)
    for cls, marker, color in ((0, "o", "tab:blue"), (1, "^", "tab:red")):
        mask = y == cls
        ax.scatter(
            X[mask, 0], X[mask, 1], marker=marker, c=color, edgecolors="k", label=labels[cls]
        )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_heatmap(
    matrix,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str = "",
    ax=None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
):
    """A labelled heatmap: attention weights (rows × columns) or gate activations over words.

    Chapters 02 and 04.
    """
    matrix = np.asarray(torch.as_tensor(matrix).detach().cpu())
    if matrix.shape != (len(row_labels), len(col_labels)):
        raise ValueError(
            f"matrix {matrix.shape} does not match {len(row_labels)}×{len(col_labels)} labels"
        )
    if ax is None:
        width = max(4.0, 0.45 * len(col_labels) + 2)
        height = max(2.5, 0.35 * len(row_labels) + 1.5)
        _, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_labels)), labels=col_labels, rotation=60, ha="right")
    ax.set_yticks(range(len(row_labels)), labels=row_labels)
    ax.figure.colorbar(image, ax=ax)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def show(fig, alt: str, dpi: int = 100) -> None:
    """Display a Figure in a notebook as a PNG whose output carries `alt` as its alt text; close it.

    The output holds three representations of one picture: `text/html`, an `<img alt="...">`
    with the PNG inline as a data URI (what JupyterLab, Colab and the book's myst-nb show: they
    prefer HTML, and myst-nb takes an image's alt only from cell metadata, never from output
    metadata); `image/png` with `{"alt": alt}` in its metadata (for nbconvert and other
    front-ends); and `text/plain` `<Figure: alt>` (what nbval compares, so the alt text is checked).
    Nothing points at a file, so it renders offline everywhere. Every chapter.
    """
    import base64
    import html
    import io

    from IPython.display import display

    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must be a sentence that says what the figure shows")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = " ".join(alt.split())
    img = f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt, quote=True)}" />'
    data = {"text/html": img, "image/png": png, "text/plain": f"<Figure: {alt}>"}
    display(data, raw=True, metadata={"image/png": {"alt": alt}})


def plot_sigmoid_and_bce(
    z, sigma, dsigma, losses: dict, flat: Sequence[tuple[float, float]] = ()
):
    """Left: the sigmoid and its derivative against the logit z. Right: the BCE loss of each
    named curve against z, with the regions where a clamp makes the loss flat shaded. Chapter 01."""
    z = np.asarray(torch.as_tensor(z).detach().cpu())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(z, np.asarray(torch.as_tensor(sigma).detach()), color=PALETTE[0], lw=2, label="σ(z)")
    left.plot(z, np.asarray(torch.as_tensor(dsigma).detach()), "--", color=PALETTE[1], lw=2,
              label="σ'(z) = σ(z)(1 − σ(z))")
    left.axhline(0.5, color="0.6", lw=0.6)
    left.axvline(0, color="0.6", lw=0.6)
    left.set_xlabel("logit z = w·x + b")
    left.set_ylabel("probability / slope")
    left.set_title("the sigmoid")
    left.legend(fontsize=8)
    styles = ["-", "--", ":", "-."]
    for k, (name, values) in enumerate(losses.items()):
        right.plot(z, np.asarray(torch.as_tensor(values).detach()), styles[k % 4],
                   color=PALETTE[k % len(PALETTE)], lw=2, label=name)
    for k, (lo, hi) in enumerate(flat):
        right.axvspan(lo, hi, color="0.85", zorder=0, label="clamp: flat, zero gradient" if k == 0 else None)
    right.set_xlabel("logit z = w·x + b")
    right.set_ylabel("loss (nats)")
    right.set_title("binary cross-entropy of one student")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_descent_path(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    path,
    span: float = 1.0,
    resolution: int = 120,
    axis_labels: Sequence[str] = ("w₁", "w₂"),
):
    """Contours of a loss over two weights, loss_fn((G, 2) weights) -> (G,), with the path that
    gradient descent took (path: (steps, 2)) drawn on top, start and end marked. Chapter 01."""
    path = np.asarray(torch.as_tensor(path).detach().cpu(), dtype=float)
    lo = path.min(0) - span
    hi = path.max(0) + span
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = torch.tensor(np.stack([g1.ravel(), g2.ravel()], axis=1), dtype=torch.float32)
    with torch.no_grad():
        values = np.asarray(loss_fn(grid).detach().cpu()).reshape(g1.shape)
    fig, ax = plt.subplots(figsize=(5.5, 4.4))
    contours = ax.contour(g1, g2, values, levels=15, cmap="viridis", linewidths=0.8)
    ax.clabel(contours, fontsize=7, fmt="%.2f")
    ax.plot(path[:, 0], path[:, 1], "-", color=PALETTE[3], lw=2, label="gradient descent")
    ax.plot(*path[0], "o", color=PALETTE[3], ms=8, label="start")
    ax.plot(*path[-1], "*", color=PALETTE[7], ms=14, label=f"after {len(path) - 1} steps")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title("training loss over the two weights")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_gradient_reach(norms: dict, ylabel: str = "‖∂h_T / ∂x_t‖", title: str = ""):
    """How far back a gradient reaches: each curve's norm against the distance T − t from the
    last step, on a log scale (norms: name -> (T,) values, index t). Chapter 02."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    styles = ["-", "--", ":", "-."]
    for k, (name, values) in enumerate(norms.items()):
        values = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=float)
        distance = np.arange(len(values))[::-1]  # T - t for t = 0 .. T-1, with T the last index
        ax.semilogy(distance, values, styles[k % 4], color=PALETTE[k % len(PALETTE)], lw=2, label=name)
    ax.set_xlabel("distance T − t (steps back from the last word)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_length_histogram(lengths: Sequence[int], cut: int, bins: int = 40, unit: str = "tokens"):
    """Histogram of text lengths with the truncation length marked and the share above it. Chapter 02."""
    lengths = np.asarray(lengths)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.hist(lengths, bins=bins, color=PALETTE[0], edgecolor="white")
    longer = float((lengths > cut).mean())
    ax.axvline(cut, color=PALETTE[3], lw=2, ls="--", label=f"cut at {cut}: {longer:.1%} are longer")
    ax.set_xlabel(f"review length ({unit})")
    ax.set_ylabel("reviews")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_word_weights(words: Sequence[str], weights, title: str = ""):
    """Horizontal bars of a linear model's word weights, negative and positive in two colours
    (and hatched differently, for greyscale). Chapter 02."""
    weights = np.asarray(torch.as_tensor(weights).detach().cpu(), dtype=float)
    order = np.argsort(weights)
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(words) + 1.2))
    colors = [PALETTE[3] if weights[k] < 0 else PALETTE[0] for k in order]
    hatches = ["//" if weights[k] < 0 else "" for k in order]
    bars = ax.barh(range(len(order)), weights[order], color=colors, edgecolor="black", linewidth=0.4)
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    ax.set_yticks(range(len(order)), labels=[words[k] for k in order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("weight (change in the logit when the word occurs)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
