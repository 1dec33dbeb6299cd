"""Benchmark (chapter 03): what GloVe initialisation buys the BiLSTM sentiment model.

Trains chapter 03's model twice on the same IMDb reviews for the same epochs, once with its
embedding initialised from GloVe 6B 50d and once from N(0, 1), and prints the validation
accuracy after each epoch and the test accuracy of each. Same seed, same batches.

    python benchmarks/bench_sentiment_glove.py                 # the quick profile's setup, 2 epochs
    python benchmarks/bench_sentiment_glove.py --n-train 5000 --epochs 1   # a faster look
"""

from __future__ import annotations

import argparse
import time

import spacy
import torch
from torch import nn
from torch.utils.data import DataLoader

from nlpbook import batching, datasets, embeddings, text, train, utils
from nlpbook.models import sentiment


def tokenized_split(args):
    """Chapter 03's split: seeded shuffles of the train and test reviews, spaCy tokens."""
    train_all, test_all = datasets.read_imdb("train"), datasets.read_imdb("test")
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(train_all), generator=gen).tolist()
    test_order = torch.randperm(len(test_all), generator=gen).tolist()
    splits = {
        "train": [train_all[i] for i in order[: args.n_train]],
        "val": [train_all[i] for i in order[args.n_train : args.n_train + args.n_val]],
        "test": [test_all[i] for i in test_order[: args.n_test]],
    }
    nlp = spacy.blank("en")

    def tokens(items):
        texts = (" ".join(sentiment.clean_review(r).split()[-args.max_tokens :]) for r, _ in items)
        return [[t.text for t in doc][-args.max_tokens :] for doc in nlp.tokenizer.pipe(texts)]

    return {name: (tokens(items), [y for _, y in items]) for name, items in splits.items()}


def run(init: str, split, vocab, glove, args) -> tuple[list[float], float]:
    generator = utils.set_seed(0)
    data = {
        name: [(vocab.lookup_indices(t), y) for t, y in zip(*split[name], strict=True)]
        for name in split
    }

    def loader(name, shuffle):
        lengths = [len(ids) for ids, _ in data[name]]
        sampler = batching.BucketBatchSampler(lengths, 64, shuffle=shuffle, generator=generator)
        return DataLoader(data[name], batch_sampler=sampler, collate_fn=batching.collate_batch)

    model = sentiment.BiLSTMSentiment(sentiment.BiLSTMSentimentConfig(len(vocab), 50, 64))
    if init == "glove":
        matrix, _ = embeddings.build_embedding_matrix(vocab, glove, generator=generator)
        model.embedding.weight.data.copy_(matrix)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = train.fit(
        model,
        loader("train", True),
        loader("val", False),
        loss_fn,
        optimizer,
        args.epochs,
        clip=args.clip,
        monitor="val_loss",
        progress=False,
        verbose=False,
    )
    test = train.evaluate(model, loader("test", False), loss_fn)
    return [epoch["val_acc"] for epoch in history], test["acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=23_000)
    parser.add_argument("--n-val", type=int, default=2_000)
    parser.add_argument("--n-test", type=int, default=4_000)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0)
    args = parser.parse_args()
    split = tokenized_split(args)
    vocab = text.Vocab.build(split["train"][0], max_size=25_000)
    glove = embeddings.load_glove("6B.50d")
    print(
        f"{args.n_train:,} training reviews (last {args.max_tokens} tokens), {args.epochs} epochs, "
        f"{args.n_test:,} test reviews, Adam lr {args.lr}, clip {args.clip}, "
        f"{torch.get_num_threads()} threads"
    )
    for init in ("glove", "random"):
        start = time.perf_counter()
        val, test = run(init, split, vocab, glove, args)
        print(
            f"{init:6s} init: validation accuracy by epoch {[round(v, 3) for v in val]}, "
            f"test accuracy {test:.3f}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
