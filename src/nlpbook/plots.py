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


def plot_loss_curves(curves: dict, xlabel: str = "step", ylabel: str = "training loss (BCE)",
                     logx: bool = False):
    """Loss curves, one per name (values per step, from step 1), in the palette with distinct line
    styles, so that curves lying on top of each other stay visible. Chapter 01."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    styles = ["-", "--", ":", "-."]
    widths = [3.5, 2.5, 2.0, 1.5]
    for k, (name, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, styles[k % 4], lw=widths[k % 4],
                color=PALETTE[k % len(PALETTE)], label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion(counts, labels: Sequence[str], title: str = ""):
    """A confusion matrix: rows gold, columns predicted, coloured by the row's fraction (each class's
    recall on the diagonal) and annotated with the count and the fraction. Chapter 04."""
    counts = np.asarray(torch.as_tensor(counts).detach().cpu(), dtype=float)
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"counts {counts.shape} does not match {len(labels)} labels")
    fractions = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for g in range(len(labels)):
        for p in range(len(labels)):
            color = "white" if fractions[g, p] > 0.5 else "black"
            ax.text(p, g, f"{int(counts[g, p]):,}\n{fractions[g, p]:.2f}", ha="center", va="center",
                    color=color, fontsize=9)
    ax.set_xticks(range(len(labels)), labels=labels)
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("gold label")
    fig.colorbar(image, ax=ax, label="fraction of the gold class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_alignments(panels: Sequence[tuple], ncols: int = 3):
    """Attention heatmaps side by side, one per (weights, row words, column words, title); weights
    run from 0 to 1 on one colour scale, rows are premise words, columns hypothesis words. Chapter 04."""
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    widest = max(len(cols) for _, _, cols, _ in panels)
    tallest = max(len(rows) for _, rows, _, _ in panels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * max(4.0, 0.4 * widest + 2.2),
                                                    nrows * max(3.0, 0.3 * tallest + 1.8)), squeeze=False)
    for ax, (weights, rows, cols, title) in zip(axes.flat, panels, strict=False):
        plot_heatmap(weights, rows, cols, title=title, ax=ax, vmin=0, vmax=1)
        ax.set_xlabel("hypothesis word")
        ax.set_ylabel("premise word")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_packed_batch(
    ids: torch.Tensor,
    lengths: torch.Tensor,
    batch_sizes: torch.Tensor,
    sorted_indices: torch.Tensor,
    words: Sequence[Sequence[str]] | None = None,
):
    """A padded batch and the same batch packed, drawn from the tensors. Chapter 03.

    Left: the (B, T) rectangle `pad_sequence` builds, each row a sequence, padding grey.
    Right: what `pack_padded_sequence` keeps: for each time step t a column of
    `batch_sizes[t]` cells, the sequences still running at t, longest first (`sorted_indices`);
    the number in a cell is its row in `PackedSequence.data`. `words` labels the left cells."""
    ids, lengths = torch.as_tensor(ids), torch.as_tensor(lengths)
    batch_sizes, sorted_indices = torch.as_tensor(batch_sizes), torch.as_tensor(sorted_indices)
    n_rows, steps = ids.shape
    colours = [PALETTE[k % len(PALETTE)] for k in range(n_rows)]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 1.2 + 0.55 * n_rows), gridspec_kw={"width_ratios": [1, 1]}
    )
    for b in range(n_rows):
        for t in range(steps):
            real = t < int(lengths[b])
            left.add_patch(plt.Rectangle((t, n_rows - 1 - b), 0.95, 0.9,
                                         color=colours[b] if real else "0.88"))
            label = (words[b][t] if words is not None and real else "pad" if not real else "")
            left.text(t + 0.47, n_rows - 0.55 - b, label[:6], ha="center", va="center", fontsize=6,
                      color="white" if real else "0.45", rotation=90 if len(label) > 3 else 0)
    left.set(xlim=(0, steps), ylim=(0, n_rows), xlabel="time step t (tokens)",
             title=f"padded: {n_rows} x {steps} = {n_rows * steps} cells, "
                   f"{int(lengths.sum())} real")
    left.set_yticks([n_rows - 0.55 - b for b in range(n_rows)],
                    [f"review {b} ({int(lengths[b])} tokens)" for b in range(n_rows)])
    position = 0
    for t, size in enumerate(batch_sizes.tolist()):
        for k in range(size):
            b = int(sorted_indices[k])
            right.add_patch(plt.Rectangle((t, n_rows - 1 - k), 0.95, 0.9, color=colours[b]))
            right.text(t + 0.47, n_rows - 0.55 - k, str(position), ha="center", va="center",
                       fontsize=6, color="white")
            position += 1
        right.text(t + 0.47, n_rows + 0.15, str(size), ha="center", va="bottom", fontsize=7)
    right.set(xlim=(0, steps), ylim=(0, n_rows + 0.8), xlabel="time step t (tokens)",
              title=f"packed: data holds {position} rows; batch_sizes (top) per step")
    right.set_yticks([n_rows - 0.55 - k for k in range(n_rows)],
                     [f"slot {k}: review {int(sorted_indices[k])}" for k in range(n_rows)])
    fig.tight_layout()
    return fig


def plot_length_buckets(
    lengths: Sequence[int], edges: Sequence[int], padding: dict[str, float], cap: int | None = None
):
    """Histogram of sequence lengths with the batch boundaries of one bucketing pool, and the
    padding share of random vs bucketed batches as bars. Chapter 03."""
    lengths = np.asarray(lengths)
    fig, (hist, bars) = plt.subplots(1, 2, figsize=(12, 3.5), gridspec_kw={"width_ratios": [2.2, 1]})
    hist.hist(lengths, bins=50, color=PALETTE[0], alpha=0.85, label="training reviews")
    for k, edge in enumerate(edges):
        hist.axvline(edge, color=PALETTE[3], linewidth=0.6,
                     label="batch boundaries of one pool" if k == 0 else None)
    if cap is not None:
        hist.axvline(cap, color="black", linestyle="--", linewidth=1.2, label=f"cut at {cap} tokens")
    hist.set(xlabel="review length (tokens)", ylabel="reviews")
    hist.legend(fontsize=8)
    names = list(padding)
    values = [100 * padding[name] for name in names]
    drawn = bars.bar(names, values, color=[PALETTE[1], PALETTE[2]][: len(names)] + PALETTE[3:len(names)])
    bars.bar_label(drawn, labels=[f"{v:.1f}%" for v in values])
    bars.set(ylabel="padding share of the batch (%)", ylim=(0, max(values) * 1.2 + 1))
    fig.tight_layout()
    return fig


def plot_prior_weight(
    alphas: Sequence[float], curves: dict[str, Sequence[float]], chosen: dict[str, float],
    baseline: float | None = None,
):
    """Top-10 accuracy against the prior weight alpha, one curve per code, the chosen alpha
    marked. Chapter 05."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, (name, values) in enumerate(curves.items()):
        ax.plot(alphas, values, marker="o", color=PALETTE[k], label=name)
        best = list(alphas).index(chosen[name])
        ax.plot([chosen[name]], [values[best]], marker="*", markersize=15, color=PALETTE[k],
                markeredgecolor="black", linestyle="none")
    if baseline is not None:
        ax.axhline(baseline, color="0.4", linestyle="--", label="unigram baseline")
    ax.set(xlabel="prior weight alpha", ylabel="top-10 accuracy (validation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_by_band(
    bands: Sequence[str], accuracy: dict[str, Sequence[float]], counts: Sequence[int] | None = None,
    ylabel: str = "top-10 accuracy",
):
    """Grouped bars: accuracy per word-frequency band, one bar per model. Chapter 05."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / max(len(accuracy), 1)
    x = np.arange(len(bands))
    for k, (name, values) in enumerate(accuracy.items()):
        drawn = ax.bar(x + (k - (len(accuracy) - 1) / 2) * width, values, width, label=name,
                       color=PALETTE[k], hatch=["", "//", "..", "xx"][k % 4], edgecolor="white")
        ax.bar_label(drawn, labels=[f"{v:.2f}" for v in values], fontsize=7)
    labels = list(bands) if counts is None else [f"{b}\n({c:,} blanks)" for b, c in zip(bands, counts, strict=True)]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set(xlabel="the blank's word, by frequency rank in the training sentences", ylabel=ylabel,
           ylim=(0, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
