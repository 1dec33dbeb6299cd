"""The training loop every chapter from 03 on shares: one epoch, evaluation and `fit`.

Chapter 02 writes its first training loop by hand; `fit` is the same loop, with the best
weights kept and early stopping. A batch is a tuple `(*inputs, labels)`; the model is called
as `model(*inputs)` and `loss_fn(output, labels)` gives the loss. What counts as correct is
the `score(output, labels) -> (correct, count)` hook: by default one prediction per example
(`count_correct`); chapter 05 scores every target word of a sentence. Loss and accuracy are
weighted by `count` (correct / count), not means of batch means.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from nlpbook import utils
from nlpbook.utils import Timer, flush_denormal


def to_device(batch: Iterable[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """Move every tensor of a batch to `device`, lengths too (`rnn.check_lengths` takes them
    on any device).

    Chapters 03-05.
    """
    return [t.to(device) if isinstance(t, torch.Tensor) else t for t in batch]


def count_correct(output: torch.Tensor, labels: torch.Tensor) -> int:
    """Correct predictions: sign of one logit per example, else argmax over classes. Chapter 03."""
    if output.dim() == 1 or output.shape[-1] == 1:
        predictions = (output.reshape(-1) > 0).long()
    else:
        predictions = output.argmax(dim=-1)
    return int((predictions == labels.reshape(-1).long()).sum())


def score_examples(output: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """The default `score` hook: (correct predictions, examples in the batch). Chapter 03."""
    return count_correct(output, labels), len(labels)


def _loss_target(output: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if output.dim() == 1 or output.shape[-1] == 1:  # binary: BCEWithLogitsLoss wants floats
        return output.reshape(-1), labels.float().reshape(-1)
    return output, labels.long()


def run_epoch(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | str = "cpu",
    clip: float | None = None,
    progress: bool = False,
    desc: str = "",
    score: Callable = score_examples,
) -> dict[str, float]:
    """One pass over `loader`: trains when an optimizer is given, else evaluates. Chapter 03.

    Returns `loss` and `acc` weighted by what `score` counts, that count `n`, `seconds`, and
    `batch_losses`, each batch's loss in order (the training curve within an epoch). A NaN
    or inf loss raises FloatingPointError before its backward pass and step, so the weights
    stay as the last finite batch left them.
    """
    training = optimizer is not None
    model.train(training)
    total_loss, correct, n, batch_losses = 0.0, 0, 0, []
    with Timer() as timer, torch.set_grad_enabled(training):
        # A slow refresh keeps the bar from flooding a notebook kernel's output channel:
        # thousands of widget updates in one cell can make Jupyter (and nbval) drop messages.
        bar = tqdm(loader, desc=desc, disable=not progress, leave=False, mininterval=5.0)
        for k, batch in enumerate(bar, 1):
            *inputs, labels = to_device(batch, device)
            output = model(*inputs)
            output, target = _loss_target(output, labels)
            loss = loss_fn(output, target)
            batch_losses.append(loss.item())
            if not math.isfinite(batch_losses[-1]):  # stop before a step spreads it to the weights
                raise FloatingPointError(
                    f"the {'training' if training else 'evaluation'} loss is {batch_losses[-1]} at "
                    f"batch {k}; check the inputs and the learning rate"
                )
            if training:
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            right, count = score(output.detach(), labels)
            total_loss += batch_losses[-1] * count
            correct += right
            n += count
    if n == 0:
        raise ValueError("the loader yielded nothing to score (no examples or no targets)")
    return {
        "loss": total_loss / n,
        "acc": correct / n,
        "n": n,
        "seconds": timer.seconds,
        "batch_losses": batch_losses,
    }


def train_epoch(
    model, loader, loss_fn, optimizer, device="cpu", clip=None, progress=False, score=score_examples
):
    """Train for one epoch; see `run_epoch`. Denormals count as zero (`utils.flush_denormal`).

    Chapters 03-05.
    """
    with flush_denormal():
        return run_epoch(model, loader, loss_fn, optimizer, device, clip, progress, "train", score)


def evaluate(model, loader, loss_fn, device="cpu", progress=False, score=score_examples):
    """Evaluate without gradients; see `run_epoch`. Chapter 03."""
    return run_epoch(model, loader, loss_fn, None, device, None, progress, "eval", score)


@dataclass(frozen=True)
class HalveOnPlateau:
    """The schedule of ESIM's released code (Chen et al., ACL 2017; github.com/lukecq1231/nli,
    `scripts/ESIM/main.py`), for `fit(..., on_plateau=...)`. Chapter 04's full profile.

    After every epoch whose validation score is not a new best, `fit` reloads the best
    weights and multiplies each parameter group's learning rate by `factor`; at the
    `stop_after`-th such epoch it stops instead. The released code validates once an epoch,
    halves (0.5) and reloads at every such epoch, and stops when its count of halvings exceeds
    its patience, 7: at the 8th. As there, the optimizer's state (Adam's moments) is kept.
    One difference: a tie with the best score counts as a new best there, not here.
    """

    factor: float = 0.5
    stop_after: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.factor < 1:
            raise ValueError(f"HalveOnPlateau: factor must lie in (0, 1), not {self.factor!r}")
        utils.whole_number(self.stop_after, "HalveOnPlateau: stop_after")

    def scale(self, optimizer: torch.optim.Optimizer) -> None:
        """Multiply the learning rate of every parameter group by `factor`."""
        for group in optimizer.param_groups:
            group["lr"] *= self.factor


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: torch.device | str = "cpu",
    clip: float | None = None,
    monitor: str = "val_loss",
    patience: int | None = None,
    progress: bool = True,
    verbose: bool = True,
    score: Callable = score_examples,
    on_plateau: HalveOnPlateau | None = None,
) -> list[dict[str, float]]:
    """Train for up to `epochs`, keep the best weights by `monitor`, and return the history.

    `monitor` is 'val_loss' (lower is better) or 'val_acc' (higher is better). Training
    stops early after `patience` epochs without improvement. At the end the model holds
    the best epoch's weights; each history row has train/val loss and acc, seconds, and the
    epoch's per-batch training losses.
    `score` decides what accuracy counts (see the module's docstring). `on_plateau`, a
    `HalveOnPlateau`, reloads the best weights and lowers the learning rate after each epoch
    without improvement and stops at its `stop_after`-th; each row then also has `lr`, the
    first parameter group's learning rate during that epoch. Chapters 03-05.
    """
    if monitor not in ("val_loss", "val_acc"):
        raise ValueError(f"monitor must be 'val_loss' or 'val_acc', not {monitor!r}")
    sign = -1.0 if monitor == "val_acc" else 1.0
    best, best_state, since_best, plateaus = math.inf, None, 0, 0
    history = []
    for epoch in range(1, epochs + 1):
        lr = optimizer.param_groups[0]["lr"] if on_plateau is not None else None
        try:
            train = train_epoch(
                model, train_loader, loss_fn, optimizer, device, clip, progress, score
            )
            val = evaluate(model, val_loader, loss_fn, device, progress, score)
        except FloatingPointError as e:  # a NaN or inf loss: say in which epoch
            raise FloatingPointError(f"epoch {epoch}: {e}") from None
        row = {
            "epoch": epoch,
            "train_loss": train["loss"],
            "train_acc": train["acc"],
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "seconds": train["seconds"] + val["seconds"],
            "batch_losses": train["batch_losses"],  # the training loss of every batch, in order
        }
        improved = sign * row[monitor] < best
        row["best"] = improved
        if on_plateau is not None:
            row["lr"] = lr
        history.append(row)
        if verbose:
            print(
                f"epoch {epoch:2d}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
                f"  val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}"
                f"  {row['seconds']:.1f} s{'' if lr is None else f'  lr {lr:.2e}'}"
                f"{'  *' if improved else ''}"
            )
        if improved:
            best, best_state, since_best = sign * row[monitor], copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if on_plateau is not None:
                plateaus += 1
                if plateaus >= on_plateau.stop_after:
                    break
                model.load_state_dict(best_state)  # go on from the best weights, more slowly
                on_plateau.scale(optimizer)
            if patience is not None and since_best >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
