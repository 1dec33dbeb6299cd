"""Chapter 03's sentiment classifier: a 2-layer bidirectional LSTM that never reads padding,
as in the "upgraded sentiment analysis" notebook it ports, plus the helpers that encode
reviews, predict, and rebuild the model from a checkpoint bundle.

The LSTM is `nlpbook.rnn.BiLSTM`: it gives exactly what `nn.LSTM` gives on the packed batch
(and its weights carry `nn.LSTM`'s names), but runs the fused kernel, several times faster
on a CPU.

Shapes: B = batch size, T = longest review in the batch, E = embedding_dim,
H = hidden_size, L = num_layers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from nlpbook import rnn, train
from nlpbook.text import Vocab, require_known
from nlpbook.utils import count_parameters  # noqa: F401  (re-exported for the notebooks)

# The keys of a checkpoint config that `build_model` passes to BiLSTMSentiment.
MODEL_KEYS = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout", "pad_index")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


class BiLSTMSentiment(nn.Module):
    """Embedding (with padding_idx) -> L-layer BiLSTM that skips padding -> the last layer's
    final forward and backward hidden states, concatenated -> dropout -> linear -> one logit.
    Introduced in chapter 03."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        pad_index: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.rnn = rnn.BiLSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_size, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids (B, T) and lengths (B,) -> logits (B,); padding never reaches the LSTM."""
        embedded = self.dropout(self.embedding(ids))  # (B, T, E)
        _, (hidden, _) = self.rnn(embedded, lengths)  # hidden: (L * 2, B, H)
        # hidden[-2] is the last layer's forward state after each review's last real token,
        # hidden[-1] the backward state after reading back to its first token.
        final = torch.cat([hidden[-2], hidden[-1]], dim=1)  # (B, 2H)
        return self.fc(self.dropout(final)).squeeze(-1)  # (B,)


def clean_review(review: str) -> str:
    """Replace IMDb's `<br />` line breaks by spaces and collapse runs of whitespace. Chapter 03.

    (spaCy would turn each extra space into a whitespace token.)"""
    return " ".join(_BREAK.sub(" ", review).split())


def encode(tokens: Sequence[str], vocab: Vocab, max_tokens: int | None = None, keep: str = "last"):
    """Token ids of `tokens`, cut to `max_tokens` keeping the 'last' or 'first' ones. Chapter 03."""
    if keep not in ("last", "first"):
        raise ValueError(f"keep must be 'last' or 'first', not {keep!r}")
    # 0 would silently mean "no limit" and -1 "drop the first token" through slicing
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(
            f"max_tokens must be None (no limit) or a positive int, not {max_tokens!r}"
        )
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = tokens[-max_tokens:] if keep == "last" else tokens[:max_tokens]
    return vocab.lookup_indices(tokens)


def build_model(config: dict) -> BiLSTMSentiment:
    """A fresh BiLSTMSentiment from a (checkpoint) config dict; extra keys are ignored."""
    missing = [k for k in MODEL_KEYS if k not in config]
    if missing:
        raise ValueError(f"the config lacks {missing}; it needs {list(MODEL_KEYS)}")
    return BiLSTMSentiment(**{k: config[k] for k in MODEL_KEYS})


def model_config(model: BiLSTMSentiment) -> dict:
    """The config dict that `build_model` turns back into a model of the same shape."""
    return {
        "vocab_size": model.embedding.num_embeddings,
        "embedding_dim": model.embedding.embedding_dim,
        "hidden_size": model.rnn.hidden_size,
        "num_layers": model.rnn.num_layers,
        "dropout": model.dropout.p,
        "pad_index": model.embedding.padding_idx,
    }


def save_bundle(path: str | Path, model: BiLSTMSentiment, vocab: Vocab, **extra) -> Path:
    """Save weights + vocab + config (the model's shape and any `extra` plain settings)."""
    config = {**model_config(model), **extra}
    if config["vocab_size"] != len(vocab):
        raise ValueError(f"the model has {config['vocab_size']} rows, the vocab {len(vocab)}")
    return train.save_checkpoint(path, model, vocab, config)


def load_bundle(path: str | Path) -> tuple[BiLSTMSentiment, Vocab, dict]:
    """Rebuild a model from a checkpoint bundle: (model in eval mode, vocab, config)."""
    state, vocab, config = train.load_checkpoint(path)
    if vocab is None:
        raise ValueError(f"{path} holds no vocabulary; a sentiment bundle needs one")
    model = train.restore(build_model, state, config)  # shapes checked before allocating
    return model.eval(), vocab, config


@torch.no_grad()
def predict_sentiment(
    model: BiLSTMSentiment,
    vocab: Vocab,
    text: str,
    tokenizer: Callable[[str], list[str]],
    max_tokens: int | None = None,
) -> float:
    """P(positive) for one review: clean, tokenize, encode, and run the model. Chapter 03.

    A review with no word in the vocabulary (among the kept tokens) raises
    `text.NoKnownWords`, as in every chapter's predict function.
    """
    if not isinstance(text, str):
        raise TypeError(f"predict_sentiment expects a string, got {type(text).__name__}")
    tokens = tokenizer(clean_review(text))
    if not tokens:
        raise ValueError("predict_sentiment got an empty review (no tokens); pass some text")
    ids = encode(tokens, vocab, max_tokens)
    require_known(ids, "review")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logit = model(torch.tensor([ids], device=device), torch.tensor([len(ids)]))  # (1,)
    finally:
        model.train(was_training)
    return float(torch.sigmoid(logit)[0])
