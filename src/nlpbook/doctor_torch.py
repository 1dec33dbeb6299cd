"""The doctor's checks of torch: its build, the device the chapters would train on, and a
tiny forward and backward pass through `nlpbook.rnn.BiLSTM` against nn.LSTM (every chapter).
"""

from __future__ import annotations

import os
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import rnn, utils
from nlpbook.doctor_findings import Finding


def check_torch() -> list[Finding]:
    """The torch build, CUDA and MPS, threads, and the device the chapters would pick.

    Every chapter.
    """
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    cuda = (
        f"CUDA: {torch.cuda.device_count()} device(s), {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else "CUDA: not available"
    )
    mps = "MPS: available" if torch.backends.mps.is_available() else "MPS: not available"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    findings = [
        Finding(
            "info",
            f"torch {torch.__version__} ({build}), CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {cuda}, {mps}",
        ),
        Finding(
            "info",
            f"torch threads: {torch.get_num_threads()} (OMP_NUM_THREADS={threads}); "
            f"CPU cores: {os.cpu_count()}",
        ),
    ]
    try:
        device = utils.get_device()
    except (RuntimeError, ValueError) as e:
        return [*findings, Finding("FAIL", f"device: {e}")]
    chosen = os.environ.get("NLPBOOK_DEVICE") or "unset"
    return [
        *findings,
        Finding("ok", f"the chapters would train on {device} (NLPBOOK_DEVICE={chosen})"),
    ]


def check_bilstm() -> list[Finding]:
    """A forward and backward pass through rnn.BiLSTM on each device the chapters may use,
    against nn.LSTM on the packed batch (the same weights): a broken build shows here.
    Every chapter (chapters 02-05 train BiLSTMs)."""
    devices = [torch.device("cpu")]
    try:
        if utils.get_device().type != "cpu":
            devices.append(utils.get_device())
    except (RuntimeError, ValueError):
        pass  # reported by check_torch
    return [_bilstm_step(device) for device in devices]


def _bilstm_step(device: torch.device) -> Finding:
    start = time.perf_counter()
    try:
        difference, finite = _bilstm_difference(device)
    except Exception as e:  # any failure here is what the report is for
        return Finding(
            "FAIL",
            f"BiLSTM forward/backward on {device} failed: "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}",
        )
    seconds = time.perf_counter() - start
    if difference > 1e-4 or not finite:
        return Finding(
            "FAIL",
            f"BiLSTM on {device} differs from nn.LSTM by {difference:.2g} "
            f"(finite gradients: {finite}): this torch build computes wrongly",
        )
    return Finding(
        "ok",
        f"BiLSTM forward/backward on {device}: matches nn.LSTM on the packed "
        f"batch (largest difference {difference:.1g}), finite gradients, {seconds:.2f} s",
    )


def _bilstm_difference(device: torch.device) -> tuple[float, bool]:
    """(largest |BiLSTM - packed nn.LSTM| over outputs and states, whether gradients are finite)."""
    gen = torch.Generator().manual_seed(0)
    layer = rnn.BiLSTM(4, 3).to(device)
    x = torch.randn(3, 5, 4, generator=gen).to(device).requires_grad_()
    lengths = torch.tensor([5, 2, 3])
    out, (h, c) = layer(x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_packed, (ref_h, ref_c) = nn.LSTM.forward(layer, packed)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=True, total_length=5)
    difference = max(
        (a - b).abs().max().item() for a, b in ((out, ref_out), (h, ref_h), (c, ref_c))
    )
    (out.sum() + h.sum() + c.sum()).backward()
    grads = [x.grad, *(p.grad for p in layer.parameters())]
    return difference, all(g is not None and bool(g.isfinite().all()) for g in grads)
