"""Chapter 02's Amazon-review preparation: load, clean, tokenise, build a vocabulary, left-pad
or truncate to a fixed length, and split into train / validation / test tensors.

Cleaning follows the article the chapter ports: lowercase, every digit -> 0, URLs -> <url>,
then NLTK's Treebank word tokenizer, one sentence at a time (sentences are cut by a rule, so
no download is needed). Truncation keeps the *end* of a long review by default, where the
verdict usually is, and left padding puts that end at the last time step.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from nlpbook import data, datasets, text, tokenizers, utils

URL = "<url>"
_URL = re.compile(r"(?:https?://|www\.)\S+|[^\s:]+\.(?:com|net|org)\b\S*")
_DIGIT = re.compile(r"\d")
# A sentence ends after . ! or ? followed by a space, a colon (the title: text separator),
# a closing bracket, a quote or an asterisk. Not punkt, but it needs no download.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?=[\s:)\"*])")


def load_quick_reviews(limit: int = 6000) -> list[tuple[str, int]]:
    """The quick profile's reviews: the first `limit` of the mirror's test.ft.txt sample,
    else (no mirror) the first `limit` rows of the canonical test.csv. Chapter 02."""
    try:
        path = data.fetch("amazon_polarity_sample", download_ok=False)
    except data.DataError:
        path = data.fetch("amazon_polarity", need=["test.csv"]) / "test.csv"
    return datasets.read_amazon_polarity(path, limit=limit)


def load_full_reviews(split: str, limit: int | None = None) -> list[tuple[str, int]]:
    """The full profile's reviews: Zhang et al.'s train.csv or test.csv. Chapter 02."""
    if split not in ("train", "test"):
        raise ValueError(f"Amazon polarity has no split {split!r}; choose train or test")
    folder = data.fetch("amazon_polarity", need=[f"{split}.csv"])
    return datasets.read_amazon_polarity(folder / f"{split}.csv", limit=limit)


def normalize_review(review: str) -> str:
    """Lowercase, URLs -> <url>, digits -> 0 (the article's cleaning). Chapter 02."""
    review = _URL.sub(f" {URL} ", review.lower())
    return _DIGIT.sub("0", review)


def cut_sentences(cleaned: str) -> list[str]:
    """Cut text after . ! or ? that ends a sentence (see `_SENTENCE_END`); no download. Chapter 02."""
    return _SENTENCE_END.split(cleaned)


def tokenize_review(review: str) -> list[str]:
    """Clean a review, cut it into sentences and split each with NLTK's word tokenizer. Chapter 02.

    `NLTKWordTokenizer` splits off a period only at the very end of its input (it expects one
    sentence; `word_tokenize` would first split sentences with the punkt download), so we
    give it one sentence at a time. <url> is kept whole.
    """
    tokens: list[str] = []
    for k, piece in enumerate(normalize_review(review).split(URL)):
        if k > 0:
            tokens.append(URL)
        for sentence in cut_sentences(piece):
            tokens.extend(tokenizers.nltk_tokenize(sentence))
    return tokens


def pad_left(
    ids: Sequence[int], seq_len: int, pad_index: int = 0, keep: str = "last"
) -> torch.Tensor:
    """Truncate to `seq_len` ids, keeping the `keep`='last' ones or the 'first'
    (`text.truncate`), and left-pad shorter ones: (seq_len,) int64. Chapter 02."""
    utils.whole_number(seq_len, "seq_len")
    ids = text.truncate(ids, seq_len, keep)
    return torch.tensor([pad_index] * (seq_len - len(ids)) + ids, dtype=torch.long)


def encode_padded(
    token_lists: Sequence[Sequence[str]], vocab: text.Vocab, seq_len: int, keep: str = "last"
) -> torch.Tensor:
    """Token lists -> (N, seq_len) ids, each left-padded or truncated (see `pad_left`). Chapter 02."""
    rows = [pad_left(vocab.lookup_indices(t), seq_len, vocab.pad_index, keep) for t in token_lists]
    return torch.stack(rows) if rows else torch.empty(0, seq_len, dtype=torch.long)


@dataclass
class ReviewData:
    """Prepared reviews: the vocabulary, the three splits, and each split's token lists.

    Chapter 02.
    """

    vocab: text.Vocab
    seq_len: int
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    tokens: dict[str, list[list[str]]]


def split_indices(n: int, fractions: Sequence[float], seed: int = 0) -> list[list[int]]:
    """Shuffle range(n) with `seed` and cut it by `fractions` (which must sum to 1). Chapter 02."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    bounds = [0]
    for f in fractions:
        bounds.append(bounds[-1] + round(f * n))
    bounds[-1] = n
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _interned_tokens(review: str) -> list[str]:
    # Each token string stored once however often it occurs: measured on 6,000 reviews, the
    # token lists take 1.8 kB a review instead of 13.5 kB, i.e. 2.5 GB instead of 19 GB for
    # the full profile's 1.4M reviews, whose token lists ReviewData keeps.
    return [sys.intern(t) for t in tokenize_review(review)]


def prepare_reviews(
    reviews: Sequence[tuple[str, int]],
    seq_len: int = 200,
    min_freq: int = 2,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    test_reviews: Sequence[tuple[str, int]] | None = None,
    keep: str = "last",
) -> ReviewData:
    """Tokenise, split (train/val/test by `fractions`, or train/val plus `test_reviews`),
    build the vocabulary from the training split only (words seen `min_freq` times) and
    encode every split as (ids (N, seq_len), labels (N,) float), truncating as `keep` says.
    Chapter 02."""
    if not reviews:
        raise ValueError("no reviews to prepare")
    tokens = [_interned_tokens(r) for r, _ in reviews]
    labels = [float(y) for _, y in reviews]
    if test_reviews is not None:
        if len(fractions) != 2:
            raise ValueError("with test_reviews, fractions are (train, val)")
        parts = split_indices(len(reviews), fractions, seed)
        parts.append(list(range(len(reviews), len(reviews) + len(test_reviews))))
        tokens += [_interned_tokens(r) for r, _ in test_reviews]
        labels += [float(y) for _, y in test_reviews]
    else:
        if len(fractions) != 3:
            raise ValueError("fractions are (train, val, test)")
        parts = split_indices(len(reviews), fractions, seed)
    names = ("train", "val", "test")
    split_tokens = {
        name: [tokens[i] for i in part] for name, part in zip(names, parts, strict=True)
    }
    vocab = text.Vocab.build(split_tokens["train"], min_freq=min_freq, specials=[URL])
    tensors = {
        name: TensorDataset(
            encode_padded(split_tokens[name], vocab, seq_len, keep),
            torch.tensor([labels[i] for i in part]),
        )
        for name, part in zip(names, parts, strict=True)
    }
    return ReviewData(
        vocab, seq_len, tensors["train"], tensors["val"], tensors["test"], split_tokens
    )


def length_coverage(token_lists: Sequence[Sequence[str]], seq_len: int) -> float:
    """The share of reviews that fit in `seq_len` tokens without truncation. Chapter 02."""
    if not token_lists:
        return 0.0
    return sum(len(t) <= seq_len for t in token_lists) / len(token_lists)
