"""Chapter 03's sentiment classifier: a 2-layer bidirectional LSTM that never reads padding,
as in the "upgraded sentiment analysis" notebook it ports, plus the helpers that clean and
encode reviews and predict. (`checkpoints.save_checkpoint` / `checkpoints.load` save and
rebuild it, as every chapter's model.)

The LSTM is `nlpbook.rnn.BiLSTM`: it gives exactly what `nn.LSTM` gives on the packed batch
(and its weights carry `nn.LSTM`'s names), but runs the fused kernel, several times faster
on a CPU.

Shapes: B = batch size, T = longest review in the batch, E = embedding_dim,
H = hidden_size, L = num_layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nlpbook import rnn, text
from nlpbook.text import Vocab, require_finite, require_known


@dataclass
class BiLSTMSentimentConfig:
    """The sizes of a `BiLSTMSentiment`; `asdict` of it goes into a checkpoint. Chapter 03."""

    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_layers: int = 2
    dropout: float = 0.5
    pad_index: int = 0


class BiLSTMSentiment(nn.Module):
    """Embedding (with padding_idx) -> L-layer BiLSTM that skips padding -> the last layer's
    final forward and backward hidden states, concatenated -> dropout -> linear -> one logit.
    Introduced in chapter 03."""

    config_class = BiLSTMSentimentConfig

    def __init__(self, config: BiLSTMSentimentConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.pad_index)
        self.rnn = rnn.BiLSTM(
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(2 * c.hidden_size, 1)

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
    return " ".join(text.replace_html_breaks(review, " ").split())


def encode_review(
    tokens: Sequence[str], vocab: Vocab, max_tokens: int | None = None, keep: str = "last"
) -> list[int]:
    """Token ids of `tokens`, cut to `max_tokens` keeping the 'last' or 'first' ones. Chapter 03."""
    return vocab.lookup_indices(text.truncate(tokens, max_tokens, keep))


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
    `text.NoKnownWords`, and a model whose output is NaN or inf a ValueError
    (`text.require_finite`), as in every chapter's predict function.
    """
    if not isinstance(text, str):
        raise TypeError(f"predict_sentiment expects a string, got {type(text).__name__}")
    tokens = tokenizer(clean_review(text))
    if not tokens:
        raise ValueError("predict_sentiment got an empty review (no tokens); pass some text")
    ids = encode_review(tokens, vocab, max_tokens)
    require_known(ids, "review")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logit = model(torch.tensor([ids], device=device), torch.tensor([len(ids)]))  # (1,)
    finally:
        model.train(was_training)
    require_finite(logit, "review")
    return float(torch.sigmoid(logit)[0])
