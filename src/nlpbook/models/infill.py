"""Chapter 05: fill in a missing word with a bidirectional LSTM.

The model reads a sentence (`nlpbook.corpus`: tokenised, between <beg> and <end>) with a
BiLSTM and, for each position t, joins the forward state of t-1 with the backward state of
t+1, so it never sees the word it predicts. Two heads: binary word codes (trained with BCE,
decoded by the codes' likelihood plus a word-frequency prior, or by nearest code) or a
softmax over the vocabulary (cross-entropy). `Objective` gives `train.fit` the masked loss
and the top-1 score over target words. Filling the blank of a typed sentence is in
`nlpbook.models.blank_filling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nlpbook import rnn, utils
from nlpbook.corpus import FIRST_WORD, target_mask

HEADS = ("binary", "softmax")


def check_head(head: str, codes: torch.Tensor | None) -> None:
    """Refuse an unknown head, and the binary head without its word codes. Chapter 05."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    if head == "binary" and codes is None:
        raise ValueError(
            "the binary head needs its word codes (codes=...): the (V, D) 0/1 matrix the "
            "model was trained with, e.g. corpus.word2vec_codes(...)"
        )


def shift_context(output: torch.Tensor) -> torch.Tensor:
    """(B, T, 2H) BiLSTM output -> (B, T, 2H): [forward at t-1; backward at t+1], zeros at
    the ends. Chapter 05."""
    hidden = output.shape[-1] // 2
    forward, backward = output[..., :hidden], output[..., hidden:]  # (B, T, H) each
    forward = F.pad(forward, (0, 0, 1, 0))[:, :-1]  # position t gets forward state t-1
    backward = F.pad(backward, (0, 0, 0, 1))[:, 1:]  # position t gets backward state t+1
    return torch.cat([forward, backward], dim=-1)


@dataclass
class InfillConfig:
    """The sizes of an `InfillModel`; `asdict` of it goes into a checkpoint. Chapter 05."""

    vocab_size: int
    out_features: int  # bits per code (binary head) or vocab_size (softmax head)
    embedding_dim: int = 64
    hidden_size: int = 128
    mlp_size: int = 128
    dropout: float = 0.2


class InfillModel(nn.Module):
    """Embedding -> BiLSTM that skips padding (`rnn.BiLSTM`) -> shifted context -> MLP ->
    `out_features` per position. Chapter 05."""

    config_class = InfillConfig

    def __init__(self, config: InfillConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
        self.lstm = rnn.BiLSTM(c.embedding_dim, c.hidden_size)
        self.mlp = nn.Sequential(
            nn.Dropout(c.dropout),
            nn.Linear(2 * c.hidden_size, c.mlp_size),
            nn.ReLU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.mlp_size, c.out_features),
        )

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(ids)  # (B, T, E)
        output, _ = self.lstm(embedded, lengths)  # (B, T, 2H), zeros at padding
        return self.mlp(shift_context(output))  # (B, T, out_features)


def infill_loss(
    output: torch.Tensor, ids: torch.Tensor, head: str, codes: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss over target positions only (pad, unk, <beg>, <end> masked out). Chapter 05."""
    mask = target_mask(ids)  # (B, T)
    if head == "softmax":
        return F.cross_entropy(output[mask], ids[mask])
    if head == "binary":
        bits = codes[ids]  # (B, T, D)
        loss = F.binary_cross_entropy_with_logits(output, bits, reduction="none")  # (B, T, D)
        return (loss * mask.unsqueeze(-1)).sum() / (mask.sum() * bits.shape[-1]).clamp(min=1)
    raise ValueError(f"head must be one of {HEADS}, not {head!r}")


class Objective:
    """What `train.fit` needs for one head: `loss(output, ids)`, the masked loss, and
    `score(output, ids)`, (top-1 correct, target words) with the binary head decoded by
    likelihood (ties go to the lower id, as in `rank_of_target`). Chapter 05."""

    def __init__(self, head: str, codes: torch.Tensor | None = None) -> None:
        check_head(head, codes)
        self.head, self.codes = head, codes

    def _codes(self, output: torch.Tensor) -> torch.Tensor | None:
        return None if self.codes is None else self.codes.to(output.device)

    def loss(self, output: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return infill_loss(output, ids, self.head, self._codes(output))

    def score(self, output: torch.Tensor, ids: torch.Tensor) -> tuple[int, int]:
        mask = target_mask(ids)
        scores = word_scores(output[mask], self.head, self._codes(output))  # (N, V)
        return int((scores.argmax(1) == ids[mask]).sum()), int(mask.sum())


METRICS = ("likelihood", "hamming", "euclidean")


def word_scores(
    output: torch.Tensor,
    head: str,
    codes: torch.Tensor | None = None,
    metric: str = "likelihood",
    log_prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, C) head outputs -> (N, V) scores, higher is better; specials get -inf. Chapter 05.

    softmax: log-probabilities. binary: the log-likelihood of each word's code under the
    predicted bit probabilities (likelihood), or minus the distance from the bits thresholded
    at 0.5 (hamming: the article's rule) or from the probabilities themselves (euclidean) to
    each word's code. A (V,) `log_prior` (e.g. alpha * log P(w)) is added to binary scores.
    The result holds N x V scores: for many rows, `target_ranks` decodes in chunks.
    """
    check_head(head, codes)
    if head == "softmax":
        scores = torch.log_softmax(output, dim=-1)
    else:
        codes = codes.to(output.device)  # a no-op when they already share the device
        probs = torch.sigmoid(output)  # (N, D)
        if metric == "hamming":
            probs = (probs > 0.5).float()
            scores = -torch.cdist(probs, codes, p=1)
        elif metric == "euclidean":
            scores = -torch.cdist(probs, codes)
        elif metric == "likelihood":  # log P(code | bit probabilities), bits independent
            logp, log1mp = F.logsigmoid(output), F.logsigmoid(-output)  # (N, D)
            scores = codes @ logp.T + (1 - codes) @ log1mp.T  # (V, N)
            scores = scores.T
        else:
            raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
        if log_prior is not None:
            scores = scores + log_prior.to(scores.device)
    scores = scores.clone()
    scores[:, :FIRST_WORD] = -torch.inf
    return scores  # (N, V)


def rank_of_target(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target among the words (ties go to the lower, more frequent id).

    Chapter 05.
    """
    target_scores = scores.gather(1, targets.unsqueeze(1))  # (N, 1)
    ids = torch.arange(scores.shape[1], device=scores.device)  # on the scores' device (CUDA too)
    better = (scores > target_scores) | ((scores == target_scores) & (ids < targets.unsqueeze(1)))
    return better.sum(dim=1)


# target_ranks scores at most about this many (row, word) pairs at once: 128 MB of float32,
# about 0.6 GB at peak with the temporaries (measured on a CPU with 20k words). Chapter 05's
# full profile (150k targets x 20k words) would otherwise build 12 GB score matrices, 40-60
# GB at peak.
DECODE_CHUNK = 2**25
# Chunks hold a multiple of this many rows, and the last one takes the remainder: BLAS
# kernels work on blocks of 4-64 rows and treat a short block differently, so aligned
# chunks give the matrix products the unchunked path computes, bit for bit (one thread).
ROW_BLOCK = 384


def row_chunks(n: int, words: int, chunk: int = DECODE_CHUNK) -> list[slice]:
    """Slices that cut n rows of `words` scores each into chunks of about `chunk` scores:
    a multiple of `ROW_BLOCK` rows each, the last one with the remainder too, so under twice
    that (fewer rows, not aligned, when one block would hold more than `chunk`). Chapter 05."""
    utils.whole_number(chunk, "chunk", what="scores decoded at once")
    rows = max(1, chunk // max(words, 1))
    if rows >= ROW_BLOCK:
        rows -= rows % ROW_BLOCK
    starts = list(range(0, n, rows)) or [0]
    if len(starts) > 1 and n - starts[-1] < rows:  # no short chunk at the end
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


def target_ranks(
    output: torch.Tensor,
    targets: torch.Tensor,
    head: str,
    codes: torch.Tensor | None = None,
    metric: str = "likelihood",
    log_prior: torch.Tensor | None = None,
    chunk: int = DECODE_CHUNK,
) -> torch.Tensor:
    """(N, C) head outputs and (N,) target ids -> (N,) 0-based rank of each target: what
    `rank_of_target(word_scores(...), targets)` gives, without ever holding N x V scores, as
    the rows are decoded a chunk at a time (`row_chunks`). Chapter 05."""
    check_head(head, codes)
    if output.shape[0] != targets.shape[0]:
        raise ValueError(f"got {output.shape[0]} output rows for {targets.shape[0]} targets")
    words = output.shape[1] if head == "softmax" else codes.shape[0]
    codes = None if codes is None else codes.to(output.device)  # moved once, not per chunk
    ranks = [
        rank_of_target(word_scores(output[rows], head, codes, metric, log_prior), targets[rows])
        for rows in row_chunks(output.shape[0], words, chunk)
    ]
    return torch.cat(ranks)


@torch.no_grad()
def evaluate(
    model, loader, head, codes=None, ks=(1, 10), device="cpu", metric="likelihood", log_prior=None
) -> dict[str, float]:
    """Loss, top-k accuracy (and bit accuracy for the binary head) over target positions;
    `metric` and `log_prior` choose the binary head's decoding (see `word_scores`). Chapter 05."""
    model.eval()
    total = {"loss": 0.0, "bits": 0.0, **{f"top{k}": 0.0 for k in ks}}
    n = 0
    codes_d = codes.to(device) if codes is not None else None
    for ids, lengths, _ in loader:  # the targets are the ids themselves
        ids = ids.to(device)
        output = model(ids, lengths)
        mask = target_mask(ids)
        out, targets = output[mask], ids[mask]  # (N, C), (N,)
        loss = infill_loss(output, ids, head, codes_d)
        ranks = target_ranks(out, targets, head, codes_d, metric, log_prior)
        count = int(mask.sum())  # the first value read back (tests/test_devices.py)
        total["loss"] += float(loss) * count
        for k in ks:
            total[f"top{k}"] += float((ranks < k).sum())
        if head == "binary":
            total["bits"] += float(((out > 0).float() == codes_d[targets]).float().mean(1).sum())
        n += count
    result = {key: value / max(n, 1) for key, value in total.items()}
    if head != "binary":
        result.pop("bits")
    return result
