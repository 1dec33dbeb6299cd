"""The training loop the chapters share: one epoch, evaluation, `fit`, and checkpoints.

Chapter 02 writes its first training loop by hand; from chapter 03 on, chapters call
`fit`. A batch is a tuple `(*inputs, labels)`; the model is called as `model(*inputs)`.
Accuracy is example-weighted (correct / examples), not a mean of batch means.
"""

from __future__ import annotations

import copy
import math
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from nlpbook.text import Vocab
from nlpbook.utils import Timer, flush_denormal


def to_device(batch: Iterable[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """Move every tensor of a batch to `device` (models call `lengths.cpu()` for packing)."""
    return [t.to(device) if isinstance(t, torch.Tensor) else t for t in batch]


def count_correct(output: torch.Tensor, labels: torch.Tensor) -> int:
    """Correct predictions: sign of one logit per example, else argmax over classes."""
    if output.dim() == 1 or output.shape[-1] == 1:
        predictions = (output.reshape(-1) > 0).long()
    else:
        predictions = output.argmax(dim=-1)
    return int((predictions == labels.reshape(-1).long()).sum())


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
) -> dict[str, float]:
    """One pass over `loader`: trains when an optimizer is given, else evaluates.

    Returns example-weighted `loss` and `acc`, the number of examples `n`, and `seconds`.
    """
    training = optimizer is not None
    model.train(training)
    total_loss, correct, n = 0.0, 0, 0
    with Timer() as timer, torch.set_grad_enabled(training):
        # A slow refresh keeps the bar from flooding a notebook kernel's output channel:
        # thousands of widget updates in one cell can make Jupyter (and nbval) drop messages.
        bar = tqdm(loader, desc=desc, disable=not progress, leave=False, mininterval=5.0)
        for batch in bar:
            *inputs, labels = to_device(batch, device)
            output = model(*inputs)
            output, target = _loss_target(output, labels)
            loss = loss_fn(output, target)
            if training:
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            size = len(labels)
            total_loss += loss.item() * size
            correct += count_correct(output.detach(), labels)
            n += size
    if n == 0:
        raise ValueError("the loader yielded no examples")
    return {"loss": total_loss / n, "acc": correct / n, "n": n, "seconds": timer.seconds}


def train_epoch(model, loader, loss_fn, optimizer, device="cpu", clip=None, progress=False):
    """Train for one epoch; see `run_epoch`. Denormals count as zero (`utils.flush_denormal`)."""
    with flush_denormal():
        return run_epoch(model, loader, loss_fn, optimizer, device, clip, progress, desc="train")


def evaluate(model, loader, loss_fn, device="cpu", progress=False):
    """Evaluate without gradients; see `run_epoch`."""
    return run_epoch(model, loader, loss_fn, None, device, None, progress, desc="eval")


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
) -> list[dict[str, float]]:
    """Train for up to `epochs`, keep the best weights by `monitor`, and return the history.

    `monitor` is 'val_loss' (lower is better) or 'val_acc' (higher is better). Training
    stops early after `patience` epochs without improvement. At the end the model holds
    the best epoch's weights; each history row has train/val loss and acc and seconds.
    """
    if monitor not in ("val_loss", "val_acc"):
        raise ValueError(f"monitor must be 'val_loss' or 'val_acc', not {monitor!r}")
    sign = -1.0 if monitor == "val_acc" else 1.0
    best, best_state, since_best = math.inf, None, 0
    history = []
    for epoch in range(1, epochs + 1):
        train = train_epoch(model, train_loader, loss_fn, optimizer, device, clip, progress)
        val = evaluate(model, val_loader, loss_fn, device, progress)
        row = {
            "epoch": epoch,
            "train_loss": train["loss"],
            "train_acc": train["acc"],
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "seconds": train["seconds"] + val["seconds"],
        }
        improved = sign * row[monitor] < best
        row["best"] = improved
        history.append(row)
        if verbose:
            print(
                f"epoch {epoch:2d}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
                f"  val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}"
                f"  {row['seconds']:.1f} s{'  *' if improved else ''}"
            )
        if improved:
            best, best_state, since_best = sign * row[monitor], copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if patience is not None and since_best >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# ---------------------------------------------------------------- checkpoints

_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, where: str = "config") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} keys must be strings, got {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise TypeError(
            f"{where} holds a {type(value).__name__}; a checkpoint config takes plain values"
        )


def save_checkpoint(path: str | Path, model: nn.Module, vocab: Vocab | None, config: dict) -> Path:
    """Save model weights, the vocab's tokens and a plain config dict in one file, atomically.

    The file loads with `torch.load(..., weights_only=True)`: no pickled code.
    """
    _check_plain(config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {
        "format": "nlpbook-checkpoint-1",
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "vocab": list(vocab.itos) if vocab is not None else None,
        "config": dict(config),
    }
    tmp = path.with_name(path.name + ".part")
    torch.save(bundle, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict, Vocab | None, dict]:
    """Load a checkpoint saved by `save_checkpoint`: (model_state, vocab, config).

    The archive's CRCs are checked first (`torch.load` does not check them), so damaged
    bytes are an error rather than silently wrong weights; then the bundle's structure.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    _check_archive(path)
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a crafted archive fails inside torch in many ways (EOFError, ...)
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(
            f"{path} is damaged or not an nlpbook checkpoint ({type(e).__name__}: {reason})"
        ) from None
    return _unpack(bundle, path)


def _check_archive(path: Path) -> None:
    """Raise ValueError unless `path` is a zip archive whose every member passes its CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(
            f"{path} is damaged (truncated or not a checkpoint archive: {e}); save it again"
        ) from None
    if bad is not None:
        raise ValueError(f"{path} is damaged: {bad} fails its CRC check; save it again")


def _unpack(bundle: object, path: Path) -> tuple[dict, Vocab | None, dict]:
    """Check a loaded bundle's structure and return (model_state, vocab, config)."""
    if not isinstance(bundle, dict) or bundle.get("format") != "nlpbook-checkpoint-1":
        raise ValueError(f"{path} is not an nlpbook checkpoint")
    state, tokens, config = (bundle.get(k) for k in ("model_state", "vocab", "config"))
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: model_state must map parameter names to tensors")
    if tokens is not None and not (
        isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)
    ):
        raise ValueError(f"{path}: vocab must be a list of token strings")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config must be a dict, not {type(config).__name__}")
    try:
        vocab = Vocab(tokens) if tokens is not None else None
    except ValueError as e:
        raise ValueError(f"{path}: vocab is not valid: {e}") from None
    return state, vocab, config


def _state_problems(own: dict, state: dict) -> list[str]:
    """What keeps `state` from loading into a model whose state_dict is `own`."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if mismatched:
        problems.append("shape mismatch " + "; ".join(mismatched))
    return problems


def _raise_mismatch(problems: list[str]) -> None:
    raise ValueError(
        "the checkpoint does not match this model (was it built with the same config?): "
        + ", ".join(problems)
    )


def load_state(model: nn.Module, state: dict) -> nn.Module:
    """Load weights into `model`, with a clear error when they do not match its shape."""
    problems = _state_problems(model.state_dict(), state)
    if problems:
        _raise_mismatch(problems)
    model.load_state_dict(state)
    return model


def restore(build: Callable[[dict], nn.Module], state: dict, config: dict) -> nn.Module:
    """`build(config)` with `state` loaded, its shapes checked before any memory is allocated.

    The model is first built on PyTorch's meta device (shapes only, no storage), so a config
    that does not match the weights (say a crafted `vocab_size` of 2e9) is a clear error
    instead of a huge allocation.
    """
    with torch.device("meta"):
        skeleton = build(config)
    problems = _state_problems(skeleton.state_dict(), state)
    if problems:
        _raise_mismatch(problems)
    return load_state(build(config), state)
