"""Forward + backward throughput of three 2-layer bidirectional LSTMs on the same batch:

- packed: nn.LSTM on a PackedSequence (exact; what the chapters used to run);
- exact:  nlpbook.rnn.BiLSTM on the padded tensor with lengths (exact, fused kernel);
- padded: nn.LSTM on the padded tensor (fused kernel, but WRONG at padding: the backward
          direction starts in the padding, and states run on past each sequence's end).

    python benchmarks/bench_rnn.py                      # the full table, 1 and 2 threads
    python benchmarks/bench_rnn.py --steps 128 --threads 1 --hidden 64

Lengths are drawn uniformly from 50-100% of T; B = 64, E = 50. Tokens/s counts real tokens
(the sum of lengths). The ratios exact/packed and exact/padded are what to read: seconds
depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import rnn


def make_batch(batch: int, steps: int, features: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, features, generator=gen)
    lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=gen)
    lengths[0] = steps  # the padded length is the longest sequence's
    return x, lengths


def step_packed(lstm, x, lengths):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    out.sum().backward()


def step_exact(layer, x, lengths):
    out, _ = layer(x, lengths)
    out.sum().backward()


def step_padded(lstm, x, lengths):
    out, _ = lstm(x)
    out.sum().backward()


def seconds_per_step(fn, model, x, lengths, repeats: int) -> float:
    fn(model, x, lengths)  # warm-up: oneDNN primitives, allocator
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(model, x, lengths)
        best = min(best, time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return best


def measure(steps: int, hidden: int, batch: int, features: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    lstm = nn.LSTM(features, hidden, num_layers=2, bidirectional=True, batch_first=True)
    exact = rnn.BiLSTM(features, hidden, num_layers=2)
    exact.load_state_dict(lstm.state_dict())
    x, lengths = make_batch(batch, steps, features, seed=steps + hidden)
    tokens = int(lengths.sum())
    runs = {
        "packed": (step_packed, lstm),
        "exact": (step_exact, exact),
        "padded": (step_padded, lstm),
    }
    return {
        name: tokens / seconds_per_step(fn, model, x, lengths, repeats)
        for name, (fn, model) in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timed steps")
    args = parser.parse_args()

    print(
        f"2-layer BiLSTM, B={args.batch}, E={args.features}, lengths 50-100% of T; "
        f"forward + backward, real tokens per second (best of {args.repeats})"
    )
    header = (
        f"{'threads':>7} {'H':>4} {'T':>4} | {'packed':>9} {'exact':>9} "
        f"{'padded*':>9} | {'exact/packed':>12} {'padded/exact':>12}"
    )
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for hidden in args.hidden:
            for steps in args.steps:
                r = measure(steps, hidden, args.batch, args.features, args.repeats)
                print(
                    f"{threads:>7} {hidden:>4} {steps:>4} | {r['packed']:>9,.0f} "
                    f"{r['exact']:>9,.0f} {r['padded']:>9,.0f} | "
                    f"{r['exact'] / r['packed']:>11.1f}x {r['padded'] / r['exact']:>11.2f}x",
                    flush=True,
                )
    print("* padded: nn.LSTM over the padding, fast but wrong at padded positions and final states")


if __name__ == "__main__":
    main()
