"""Chapter 02: an LSTM built from scratch (parameter for parameter the same as `nn.LSTM`),
the review-sentiment model that can use either, and `classify_review`.

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
import numbers
from dataclasses import dataclass

import torch
from torch import nn

from nlpbook import reviews  # classify_review prepares text as training did
from nlpbook.text import require_finite, require_known

State = tuple[torch.Tensor, torch.Tensor]
GATES = ("i", "f", "g", "o")


PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def init_parameters(hidden_size: int, *params: nn.Parameter) -> None:
    """PyTorch's LSTM initialisation: every weight uniform in ±1/√H. Chapter 02."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


def project_input(x: torch.Tensor, weight_ih, bias_ih, bias_hh) -> torch.Tensor:
    """W_ih x + b_ih + b_hh for any leading shape (..., I) -> (..., 4H). Chapter 02.

    Both biases are added here, so for a sequence this one matrix product, done for all
    time steps before the loop, leaves only the W_hh h term to each step.
    """
    return x @ weight_ih.T + (bias_ih + bias_hh)


def lstm_step(
    x_proj: torch.Tensor, state: State, weight_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """One step from a projected input (B, 4H): returns h', c' and the gates (i, f, g, o). Chapter 02."""
    h, c = state  # (B, H), (B, H)
    hidden = h.shape[-1]
    z = torch.addmm(x_proj, h, weight_hh.T)  # (B, 4H): x_proj + h W_hh^T, one fused matmul
    # One sigmoid call for i, f and o; its g slot is computed but unused.
    i, f, _, o = torch.sigmoid(z).chunk(4, dim=-1)  # each (B, H)
    g = torch.tanh(z[:, 2 * hidden : 3 * hidden])  # (B, H)
    c = torch.addcmul(f * c, i, g)  # f * c + i * g, (B, H)
    h = o * torch.tanh(c)  # (B, H)
    return h, c, (i, f, g, o)


class LSTMCell(nn.Module):
    """One LSTM step from scratch; weights laid out as `nn.LSTMCell`/`nn.LSTM` (chapter 02)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # (4H, I)
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)
        init_parameters(hidden_size, *self.parameters())

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        """(B, I) input and optional (h, c) of (B, H) each -> the next (h, c)."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        x_proj = project_input(x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, c, _ = lstm_step(x_proj, state, self.weight_hh)
        return h, c


class LSTM(nn.Module):
    """A multi-layer LSTM from scratch with `nn.LSTM`'s parameter names and call signature.

    `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` are the same tensors
    as `nn.LSTM`'s, so `load_state_dict(nn_lstm.state_dict())` works both ways; each layer
    runs `project_input` and `lstm_step` on them, as `LSTMCell` does. Set
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
        for k in range(num_layers):  # nn.LSTM's names, shapes and initialisation, layer by layer
            inputs = input_size if k == 0 else hidden_size
            shapes = ((4 * hidden_size, inputs), (4 * hidden_size, hidden_size), (4 * hidden_size,), (4 * hidden_size,))
            for name, shape in zip(PARAMETERS, shapes, strict=True):
                self.register_parameter(f"{name}_l{k}", nn.Parameter(torch.empty(shape)))
            init_parameters(hidden_size, *self.layer_parameters(k))
        self.record_gates = False
        self.gates: list[dict[str, torch.Tensor]] = []

    def layer_parameters(self, k: int) -> tuple[nn.Parameter, ...]:
        """Layer k's (weight_ih, weight_hh, bias_ih, bias_hh)."""
        return tuple(getattr(self, f"{name}_l{k}") for name in PARAMETERS)

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
        for k in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(k)
            if k > 0 and self.dropout > 0 and self.training:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
            x_proj = project_input(layer_input, weight_ih, bias_ih, bias_hh)  # (T, B, 4H): all steps
            h, c = h0[k], c0[k]  # (B, H)
            outputs, record = [], {g: [] for g in GATES}
            for t in range(steps):
                h, c, gates = lstm_step(x_proj[t], (h, c), weight_hh)
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


@dataclass
class SentimentLSTMConfig:
    """The sizes of a `SentimentLSTM`; `asdict` of it goes into a checkpoint. Chapter 02."""

    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_layers: int = 2
    dropout: float = 0.5
    scratch: bool = False  # this module's LSTM instead of nn.LSTM
    pad_index: int = 0


class SentimentLSTM(nn.Module):
    """Embedding -> L-layer LSTM (nn.LSTM or the scratch one) -> dropout -> linear, one logit.

    Reviews are left-padded (and long ones truncated to their end), so the last time step
    is the end of the text: its output summarises the review (many-to-one). Chapter 02.
    """

    config_class = SentimentLSTMConfig

    def __init__(self, config: SentimentLSTMConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.pad_index)
        rnn = LSTM if c.scratch else nn.LSTM
        self.lstm = rnn(
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(c.hidden_size, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> logits (B,)."""
        embedded = self.embedding(ids)  # (B, T, E)
        output, _ = self.lstm(embedded)  # (B, T, H)
        last = output[:, -1]  # (B, H): left padding puts the review's end here
        return self.fc(self.dropout(last)).squeeze(-1)  # (B,)


def classify_review(
    model: nn.Module,
    vocab,
    text: str,
    seq_len: int,
    threshold: float = 0.5,
    keep: str = "last",
) -> dict[str, object]:
    """Classify one review: {'label', 'probability' (of positive), 'known', 'tokens'}.

    The text is prepared as in training (`reviews.tokenize_review`, then `pad_left` with
    `keep`). A text with no word in the vocabulary (among the kept tokens) is refused with
    `text.NoKnownWords`, as in every chapter's predict function: the model would see nothing
    but <unk> and its output would say what it learned about <unk> runs, not about this
    text. Chapter 02.
    """
    if not isinstance(text, str):
        raise TypeError(f"classify_review expects a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("classify_review got an empty review; give it some text")
    _check_threshold(threshold)
    tokens = reviews.tokenize_review(text)
    ids = vocab.lookup_indices(tokens)
    x = reviews.pad_left(ids, seq_len, vocab.pad_index, keep).unsqueeze(0)  # (1, T)
    known = require_known(x[0].tolist(), "review")
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        logit = model(x.to(device))
    require_finite(logit, "review")  # a NaN probability would be labelled 'negative'
    probability = torch.sigmoid(logit)[0].item()
    label = "positive" if probability >= threshold else "negative"
    return {"label": label, "probability": probability, "known": known, "tokens": len(tokens)}


def _check_threshold(threshold: float) -> None:
    """A probability threshold must be a number from 0 to 1: with NaN every review would be
    labelled 'negative' (no comparison with NaN is true)."""
    is_number = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
    if not (is_number and 0 <= threshold <= 1):  # False for NaN
        raise ValueError(f"threshold must be a probability from 0 to 1, not {threshold!r}")
