"""Chapter 02: an LSTM built from scratch (parameter for parameter the same as `nn.LSTM`),
the review-sentiment model that can use either, and `predict_sentiment`.

Gates, in `nn.LSTM`'s order i, f, g, o (rows of the stacked weight matrices):

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate
    f = σ(W_if x + b_if + W_hf h + b_hf)      forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   candidate cell
    o = σ(W_io x + b_io + W_ho h + b_ho)      output gate
    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

Letters: B batch, T time steps, I input features, H hidden units, L layers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nlpbook.text import require_known

State = tuple[torch.Tensor, torch.Tensor]
GATES = ("i", "f", "g", "o")


class LSTMCell(nn.Module):
    """One LSTM step from scratch; weights laid out as `nn.LSTMCell`/`nn.LSTM` (chapter 02)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # (4H, I)
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight uniform in ±1/√H."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """W_ih x + b_ih + b_hh for any leading shape (..., I) -> (..., 4H).

        Both biases are added here, so for a sequence this one matrix product, done for
        all time steps before the loop, leaves only the W_hh h term to each step.
        """
        return x @ self.weight_ih.T + (self.bias_ih + self.bias_hh)

    def step(
        self, x_proj: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """One step from a projected input (B, 4H): returns h', c' and the gates (i, f, g, o)."""
        h, c = state  # (B, H), (B, H)
        z = torch.addmm(x_proj, h, self.weight_hh.T)  # (B, 4H): x_proj + h W_hh^T, one fused matmul
        # One sigmoid call for i, f and o; its g slot is computed but unused.
        i, f, _, o = torch.sigmoid(z).chunk(4, dim=-1)  # each (B, H)
        g = torch.tanh(z[:, 2 * self.hidden_size : 3 * self.hidden_size])  # (B, H)
        c = torch.addcmul(f * c, i, g)  # f * c + i * g, (B, H)
        h = o * torch.tanh(c)  # (B, H)
        return h, c, (i, f, g, o)

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        """(B, I) input and optional (h, c) of (B, H) each -> the next (h, c)."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        h, c, _ = self.step(self.project_input(x), state)
        return h, c


class LSTM(nn.Module):
    """A multi-layer LSTM from scratch with `nn.LSTM`'s parameter names and call signature.

    `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` are the same tensors
    as `nn.LSTM`'s, so `load_state_dict(nn_lstm.state_dict())` works both ways. Set
    `record_gates = True` to keep each layer's gate activations in `self.gates` (chapter 02).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.batch_first, self.dropout = num_layers, batch_first, dropout
        self.cells = [
            LSTMCell(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)
        ]
        for k, cell in enumerate(self.cells):  # register under nn.LSTM's names
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                self.register_parameter(f"{name}_l{k}", getattr(cell, name))
        self.record_gates = False
        self.gates: list[dict[str, torch.Tensor]] = []

    def _apply(self, fn, recurse=True):  # keep the cells' parameters the registered ones
        super()._apply(fn, recurse)
        for k, cell in enumerate(self.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(cell, name, getattr(self, f"{name}_l{k}"))
        return self

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x (B, T, I) if batch_first else (T, B, I); state (h0, c0) each (L, B, H).

        Returns (output, (h_n, c_n)) like `nn.LSTM`: output holds the last layer's h at
        every step, (B, T, H) or (T, B, H); h_n and c_n the last step of every layer.
        """
        if x.dim() != 3:
            raise ValueError(f"expected a 3-D input (batched), got shape {tuple(x.shape)}")
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        steps, batch = x.shape[0], x.shape[1]
        if state is None:
            zeros = x.new_zeros(self.num_layers, batch, self.hidden_size)
            state = (zeros, zeros)
        h0, c0 = state  # (L, B, H) each
        self.gates = []
        h_n, c_n = [], []
        layer_input = x  # (T, B, I)
        for k, cell in enumerate(self.cells):
            if k > 0 and self.dropout > 0 and self.training:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
            x_proj = cell.project_input(layer_input)  # (T, B, 4H): one matmul for all steps
            h, c = h0[k], c0[k]  # (B, H)
            outputs, record = [], {g: [] for g in GATES}
            for t in range(steps):
                h, c, gates = cell.step(x_proj[t], (h, c))
                outputs.append(h)
                if self.record_gates:
                    for name, value in zip(GATES, gates, strict=True):
                        record[name].append(value.detach())
            layer_input = torch.stack(outputs)  # (T, B, H)
            h_n.append(h)
            c_n.append(c)
            if self.record_gates:
                self.gates.append(
                    {g: torch.stack(v, dim=1) for g, v in record.items()}
                )  # (B, T, H)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return output, (torch.stack(h_n), torch.stack(c_n))

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"batch_first={self.batch_first}, dropout={self.dropout}"
        )


class SentimentLSTM(nn.Module):
    """Embedding -> L-layer LSTM (nn.LSTM or the scratch one) -> dropout -> linear, one logit.

    Reviews are left-padded (and long ones truncated to their end), so the last time step
    is the end of the text: its output summarises the review (many-to-one). Chapter 02.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        scratch: bool = False,
        pad_index: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        rnn = LSTM if scratch else nn.LSTM
        self.lstm = rnn(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> logits (B,)."""
        embedded = self.embedding(ids)  # (B, T, E)
        output, _ = self.lstm(embedded)  # (B, T, H)
        last = output[:, -1]  # (B, H): left padding puts the review's end here
        return self.fc(self.dropout(last)).squeeze(-1)  # (B,)


def predict_sentiment(
    model: nn.Module,
    vocab,
    text: str,
    seq_len: int,
    threshold: float = 0.5,
    keep: str = "end",
) -> dict[str, object]:
    """Classify one review: {'label', 'probability' (of positive), 'known', 'tokens'}.

    The text is prepared as in training (`reviews.tokenize_review`, then `pad_left` with
    `keep`). A text with no word in the vocabulary (among the kept tokens) is refused with
    `text.NoKnownWords`, as in every chapter's predict function: the model would see nothing
    but <unk> and its output would say what it learned about <unk> runs, not about this
    text. Chapter 02.
    """
    from nlpbook.models import reviews  # the same cleaning and tokenisation as training

    if not isinstance(text, str):
        raise TypeError(f"predict_sentiment expects a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("predict_sentiment got an empty review; give it some text")
    tokens = reviews.tokenize_review(text)
    ids = vocab.lookup_indices(tokens)
    x = reviews.pad_left(ids, seq_len, vocab.pad_index, keep).unsqueeze(0)  # (1, T)
    known = require_known(x[0].tolist(), "review")
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        probability = torch.sigmoid(model(x.to(device)))[0].item()
    label = "positive" if probability >= threshold else "negative"
    return {"label": label, "probability": probability, "known": known, "tokens": len(tokens)}
