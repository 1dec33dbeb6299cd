"""Chapter 04 benchmark: ESIM training throughput on CPU, bucketed vs unbucketed batches, and
what padding-exact BiLSTMs cost against plain ones that run over padding, in time and accuracy.

"exact" is `esim.ContextBiLSTM(packed=True)`, i.e. `nlpbook.rnn.BiLSTM`: it gives exactly what an
`nn.LSTM` gives on a packed batch, but on the fused kernel (no PackedSequence is built).
"over padding" is a plain `nn.LSTM` on the padded batch, as the ported notebook ran it.

Each configuration trains ESIM (hidden 100, GloVe 6B 50d fine-tuned, Adam 1e-3, batch 32; the
chapter's quick profile now keeps GloVe fixed and holds out whole premises) for one epoch on the
SNLI dev split minus 1,000 random held-out pairs, from the same initial weights, then evaluates
on the SNLI test split. Prints measured numbers.

    .venv/bin/python benchmarks/bench_esim.py [--threads N] [--epochs 1]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

from nlpbook import batching, datasets, embeddings, text, train, utils
from nlpbook.models import esim


def prepare(held_out: int = 1000):
    dev, test = datasets.read_snli("dev"), datasets.read_snli("test")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_ids, test_ids, matrix = prepare()
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
