"""Collating variable-length sequences and batching them by length (replacing BucketIterator).

Why bucket? A batch is padded to its longest sequence. Random batches mix short and
long reviews, so most of a batch can be padding; batches of similar lengths waste little:

    random batch              bucketed batch
    [w w w w w w w w]         [w w w w w w w .]
    [w w . . . . . .]         [w w w w w w . .]
    [w w w w . . . .]         [w w w w w w w w]      . = padding

Introduced in chapter 03; used by chapters 04 and 05. `pad_batch` is the one padding step;
the collate functions shape its result for each chapter's batches.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Sampler

from nlpbook import utils


def pad_batch(
    sequences: Sequence[Sequence[int] | torch.Tensor], pad_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into (B, T) int64 ids and (B,) int64 CPU lengths. Chapters 03-05."""
    _check_not_empty(sequences)
    if any(len(s) == 0 for s in sequences):
        raise ValueError("cannot batch an empty sequence (length 0); drop or fill it first")
    tensors = [_as_ids(s) for s in sequences]
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    return pad_sequence(tensors, batch_first=True, padding_value=pad_index), lengths


def _check_not_empty(batch: Sequence) -> None:
    if len(batch) == 0:
        raise ValueError("cannot collate an empty batch (no examples); give at least one")


def _as_ids(sequence: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """`sequence` as int64 ids; floats (or bools) are refused, not silently truncated."""
    ids = torch.as_tensor(sequence)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"token ids must be integers, not {ids.dtype}: {reprlib.repr(sequence)}")
    return ids.long()


def collate_batch(batch: Sequence[tuple[Sequence[int], int | float]], pad_index: int = 0):
    """(ids, label) examples -> (ids (B, T), lengths (B,) on CPU, labels (B,)). Chapter 03."""
    _check_not_empty(batch)
    sequences, labels = zip(*batch, strict=True)
    ids, lengths = pad_batch(sequences, pad_index)
    return ids, lengths, torch.tensor(labels)


def collate_targets(batch: Sequence[Sequence[int]], pad_index: int = 0):
    """Id sequences that are their own targets -> (ids (B, T), lengths (B,) on CPU, ids).

    For `train.fit`, whose batches end with the labels: chapter 05 predicts every word of a
    sentence from its neighbours."""
    ids, lengths = pad_batch(batch, pad_index)
    return ids, lengths, ids


def collate_pairs(batch: Sequence[tuple[Sequence[int], Sequence[int], int]], pad_index: int = 0):
    """(ids_a, ids_b, label) examples -> (a, a_lengths, b, b_lengths, labels). Chapter 04."""
    _check_not_empty(batch)
    seq_a, seq_b, labels = zip(*batch, strict=True)
    a, a_lengths = pad_batch(seq_a, pad_index)
    b, b_lengths = pad_batch(seq_b, pad_index)
    return a, a_lengths, b, b_lengths, torch.tensor(labels)


class BucketBatchSampler(Sampler[list[int]]):
    """Yield batches of indices whose sequences have similar lengths. Chapters 03-05.

    Indices are shuffled (with `generator`), cut into pools of `batch_size * pool_factor`,
    each pool sorted by length and cut into batches, and the batches shuffled again, so
    every epoch sees different batches that still carry little padding. With
    `shuffle=False` the batches follow sorted length order (for evaluation).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        pool_factor: int = 50,
        drop_last: bool = False,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("pool_factor", pool_factor)):
            # pool_factor 0 would give pools of size 0 (an error deep inside), -1 no batches
            utils.whole_number(value, name)
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.pool_size = batch_size * pool_factor
        self.drop_last = drop_last

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.argsort(self.lengths, stable=True)
            return self._cut(order.tolist())
        order = torch.randperm(n, generator=self.generator)
        batches = []
        for start in range(0, n, self.pool_size):
            pool = order[start : start + self.pool_size]
            pool = pool[torch.argsort(self.lengths[pool], stable=True)]
            batches.extend(self._cut(pool.tolist()))
        perm = torch.randperm(len(batches), generator=self.generator).tolist()
        return [batches[i] for i in perm]

    def _cut(self, indices: list[int]) -> list[list[int]]:
        batches = [
            indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)
        ]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """The share of positions that are padding when each batch is padded to its longest member.

    Chapters 03-04.
    """
    lengths = torch.as_tensor(lengths)
    real = padded = 0
    for batch in batches:
        batch_lengths = lengths[torch.as_tensor(batch, dtype=torch.long)]
        real += int(batch_lengths.sum())
        padded += int(batch_lengths.max()) * len(batch)
    return 1.0 - real / padded if padded else 0.0
