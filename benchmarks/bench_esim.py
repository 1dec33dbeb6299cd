"""Chapter 04 benchmark: ESIM training throughput on CPU, bucketed vs unbucketed batches, and
what padding-exact BiLSTMs cost against plain ones that run over padding, in time and accuracy.

"exact" is `esim.ContextBiLSTM(packed=True)`, i.e. `nlpbook.rnn.BiLSTM`: it gives exactly what an
`nn.LSTM` gives on a packed batch, but on the fused kernel (no PackedSequence is built).
"over padding" is a plain `nn.LSTM` on the padded batch, as the ported notebook ran it.

Each configuration trains ESIM (hidden 100, GloVe 6B 50d fine-tuned, Adam 1e-3, batch 32; the
chapter's quick profile now keeps GloVe fixed and holds out whole premises) for one epoch on the
SNLI dev split minus 1,000 random held-out pairs, from the same initial weights, then evaluates
on the SNLI test split. Prints measured numbers.

First, and alone with --speedups-only: what each change of issue 32 bought, on the same batches.
"before" is the training step as it was: each BiLSTM direction in its own kernel call (with the
reversal gathers), deterministic mode's NaN fill of every new tensor, Adam's per-parameter loop.
Then each change added in turn: no NaN fill (`utils.set_seed`), both directions in one
bidirectional kernel call (`rnn.BiLSTM`), fused Adam (chapter 04's optimizer), both sentences
in one kernel call (`ESIM.one_call`, now the default). Same start,
same batches, alternating the configurations, at each thread count; it prints the median
pairs/s (wall clock and per CPU second) and the median of the pairwise ratios to "before".

Then, and alone with --calls-only: one encoder call for both sentences against two. Premise
and hypothesis share the input encoder and the composition BiLSTM; `ESIM.one_call = True` (the
default) runs each once over both sentences, each row holding a premise, a reset step and its
hypothesis (`rnn.BiLSTM.forward_pair`), `False` once per sentence, each padded to its own
longest. Both train the chapter's quick-profile ESIM (hidden 100, 50-d fixed embeddings,
the exact-match flag, Adam 1e-3, clip 10, batch 32) from the same initial weights over the same
bucketed SNLI dev batches, alternating one/two/one/two..., at each thread count; it prints the
median pairs/s of each and their ratio, and how far the two runs' weights end apart (they
compute the same function: only float rounding differs). The embeddings are random 50-d
vectors held fixed (the speed does not depend on their values), so this part needs SNLI only.
--mode one|two trains one epoch in one mode and exits, for timing whole commands
(farm-bench -- ... --mode one --vs '... --mode two').

    .venv/bin/python benchmarks/bench_esim.py [--threads N] [--epochs 1]
    .venv/bin/python benchmarks/bench_esim.py --speedups-only [--call-threads 1,2] [--repeats 3]
    .venv/bin/python benchmarks/bench_esim.py --calls-only [--call-threads 1,2] [--snli DIR]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from nlpbook import batching, datasets, embeddings, rnn, text, train, utils
from nlpbook.models import esim


def prepare(held_out: int = 1000, snli=None):
    dev, test = datasets.read_snli("dev", snli), datasets.read_snli("test", snli)
    order = torch.randperm(len(dev), generator=torch.Generator().manual_seed(0)).tolist()
    train_tokens = esim.tokenize_pairs([dev[i] for i in order[held_out:]])
    test_tokens = esim.tokenize_pairs(test)
    vocab = text.Vocab.build(s for a, b, _ in train_tokens for s in (a, b))
    matrix, _ = embeddings.build_embedding_matrix(
        vocab, embeddings.load_glove("6B.50d"), generator=torch.Generator().manual_seed(0)
    )
    return esim.encode_tokens(train_tokens, vocab), esim.encode_tokens(test_tokens, vocab), matrix


def loader(examples, bucketed: bool, shuffle: bool, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    if bucketed:
        lengths = [len(a) + len(b) for a, b, _ in examples]
        sampler = batching.BucketBatchSampler(lengths, 32, shuffle=shuffle, generator=generator)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=batching.collate_pairs)
    return DataLoader(
        examples, batch_size=32, shuffle=shuffle, generator=generator,
        collate_fn=batching.collate_pairs,
    )


def padding(data_loader: DataLoader) -> float:
    real = padded = 0
    for a, a_len, b, b_len, _ in data_loader:
        real += int(a_len.sum() + b_len.sum())
        padded += a.numel() + b.numel()
    return 1 - real / padded


def call_batches(snli=None, held_out: int = 1000):
    """The training pairs as the chapter's quick profile batches them (bucketed, 32 a batch,
    shuffled with seed 0), their vocabulary size, without GloVe."""
    dev = datasets.read_snli("dev", snli)
    order = torch.randperm(len(dev), generator=torch.Generator().manual_seed(0)).tolist()
    tokens = esim.tokenize_pairs([dev[i] for i in order[held_out:]])
    vocab = text.Vocab.build(s for a, b, _ in tokens for s in (a, b))
    return list(loader(esim.encode_tokens(tokens, vocab), bucketed=True, shuffle=True)), len(vocab)


def quick_esim(vocab_size: int) -> esim.ESIM:
    """The chapter's quick-profile ESIM, seed 0, with random fixed 50-d embeddings."""
    utils.set_seed(0)
    model = esim.ESIM(esim.ESIMConfig(vocab_size, 50, 100, exact_match=True))
    model.encoding.embedding.weight.requires_grad_(False)
    return model


def train_once(model, start, batches, one_call: bool) -> dict:
    """From the weights `start`, one pass over `batches` with the given call mode."""
    model.load_state_dict(start)
    model.one_call = one_call
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    utils.set_seed(0)
    return train.train_epoch(model, batches, nn.CrossEntropyLoss(), optimizer, clip=10.0)


# (name, both directions in one kernel call, NaN fill of new tensors, fused Adam,
#  both sentences in one kernel call)
STEPS = [
    ("before", False, True, False, False),
    ("+ no NaN fill", False, False, False, False),
    ("+ one call, both directions", True, False, False, False),
    ("+ fused Adam", True, False, True, False),
    ("+ one call, both sentences", True, False, True, True),
]


def train_as(model, start, batches, one_call_both_directions, nan_fill, fused, one_call) -> float:
    """One pass over `batches` from `start` in one configuration of STEPS; its seconds."""
    rnn.BiLSTM.one_call_both_directions = one_call_both_directions
    model.one_call = one_call
    model.load_state_dict(start)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3, fused=fused
    )
    utils.set_seed(0)
    torch.utils.deterministic.fill_uninitialized_memory = nan_fill  # set_seed turned it off
    try:
        result = train.train_epoch(model, batches, nn.CrossEntropyLoss(), optimizer, clip=10.0)
        return result["seconds"]
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = False
        del rnn.BiLSTM.one_call_both_directions  # back to the class default


def compare_steps(batches, vocab_size: int, threads: list[int], repeats: int) -> None:
    """Pairs/s of the training step before issue 32 and after each of its changes."""
    pairs = sum(len(batch[-1]) for batch in batches)
    print(f"ESIM training step, before and after each change: {len(batches)} bucketed batches "
          f"({pairs:,} pairs), {repeats} runs of each, alternating; torch {torch.__version__}")
    model = quick_esim(vocab_size)
    start = copy.deepcopy(model.state_dict())
    print(f"\n{'threads':>7}  {'configuration':<30}{'pairs/s':>9}{'CPU pairs/s':>13}"
          f"{'ratio to before':>17}{'pairwise ratios':>18}")
    for count in threads:
        torch.set_num_threads(count)
        wall = {name: [] for name, *_ in STEPS}
        cpu = {name: [] for name, *_ in STEPS}
        for r in range(repeats):
            for name, *config in (STEPS if r % 2 == 0 else STEPS[::-1]):
                started = time.process_time()
                wall[name].append(pairs / train_as(model, start, batches, *config))
                cpu[name].append(pairs / (time.process_time() - started))
        for name, *_ in STEPS:
            ratios = [x / y for x, y in zip(wall[name], wall["before"], strict=True)]
            print(f"{count:>7}  {name:<30}{statistics.median(wall[name]):>9.1f}"
                  f"{statistics.median(cpu[name]):>13.1f}{statistics.median(ratios):>16.2f}x"
                  f"{min(ratios):>12.2f}-{max(ratios):.2f}", flush=True)


def compare_calls(batches, vocab_size: int, threads: list[int], repeats: int) -> None:
    """One encoder call for both sentences against two: pairs/s on the same batches."""
    pairs = sum(len(batch[-1]) for batch in batches)
    real = sum(int(a_len.sum() + b_len.sum()) for _, a_len, _, b_len, _ in batches)
    # one call: each row is premise, a reset step, hypothesis (rnn.BiLSTM.forward_pair)
    paired = sum(len(a_len) * (int((a_len + b_len).max()) + 1) for _, a_len, _, b_len, _ in batches)
    apart = sum(a.numel() + b.numel() for a, _, b, _, _ in batches)
    print(f"ESIM one encoder call vs two: {len(batches)} bucketed batches ({pairs:,} pairs), "
          f"{repeats} runs of each, alternating; torch {torch.__version__}\n  LSTM steps: "
          f"{paired / apart:.2f} as many in one call as in two; padding (reset steps included) "
          f"{1 - real / apart:.1%} of them in two calls, {1 - real / paired:.1%} in one")
    model = quick_esim(vocab_size)
    start = copy.deepcopy(model.state_dict())
    ends = {}
    for one_call in (True, False):  # same start, same batches: where do the two runs end?
        result = train_once(model, start, batches, one_call)
        ends[one_call] = (result, copy.deepcopy(model.state_dict()))
    apart = max((ends[True][1][k] - ends[False][1][k]).abs().max().item() for k in start)
    losses = max(abs(x - y) for x, y in zip(ends[True][0]["batch_losses"],
                                            ends[False][0]["batch_losses"], strict=True))
    print(f"  after {len(batches)} steps from the same weights: largest weight difference "
          f"{apart:.1e}, largest batch-loss difference {losses:.1e}")
    print("  pairs/s: wall clock, median of the runs; ratio: two calls' time / one call's, the "
          "median of each pair of runs;\n  CPU: pairs per CPU second of this process (on a shared "
          "machine, with one thread, steadier than the wall clock)")
    print(f"\n{'threads':>7}{'one call pairs/s':>18}{'two calls pairs/s':>19}{'ratio':>8}"
          f"{'pairwise ratios':>18}{'one CPU':>9}{'two CPU':>9}{'CPU ratio':>11}")
    for count in threads:
        torch.set_num_threads(count)
        rates = {True: [], False: []}
        cpu = {True: [], False: []}
        ratios = []
        for r in range(repeats):
            order = (True, False) if r % 2 == 0 else (False, True)
            seconds = {}
            for m in order:
                started = time.process_time()
                seconds[m] = train_once(model, start, batches, m)["seconds"]
                cpu[m].append(pairs / (time.process_time() - started))
                rates[m].append(pairs / seconds[m])
            ratios.append(seconds[False] / seconds[True])
        one, two = statistics.median(rates[True]), statistics.median(rates[False])
        one_cpu, two_cpu = statistics.median(cpu[True]), statistics.median(cpu[False])
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{count:>7}{one:>18.1f}{two:>19.1f}{statistics.median(ratios):>7.2f}x"
              f"{spread:>18}{one_cpu:>9.1f}{two_cpu:>9.1f}{one_cpu / two_cpu:>10.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--snli", help="the snli_1.0 folder (default: through the registry)")
    parser.add_argument("--calls-only", action="store_true", help="only one call vs two")
    parser.add_argument("--speedups-only", action="store_true", help="only before vs after")
    parser.add_argument("--call-threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--call-batches", type=int, default=60, help="batches a run (0: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode a thread count")
    parser.add_argument("--mode", choices=["one", "two"], help="train one epoch in this mode, exit")
    args = parser.parse_args()
    batches, vocab_size = call_batches(args.snli)
    if args.call_batches:
        batches = batches[: args.call_batches]
    if args.mode:
        torch.set_num_threads(args.threads)
        model = quick_esim(vocab_size)
        result = train_once(model, model.state_dict(), batches, args.mode == "one")
        print(f"{args.mode}: {result['n'] / result['seconds']:.1f} pairs/s, "
              f"{torch.get_num_threads()} thread(s)")
        return
    threads = [int(t) for t in args.call_threads.split(",")]
    if not args.calls_only:
        compare_steps(batches, vocab_size, threads, args.repeats)
        if args.speedups_only:
            return
        print()
    compare_calls(batches, vocab_size, threads, args.repeats)
    if args.calls_only:
        return
    print()
    torch.set_num_threads(args.threads)
    train_ids, test_ids, matrix = prepare(snli=args.snli)
    print(f"ESIM quick profile: {len(train_ids):,} training pairs, {len(test_ids):,} test pairs, "
          f"{args.epochs} epoch(s), {torch.get_num_threads()} CPU thread(s), torch {torch.__version__}")
    loss_fn = nn.CrossEntropyLoss()
    rows = []
    for packed, bucketed in [(True, True), (True, False), (False, True), (False, False)]:
        utils.set_seed(0)
        model = esim.ESIM(esim.ESIMConfig(len(matrix), 50, 100, packed=packed))
        with torch.no_grad():
            model.encoding.embedding.weight.copy_(matrix)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_loader = loader(train_ids, bucketed, shuffle=True)
        seconds = 0.0
        for _ in range(args.epochs):
            result = train.train_epoch(model, train_loader, loss_fn, optimizer, clip=10.0)
            seconds += result["seconds"]
        test = train.evaluate(model, loader(test_ids, bucketed, shuffle=False), loss_fn)
        rows.append((packed, bucketed, padding(train_loader), len(train_ids) * args.epochs / seconds,
                     seconds, test["acc"], len(test_ids) / test["seconds"]))
        print(f"  done: {'exact' if packed else 'over padding'}, bucketed={bucketed}", flush=True)
    print(f"\n{'LSTM input':<14}{'batches':<11}{'padding':>8}{'train pairs/s':>15}{'train time':>12}"
          f"{'test acc':>10}{'eval pairs/s':>14}")
    for packed, bucketed, pad, rate, seconds, acc, eval_rate in rows:
        print(f"{'exact' if packed else 'over padding':<14}{'bucketed' if bucketed else 'random':<11}"
              f"{pad:>8.1%}{rate:>15.1f}{seconds:>10.1f} s{acc:>10.4f}{eval_rate:>14.1f}")


if __name__ == "__main__":
    main()
