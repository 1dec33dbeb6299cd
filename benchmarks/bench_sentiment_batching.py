"""Benchmark (chapter 03): training throughput of the BiLSTM sentiment model with bucketed
batches versus random batches, both on the padding-exact `rnn.BiLSTM`, and random batches run
by a plain `nn.LSTM` over the padding (the same weights; fast, but it reads the padding).

Same IMDb training reviews, same number of examples, same model size, one run each,
in one process. Prints real tokens/s for each, the padding fraction of each batching, and
the measured ratios. Run: python benchmarks/bench_sentiment_batching.py [--n 1280]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from nlpbook import batching, datasets, text, tokenizers, utils
from nlpbook.models import sentiment


def forward_padded(model: sentiment.BiLSTMSentiment, ids: torch.Tensor) -> torch.Tensor:
    """The same model run over the padded batch as it is (padding read as input)."""
    embedded = model.dropout(model.embedding(ids))  # (B, T, E)
    # rnn.BiLSTM is an nn.LSTM: its parent's forward runs the same weights over the padding
    _, (hidden, _) = nn.LSTM.forward(model.rnn, embedded)  # (L * 2, B, H)
    return model.fc(model.dropout(torch.cat([hidden[-2], hidden[-1]], dim=1))).squeeze(-1)


def train_once(model, batches, data, exact: bool) -> tuple[float, int]:
    """One pass of training steps over `batches`; returns (seconds, real tokens)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    start = time.perf_counter()
    with utils.flush_denormal():  # as train.fit trains
        tokens = _steps(model, batches, data, exact, optimizer, loss_fn)
    return time.perf_counter() - start, tokens


def _steps(model, batches, data, exact, optimizer, loss_fn) -> int:
    tokens = 0
    for batch in batches:
        ids, lengths, labels = batching.collate_batch([data[i] for i in batch])
        logits = model(ids, lengths) if exact else forward_padded(model, ids)
        loss = loss_fn(logits, labels.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tokens += int(lengths.sum())
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1280, help="training reviews (examples)")
    parser.add_argument("--max-tokens", type=int, default=0, help="keep the last N (0: all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=64)
    args = parser.parse_args()
    utils.set_seed(0)
    reviews = datasets.read_imdb("train")
    order = torch.randperm(len(reviews), generator=torch.Generator().manual_seed(0))
    items = [reviews[i] for i in order[: args.n].tolist()]
    token_lists = [tokenizers.basic_tokenize(sentiment.clean_review(r)) for r, _ in items]
    vocab = text.Vocab.build(token_lists, max_size=25_000)
    max_tokens = args.max_tokens or None
    data = [
        (sentiment.encode_review(t, vocab, max_tokens), y)
        for t, (_, y) in zip(token_lists, items, strict=True)
    ]
    lengths = [len(ids) for ids, _ in data]

    gen = torch.Generator().manual_seed(1)
    bucketed = list(batching.BucketBatchSampler(lengths, args.batch_size, generator=gen))
    random_batches = [
        b.tolist() for b in torch.randperm(len(data), generator=gen).split(args.batch_size)
    ]
    pad_bucketed = batching.padding_fraction(bucketed, lengths)
    pad_random = batching.padding_fraction(random_batches, lengths)

    runs = [
        ("bucketed+exact", bucketed, True, pad_bucketed),
        ("random+exact", random_batches, True, pad_random),
        ("random+padded", random_batches, False, pad_random),
    ]
    results = {}
    for name, batches, exact, _ in runs:
        torch.manual_seed(0)
        model = sentiment.BiLSTMSentiment(sentiment.BiLSTMSentimentConfig(len(vocab), 50, args.hidden_size))
        results[name] = train_once(model, batches, data, exact)

    print(
        f"{args.n:,} IMDb training reviews, {sum(lengths):,} tokens, max_tokens={max_tokens}, "
        f"batch {args.batch_size}, hidden {args.hidden_size}, {torch.get_num_threads()} threads"
    )
    rate = {}
    for name, _, _, pad in runs:
        seconds, tokens = results[name]
        rate[name] = tokens / seconds
        print(f"{name:16s} {seconds:7.1f} s  {rate[name]:9,.0f} tokens/s  padding {pad:.1%}")
    print(
        f"bucketing: bucketed+exact / random+exact tokens/s: "
        f"{rate['bucketed+exact'] / rate['random+exact']:.2f}x"
    )
    print(
        f"bucketed+exact / random+padded (reads padding) tokens/s: "
        f"{rate['bucketed+exact'] / rate['random+padded']:.2f}x"
    )
    print(f"ratio padding fraction random / bucketed: {pad_random / max(pad_bucketed, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
