"""Padding-exact bidirectional LSTMs and GRUs that keep PyTorch's fused kernels.

Introduced in chapter 03 and used by chapters 03-05. `BiLSTM(x, lengths)` returns exactly
what `nn.LSTM(..., bidirectional=True, batch_first=True)` returns on the packed batch after
`pad_packed_sequence`, but it runs the fused kernel on the padded tensor, which on a CPU is
3-14x faster than the packed path (pytorch/pytorch#149194; see benchmarks/bench_rnn.py).

Why this is exact, per layer:
- padding flag: one extra input column, 1 at padded steps and 0 at real ones, whose fixed
  weights saturate the gates at padded steps (LSTM: forget gate = 1 and input gate = 0
  exactly, so c stops changing; GRU: update gate z = 1 exactly, so h stops changing). At real
  steps the column adds exact zeros. The padded steps' inputs are zeroed first (`torch.where`),
  so what the padding holds (NaN, inf, 1e5 would break the saturation) never reaches the
  kernels, as with packing;
- forward direction: the output at step t depends only on steps 0..t, so padding that comes
  after a sequence's last real token cannot change its outputs at real positions, and the
  frozen state after the last step is the state after the last real token (the LSTM's h_n
  is read from the output at length - 1);
- backward direction: the fused bidirectional kernel reads each row from T - 1 down to 0,
  the padding first. From a zero state the flag keeps it zero there (LSTM: c stays 0, so
  h = o * tanh(0) = 0; GRU: h carried unchanged), so each sequence's backward reading starts
  at its own last token from the initial state: both directions run in one kernel call.
  The one case where that fails, an LSTM given an initial (h0, c0) (h would become
  o * tanh(c0) in the padding), takes the slower way: reverse each sequence within its own
  length (padding stays at the end), run a forward-only kernel, and reverse the outputs back.

Two sentences per row (`BiLSTM.forward_pair`, chapter 04's premise and hypothesis): lay each
row out in time as the first sentence, one reset step, the second, then padding, and give
every reset step (separator and padding) a second flag column that shuts the input and forget
gates: c = 0, so h = o * tanh(0) = 0, exactly the zero initial state. Each direction so enters
each sentence from zero, as its own call would, and the gradient is exactly zero across the
reset step. One kernel call per layer runs both sentences, over fewer padded steps than two
calls when batches are bucketed by the sum of the lengths. A GRU cannot be reset this way
(its candidate state is a tanh, which no saturation makes exactly 0), so only BiLSTM has it.

The classes subclass `nn.LSTM`/`nn.GRU` (bidirectional, batch_first), so their parameters
carry `nn.LSTM`'s names and `load_state_dict` works in both directions.

Shapes: B = batch, T = padded length, E = input_size, H = hidden_size, L = num_layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# A pre-activation this large saturates sigmoid to exactly 0.0 or 1.0 in float32 and float64.
_SATURATE = 1e4


def check_lengths(x: torch.Tensor, lengths) -> torch.Tensor:
    """Validate (B, T, E) `x` and its (B,) `lengths`; return lengths as int64 on x's device.

    Lengths may live on any device (the packed API wants them on the CPU). They are checked
    where they live, so CPU lengths cost a GPU model no synchronisation, then moved to x's
    device, where the gathers need them. Chapters 03-05."""
    if x.dim() != 3:
        raise ValueError(
            f"x must be (batch, time, features) with batch_first, got {tuple(x.shape)}"
        )
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths must be 1-D (one length per sequence), got {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise TypeError(f"lengths must be integers, got {lengths.dtype}")
    batch, steps = x.shape[0], x.shape[1]
    if lengths.numel() != batch:
        raise ValueError(f"got {lengths.numel()} lengths for a batch of {batch} sequences")
    if batch == 0:
        raise ValueError("the batch is empty")
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1:
        raise ValueError(f"every length must be at least 1, got {shortest}")
    if longest > steps:
        raise ValueError(f"a length of {longest} exceeds the padded length T = {steps}")
    return lengths.to(device=x.device, dtype=torch.long)


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) positions that reverse each sequence within its own length.

    Row b maps t -> len_b - 1 - t for t < len_b and leaves padding where it is; applying it
    twice gives the identity. Chapters 03-05."""
    t = torch.arange(steps, device=lengths.device)  # (T,)
    flipped = lengths[:, None] - 1 - t[None, :]  # (B, T)
    return torch.where(flipped >= 0, flipped, t[None, :].expand_as(flipped))


def reverse_within_length(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gather (B, T, D) `x` along time with a (B, T) index from `reverse_index`. Chapters 03-05."""
    return x.gather(1, index[:, :, None].expand_as(x))


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True at real steps, False at padding. Chapters 03-05."""
    t = torch.arange(steps, device=lengths.device)  # (T,)
    return t[None, :] < lengths[:, None]  # (B, T)


class _PaddedBidirectional:
    """What BiLSTM and BiGRU share: construction, the layer loop, reversal and dropout."""

    # Gate rows (in nn.LSTM's / nn.GRU's order) whose pre-activation the padding column
    # drives to +saturation or -saturation; set by the subclasses.
    _gate_signs: tuple[float, ...] = ()
    # Both directions in one bidirectional kernel call where that is exact (see the module
    # docstring); False runs one call per direction, as before, for benchmarks and tests.
    one_call_both_directions = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
        bidirectional: bool = True,
        **kwargs,
    ) -> None:
        if not batch_first or not bidirectional:
            raise ValueError(
                f"{type(self).__name__} is always bidirectional and batch_first; "
                "use nn.LSTM/nn.GRU for other layouts"
            )
        if kwargs.get("proj_size", 0):
            raise ValueError(f"{type(self).__name__} does not support proj_size")
        kwargs.pop("proj_size", None)
        super().__init__(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=True,
            dropout=dropout,
            bidirectional=True,
            **kwargs,
        )

    def _flag_column(self, like: torch.Tensor, signs: tuple[float, ...]) -> torch.Tensor:
        """(G*H, 1) fixed weights for a flag input column: each gate's pre-activation driven to
        +saturation, -saturation or left alone (sign 1, -1, 0) where the flag is 1."""
        signs = torch.tensor(signs, dtype=like.dtype, device=like.device)
        return (_SATURATE * signs).repeat_interleave(self.hidden_size)[:, None]

    def _weights(self, layer: int, suffix: str, pad_column: torch.Tensor) -> list[torch.Tensor]:
        """One direction's weights, the input weights widened by the padding column."""
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        weights = [getattr(self, f"{name}_l{layer}{suffix}") for name in names]
        weights[0] = torch.cat([weights[0], pad_column], dim=1)  # (G*H, D + 1)
        return weights

    def _initial_state(self, hx, batch: int, like: torch.Tensor):
        """hx as nn.LSTM/nn.GRU take it, or zeros, split into per-(layer, direction) slices."""
        raise NotImplementedError

    def _padding_first_is_exact(self, hx) -> bool:
        """Whether the backward direction may read the padding before each sequence (one
        bidirectional call) and still start its real steps from the initial state."""
        raise NotImplementedError

    def _pair(self, forward_state, backward_state):
        """Two directions' initial states -> the state of one bidirectional call."""
        raise NotImplementedError

    def _run(self, x, state, weights, bidirectional: bool = False):
        """One fused layer -> (output (B, T, H or 2H), final state(s))."""
        raise NotImplementedError

    def _final_states_pair(self, output, state, last):
        """[forward, backward] final states of one bidirectional call."""
        raise NotImplementedError

    def _final_state(self, output, state, last):
        """The direction's final state after each sequence's last real token."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, lengths, hx=None):
        """x (B, T, E) and lengths (B,) -> output (B, T, 2H), zeros at padding, and the final
        state(s) of shape (L * 2, B, H) in nn.LSTM's order, as the packed batch would give."""
        lengths = check_lengths(x, lengths)
        batch, steps = x.shape[0], x.shape[1]
        if x.shape[2] != self.input_size:
            raise ValueError(f"x has {x.shape[2]} features, the layer expects {self.input_size}")
        real = length_mask(lengths, steps)[:, :, None]  # (B, T, 1): True at real steps
        # Padding may hold anything (NaN, inf, 1e5 would break the gates' saturation): the
        # kernels see zeros there. `where`, not `* mask` (NaN * 0 is NaN); real steps unchanged.
        x = torch.where(real, x, 0)
        mask = real.to(x.dtype)  # 1 at real steps
        flag = 1 - mask  # the extra input column: 1 at padding
        one_call = self.one_call_both_directions and self._padding_first_is_exact(hx)
        reverse = None if one_call else reverse_index(lengths, steps)  # (B, T)
        last = (lengths - 1)[:, None, None].expand(batch, 1, self.hidden_size)  # (B, 1, H)
        pad_column = self._flag_column(x, self._gate_signs)
        states = self._initial_state(hx, batch, x)
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            if one_call:  # both directions in one fused call over the right-padded batch
                weights = self._weights(layer, "", pad_column) + self._weights(layer, "_reverse", pad_column)
                pair = self._pair(states[2 * layer], states[2 * layer + 1])
                out, final = self._run(torch.cat([layer_input, flag], dim=2), pair, weights, True)
                finals += self._final_states_pair(out, final, last)
                layer_input = out * mask  # (B, T, 2H), zeros at padding
                continue
            outputs = []
            for direction, suffix in enumerate(("", "_reverse")):
                inp = layer_input if direction == 0 else reverse_within_length(layer_input, reverse)
                weights = self._weights(layer, suffix, pad_column)
                state = states[2 * layer + direction]
                out, final = self._run(torch.cat([inp, flag], dim=2), state, weights)
                if direction == 1:
                    out = reverse_within_length(out, reverse)
                    # after un-reversing, the backward direction's last step sits at t = 0
                    finals.append(self._final_state(out, final, torch.zeros_like(last)))
                else:
                    finals.append(self._final_state(out, final, last))
                outputs.append(out)
            layer_input = torch.cat(outputs, dim=2) * mask  # (B, T, 2H), zeros at padding
        return layer_input, self._stack(finals)


class BiLSTM(_PaddedBidirectional, nn.LSTM):
    """A bidirectional, batch_first `nn.LSTM` that takes `(x, lengths)` and gives exactly
    what the packed batch gives, on the fused kernel. Keywords mirror nn.LSTM's. Chapter 03."""

    # gates i, f, g, o: input gate shut (0), forget gate open (1) at padding
    _gate_signs = (-1.0, 1.0, 0.0, 0.0)

    def _initial_state(self, hx, batch, like):
        shape = (self.num_layers * 2, batch, self.hidden_size)
        if hx is None:
            h0 = c0 = like.new_zeros(shape)
        else:
            h0, c0 = hx
            if h0.shape != shape or c0.shape != shape:
                raise ValueError(f"hx must be two tensors of shape {shape}")
        return [(h0[k : k + 1], c0[k : k + 1]) for k in range(shape[0])]

    def _padding_first_is_exact(self, hx) -> bool:
        # From zero state the padding keeps c = 0 (forget 1, input 0) and so h = o * tanh(0) = 0.
        # From a given (h0, c0), h would become o * tanh(c0): take the two-call path.
        return hx is None

    def _pair(self, forward_state, backward_state):
        return tuple(torch.cat([f, b]) for f, b in zip(forward_state, backward_state, strict=True))

    def _run(self, x, state, weights, bidirectional=False):
        out, h, c = torch.lstm(x, state, weights, self.bias, 1, 0.0, self.training, bidirectional, True)
        return out, (h, c)

    def _final_states_pair(self, output, state, last):
        h, c = state  # (2, B, H) each; the backward direction ends at t = 0
        return [self._final_state(output[:, :, : self.hidden_size], state, last), (h[1], c[1])]

    def _final_state(self, output, state, last):
        h = output.gather(1, last)[:, 0]  # (B, H): the output at each sequence's last step
        return h, state[1][0]  # c froze at the last real step

    @staticmethod
    def _stack(finals):
        return torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals])

    # gates i, f, g, o at a reset step: input and forget gates shut, so c = 0 and h = o * tanh(0) = 0
    _reset_signs = (-1.0, -1.0, 0.0, 0.0)

    def forward_pair(self, x_a: torch.Tensor, a_lengths, x_b: torch.Tensor, b_lengths):
        """Two sequences per row, e.g. premise and hypothesis: (B, Ta, E) and (B, Tb, E) with their
        lengths -> their outputs (B, Ta, 2H) and (B, Tb, 2H), zeros at padding: what
        `self(x_a, a_lengths)[0]` and `self(x_b, b_lengths)[0]` give, in one kernel call per layer.

        Each row is laid out in time as a, one reset step, b, then padding: (B, T, E) with
        T = max(len_a + 1 + len_b). At a reset step (the separator and the padding) one more input
        column shuts the input and forget gates exactly, so c = 0 and h = 0: each direction
        enters each sentence from the zero state, as its own call would, and no gradient crosses
        from one sentence to the other. Bucketing batches by len_a + len_b leaves little padding
        in this layout, where two calls pad each sentence to its own longest. Chapter 04.
        """
        given = torch.as_tensor(a_lengths), torch.as_tensor(b_lengths)
        a_lengths, b_lengths = check_lengths(x_a, a_lengths), check_lengths(x_b, b_lengths)
        batch, steps_a, steps_b = x_a.shape[0], x_a.shape[1], x_b.shape[1]
        if x_b.shape[0] != batch:
            raise ValueError(f"x_a has {batch} rows and x_b {x_b.shape[0]}: give one b for each a")
        # the longest pair, read where the lengths were given (on a CPU for a meta-device model)
        longest = int((given[0].cpu() + given[1].cpu()).max())
        for x in (x_a, x_b):
            if x.shape[2] != self.input_size:
                raise ValueError(f"x has {x.shape[2]} features, the layer expects {self.input_size}")
        steps = max(longest + 1, steps_a)  # T, at least Ta so that a's outputs can be sliced off
        source = pair_layout(a_lengths, b_lengths, steps, steps_a, steps_b)  # (B, T)
        reset = (source == steps_a + steps_b)[:, :, None].to(x_a.dtype)  # (B, T, 1): 1 at reset steps
        width = x_a.shape[2]
        # gather each row's a, (zeros), b, (zeros) from the two inputs and one row of zeros: the
        # padding of x_a and x_b is never read (NaN there stays out, as with packing)
        rows = torch.cat([x_a, x_b, x_a.new_zeros(batch, 1, width)], dim=1)  # (B, Ta + Tb + 1, E)
        layer_input = rows.gather(1, source[:, :, None].expand(batch, steps, width))  # (B, T, E)
        reset_column = self._flag_column(x_a, self._reset_signs)
        zeros = x_a.new_zeros(2, batch, self.hidden_size)  # both directions start from zero
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            weights = self._weights(layer, "", reset_column) + self._weights(layer, "_reverse", reset_column)
            layer_input, _ = self._run(torch.cat([layer_input, reset], dim=2), (zeros, zeros), weights, True)
        out = layer_input  # (B, T, 2H), exactly zero at reset steps
        # a sits at 0..len_a - 1; b at len_a + 1 onwards (clamped: those positions are masked)
        at_b = (a_lengths[:, None] + 1 + torch.arange(steps_b, device=out.device)).clamp(max=steps - 1)
        out_b = out.gather(1, at_b[:, :, None].expand(batch, steps_b, out.shape[2]))  # (B, Tb, 2H)
        a_real = length_mask(a_lengths, steps_a)[:, :, None]
        b_real = length_mask(b_lengths, steps_b)[:, :, None]
        return out[:, :steps_a] * a_real, out_b * b_real


class BiGRU(_PaddedBidirectional, nn.GRU):
    """A bidirectional, batch_first `nn.GRU` that takes `(x, lengths)` and gives exactly
    what the packed batch gives, on the fused kernel. Keywords mirror nn.GRU's. Chapter 05."""

    # gates r, z, n: update gate z = 1 at padding, so h is carried over unchanged
    _gate_signs = (0.0, 1.0, 0.0)

    def _initial_state(self, hx, batch, like):
        shape = (self.num_layers * 2, batch, self.hidden_size)
        if hx is None:
            hx = like.new_zeros(shape)
        elif hx.shape != shape:
            raise ValueError(f"hx must have shape {shape}")
        return [hx[k : k + 1] for k in range(shape[0])]

    def _padding_first_is_exact(self, hx) -> bool:
        return True  # z = 1 at padding carries any h0 through unchanged

    def _pair(self, forward_state, backward_state):
        return torch.cat([forward_state, backward_state])

    def _run(self, x, state, weights, bidirectional=False):
        return torch.gru(x, state, weights, self.bias, 1, 0.0, self.training, bidirectional, True)

    def _final_states_pair(self, output, state, last):
        return [state[0], state[1]]  # each froze at its direction's last real step

    def _final_state(self, output, state, last):
        return state[0]  # h froze at the last real step

    @staticmethod
    def _stack(finals):
        return torch.stack(finals)


def pair_layout(a_lengths: torch.Tensor, b_lengths: torch.Tensor, steps: int, steps_a: int, steps_b: int):
    """Where each of the T = `steps` steps of `BiLSTM.forward_pair`'s rows reads from -> (B, T).

    A row holds a's steps, one reset step, b's steps, then padding: index t < len_a reads a's
    step t, index Ta + j reads b's step j, and Ta + Tb (a row of zeros) marks the reset
    steps. T must be at least max(len_a + 1 + len_b). Chapter 04.
    """
    t = torch.arange(steps, device=a_lengths.device)[None, :]  # (1, T)
    in_b = t - (a_lengths[:, None] + 1)  # (B, T): the step of b, negative before b starts
    source = torch.where(t < a_lengths[:, None], t, steps_a + steps_b)
    return torch.where((in_b >= 0) & (in_b < b_lengths[:, None]), steps_a + in_b, source)
