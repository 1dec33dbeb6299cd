"""nlpbook.rnn against nn.LSTM / nn.GRU on the packed batch, with copied weights."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import rnn

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.fixture(autouse=True, params=[True, False], ids=["one call", "one call per direction"])
def both_ways(request, monkeypatch):
    """Every test runs both ways a layer can take: both directions in one bidirectional kernel
    call (the default where exact) and the reversal with one call per direction."""
    monkeypatch.setattr(rnn._PaddedBidirectional, "one_call_both_directions", request.param)
    return request.param


def packed_reference(ref, x, lengths, hx=None):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state


def pair(kind, input_size, hidden_size, num_layers, dtype, seed=0):
    torch.manual_seed(seed)
    reference = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](
        input_size, hidden_size, num_layers=num_layers, bidirectional=True, batch_first=True
    ).to(dtype)
    layer = {"lstm": rnn.BiLSTM, "gru": rnn.BiGRU}[kind](
        input_size, hidden_size, num_layers=num_layers
    ).to(dtype)
    layer.load_state_dict(reference.state_dict())
    return reference, layer


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def loss_of(out, state):
    # weights that differ per position, so that a wrong order of outputs cannot cancel out
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    return (w * out).sum() + sum((s * s).sum() for s in as_tuple(state))


def assert_same(kind, lengths, steps, num_layers, dtype, hx=False, input_size=4, hidden=3):
    reference, layer = pair(kind, input_size, hidden, num_layers, dtype)
    batch = len(lengths)
    lengths = torch.tensor(lengths)
    gen = torch.Generator().manual_seed(len(lengths) * 31 + steps)
    x = torch.randn(batch, steps, input_size, dtype=dtype, generator=gen)
    x_ref = x.clone().requires_grad_()
    x_new = x.clone().requires_grad_()
    state0 = None
    if hx:
        shape = (num_layers * 2, batch, hidden)
        h0 = torch.randn(shape, dtype=dtype, generator=gen)
        state0 = (h0, torch.randn(shape, dtype=dtype, generator=gen)) if kind == "lstm" else h0
    out_ref, state_ref = packed_reference(reference, x_ref, lengths, state0)
    out_new, state_new = layer(x_new, lengths, state0)
    tol = TOLERANCE[dtype]

    assert out_new.shape == (batch, steps, 2 * hidden)
    torch.testing.assert_close(out_new, out_ref, atol=tol, rtol=0)
    padding = torch.arange(steps)[None, :] >= lengths[:, None]
    assert (out_new[padding] == 0).all()
    for new, ref in zip(as_tuple(state_new), as_tuple(state_ref), strict=True):
        assert new.shape == (num_layers * 2, batch, hidden)
        torch.testing.assert_close(new, ref, atol=tol, rtol=0)

    loss_of(out_ref, state_ref).backward()
    loss_of(out_new, state_new).backward()
    torch.testing.assert_close(x_new.grad, x_ref.grad, atol=tol, rtol=0)
    assert (x_new.grad[padding] == 0).all()
    ref_params = dict(reference.named_parameters())
    for name, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=tol, rtol=0, msg=name)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("hx", [False, True])
def test_equals_packed_with_length_one_and_full_length(kind, dtype, num_layers, hx):
    assert_same(kind, [6, 1, 3, 6, 2], 6, num_layers, dtype, hx=hx)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_every_length_equals_the_padded_length(kind):
    assert_same(kind, [5, 5, 5], 5, 2, torch.float64)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padding_beyond_the_longest_sequence(kind):
    # total length above every length, as pad_packed_sequence(total_length=T) gives
    assert_same(kind, [2, 3], 6, 2, torch.float64)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["lstm", "gru"]),
    data=st.data(),
    steps=st.integers(1, 9),
    num_layers=st.integers(1, 3),
    input_size=st.integers(1, 5),
    hidden=st.integers(1, 4),
    hx=st.booleans(),
)
def test_equals_packed_for_any_shapes(kind, data, steps, num_layers, input_size, hidden, hx):
    lengths = data.draw(st.lists(st.integers(1, steps), min_size=1, max_size=6))
    assert_same(kind, lengths, steps, num_layers, torch.float64, hx, input_size, hidden)


def test_state_dicts_load_both_ways():
    reference, layer = pair("lstm", 4, 3, 2, torch.float32)
    assert list(layer.state_dict()) == list(reference.state_dict())
    assert "weight_hh_l1_reverse" in layer.state_dict()
    fresh = nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    fresh.load_state_dict(layer.state_dict())
    for name, p in fresh.named_parameters():
        assert torch.equal(p, getattr(layer, name))


def test_dropout_between_layers_only_in_training():
    layer = rnn.BiLSTM(4, 3, num_layers=2, dropout=0.5)
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 4])
    layer.eval()
    first, second = layer(x, lengths)[0], layer(x, lengths)[0]
    assert torch.equal(first, second)
    layer.train()
    torch.manual_seed(0)
    a = layer(x, lengths)[0]
    torch.manual_seed(1)
    b = layer(x, lengths)[0]
    assert not torch.allclose(a, b)
    padding = torch.arange(5)[None, :] >= lengths[:, None]
    assert (a[padding] == 0).all()


@pytest.mark.filterwarnings("ignore:dropout option adds dropout")
def test_one_layer_has_no_dropout_as_in_nn_lstm():
    # nn.LSTM drops the inputs of layers 2..L, never the first layer's input: with one layer
    # dropout has no effect at all in training.
    layer = rnn.BiLSTM(4, 3, num_layers=1, dropout=0.9)
    x, lengths = torch.randn(2, 4, 4), torch.tensor([4, 3])
    layer.train()
    assert torch.equal(layer(x, lengths)[0], layer(x, lengths)[0])


def test_lengths_may_live_on_any_device_and_in_any_integer_type():
    reference, layer = pair("lstm", 4, 3, 1, torch.float64)
    x = torch.randn(2, 4, 4, dtype=torch.float64)
    a = layer(x, torch.tensor([4, 2], dtype=torch.int32))[0]
    b = layer(x, [4, 2])[0]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("lengths", "error", "message"),
    [
        (torch.tensor([[3, 2]]), ValueError, "1-D"),
        (torch.tensor([3, 0]), ValueError, "at least 1"),
        (torch.tensor([3, 5]), ValueError, "exceeds the padded length"),
        (torch.tensor([3, 2, 1]), ValueError, "3 lengths for a batch of 2"),
        (torch.tensor([3.0, 2.0]), TypeError, "integers"),
        (torch.tensor([True, True]), TypeError, "integers"),
    ],
)
def test_bad_lengths_get_clear_errors(lengths, error, message):
    layer = rnn.BiLSTM(4, 3)
    with pytest.raises(error, match=message):
        layer(torch.randn(2, 4, 4), lengths)


def test_bad_shapes_get_clear_errors():
    layer = rnn.BiLSTM(4, 3, num_layers=2)
    with pytest.raises(ValueError, match="batch_first"):
        layer(torch.randn(4, 4), torch.tensor([4]))
    with pytest.raises(ValueError, match="expects 4"):
        layer(torch.randn(2, 4, 5), torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="empty"):
        layer(torch.randn(0, 4, 4), torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match="hx must be"):
        layer(
            torch.randn(2, 4, 4), torch.tensor([4, 4]), (torch.zeros(2, 2, 3), torch.zeros(2, 2, 3))
        )
    with pytest.raises(ValueError, match="always bidirectional"):
        rnn.BiLSTM(4, 3, bidirectional=False)
    with pytest.raises(ValueError, match="proj_size"):
        rnn.BiLSTM(4, 3, proj_size=2)


def test_reverse_index_is_an_involution_that_keeps_padding_in_place():
    lengths = torch.tensor([3, 1, 5])
    index = rnn.reverse_index(lengths, 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    x = torch.arange(15.0).reshape(3, 5, 1)
    twice = rnn.reverse_within_length(rnn.reverse_within_length(x, index), index)
    assert torch.equal(twice, x)


def test_length_mask_is_true_at_real_steps():
    mask = rnn.length_mask(torch.tensor([1, 3]), 4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[True, False, False, False], [True, True, True, False]]
    assert rnn.length_mask(torch.tensor([2], device="meta"), 3).device.type == "meta"


# ---------------------------------------------------------------- whatever the padding holds


def with_padding(x, lengths, value):
    """`x` with every padded step set to `value` (NaN, inf, a huge number, or 0)."""
    padding = torch.arange(x.shape[1])[None, :] >= torch.as_tensor(lengths)[:, None]
    return x.masked_fill(padding[:, :, None], value)


GARBAGE = [float("nan"), float("inf"), float("-inf"), 1e5, -1e5, 1e4]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("value", GARBAGE, ids=str)
def test_nan_inf_or_huge_values_in_the_padding_give_the_packed_result(kind, num_layers, value):
    # nn.LSTM/nn.GRU on the packed batch never read the padding, whatever it holds
    reference, layer = pair(kind, 4, 3, num_layers, torch.float32)
    lengths = torch.tensor([6, 1, 3, 6, 2])
    x = torch.randn(5, 6, 4, generator=torch.Generator().manual_seed(7))
    out_ref, state_ref = packed_reference(reference, x, lengths)
    out_new, state_new = layer(with_padding(x, lengths, value), lengths)
    assert torch.allclose(out_new, out_ref, atol=1e-6, rtol=0)  # zeros at padding, as packed
    for new, ref in zip(as_tuple(state_new), as_tuple(state_ref), strict=True):
        assert torch.allclose(new, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_real_positions_are_bit_identical_to_a_run_on_zero_padding(kind, num_layers, dtype):
    # the padding is zeroed with torch.where, so real steps see exactly the inputs they saw
    # before: outputs and final states equal, bit for bit, those of the same batch padded
    # with zeros (which the layer computes as it always did)
    _, layer = pair(kind, 4, 3, num_layers, dtype)
    lengths = torch.tensor([6, 1, 3, 6, 2])
    x = torch.randn(5, 6, 4, dtype=dtype, generator=torch.Generator().manual_seed(8))
    zero_out, zero_state = layer(with_padding(x, lengths, 0.0), lengths)
    noise = torch.randn(x.shape, dtype=dtype, generator=torch.Generator().manual_seed(9))
    padded = {"random": torch.where(with_padding(x, lengths, 0.0) == 0, noise, x)}
    padded.update({str(v): with_padding(x, lengths, v) for v in GARBAGE})
    for name, x_padded in padded.items():
        out, state = layer(x_padded, lengths)
        assert torch.equal(out, zero_out), name
        for s, zero_s in zip(as_tuple(state), as_tuple(zero_state), strict=True):
            assert torch.equal(s, zero_s), name


# ---------------------------------------------------------------- kernel calls


@pytest.mark.parametrize(
    "kind, hx, calls",
    [("lstm", False, [True, True]), ("lstm", True, [False] * 4), ("gru", False, [True, True]),
     ("gru", True, [True, True])],
)
def test_both_directions_run_in_one_call_except_an_lstm_given_a_state(
    kind, hx, calls, both_ways, monkeypatch
):
    # From a zero state the padding read first leaves it zero (and a GRU carries any state
    # through it), so one bidirectional call per layer is exact; an LSTM given (h0, c0) would
    # turn h into o * tanh(c0) in the padding, so it takes one call per direction.
    seen = []
    kernel = getattr(torch, kind)

    def spy(*args):
        seen.append(args[7])  # the `bidirectional` argument
        return kernel(*args)

    monkeypatch.setattr(rnn.torch, kind, spy)
    _, layer = pair(kind, 4, 3, 2, torch.float32)
    state = None
    if hx:
        h0 = torch.zeros(4, 2, 3)
        state = (h0, h0.clone()) if kind == "lstm" else h0
    layer(torch.randn(2, 5, 4), torch.tensor([5, 2]), state)
    assert seen == (calls if both_ways else [False] * 4)


# ---------------------------------------------------------------- two sentences per row (BiLSTM.forward_pair)


def assert_pair_same(a_lengths, b_lengths, steps_a, steps_b, num_layers, dtype, input_size=4, hidden=3,
                     padding_value=None):
    """forward_pair against the packed nn.LSTM run once on a and once on b: outputs, input
    gradients and weight gradients."""
    reference, layer = pair("lstm", input_size, hidden, num_layers, dtype)
    batch = len(a_lengths)
    a_lengths, b_lengths = torch.tensor(a_lengths), torch.tensor(b_lengths)
    gen = torch.Generator().manual_seed(batch * 31 + steps_a + 7 * steps_b)
    x_a = torch.randn(batch, steps_a, input_size, dtype=dtype, generator=gen)
    x_b = torch.randn(batch, steps_b, input_size, dtype=dtype, generator=gen)
    refs = [x.clone().requires_grad_() for x in (x_a, x_b)]
    if padding_value is not None:  # what the padding holds must not matter
        x_a, x_b = with_padding(x_a, a_lengths, padding_value), with_padding(x_b, b_lengths, padding_value)
    news = [x.clone().requires_grad_() for x in (x_a, x_b)]
    out_a_ref = packed_reference(reference, refs[0], a_lengths)[0]
    out_b_ref = packed_reference(reference, refs[1], b_lengths)[0]
    out_a, out_b = layer.forward_pair(news[0], a_lengths, news[1], b_lengths)
    tol = TOLERANCE[dtype]
    assert out_a.shape == (batch, steps_a, 2 * hidden) and out_b.shape == (batch, steps_b, 2 * hidden)
    torch.testing.assert_close(out_a, out_a_ref, atol=tol, rtol=0)
    torch.testing.assert_close(out_b, out_b_ref, atol=tol, rtol=0)
    (loss_of(out_a_ref, ()) + 2 * loss_of(out_b_ref, ())).backward()
    (loss_of(out_a, ()) + 2 * loss_of(out_b, ())).backward()
    for new, ref in zip(news, refs, strict=True):
        torch.testing.assert_close(new.grad, ref.grad, atol=tol, rtol=0)
    ref_params = dict(reference.named_parameters())
    for name, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=tol, rtol=0, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize(
    "a_lengths, b_lengths, steps_a, steps_b",
    [([4, 1, 3, 4, 2], [2, 5, 1, 5, 3], 4, 5),  # both vary, each padded to its longest
     ([3, 3], [2, 2], 3, 2),  # no padding at all
     ([2, 1], [1, 2], 6, 4)],  # padded beyond the longest (T below Ta: a's slice must still fit)
)
def test_forward_pair_equals_two_packed_runs(a_lengths, b_lengths, steps_a, steps_b, num_layers, dtype):
    assert_pair_same(a_lengths, b_lengths, steps_a, steps_b, num_layers, dtype)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), steps_a=st.integers(1, 7), steps_b=st.integers(1, 7),
       num_layers=st.integers(1, 2), input_size=st.integers(1, 4), hidden=st.integers(1, 3))
def test_forward_pair_equals_two_packed_runs_for_any_shapes(data, steps_a, steps_b, num_layers, input_size, hidden):
    batch = data.draw(st.integers(1, 5))
    a_lengths = data.draw(st.lists(st.integers(1, steps_a), min_size=batch, max_size=batch))
    b_lengths = data.draw(st.lists(st.integers(1, steps_b), min_size=batch, max_size=batch))
    assert_pair_same(a_lengths, b_lengths, steps_a, steps_b, num_layers, torch.float64, input_size, hidden)


@pytest.mark.parametrize("value", GARBAGE, ids=str)
def test_forward_pair_never_reads_the_padding(value):
    assert_pair_same([4, 1, 3], [2, 5, 1], 4, 5, 2, torch.float32, padding_value=value)


def test_forward_pair_runs_one_bidirectional_call_per_layer(monkeypatch):
    seen = []
    kernel = torch.lstm

    def spy(*args):
        seen.append((args[0].shape, args[7]))  # input (B, T, E + 1), bidirectional
        return kernel(*args)

    monkeypatch.setattr(rnn.torch, "lstm", spy)
    _, layer = pair("lstm", 4, 3, 2, torch.float32)
    layer.forward_pair(torch.randn(2, 5, 4), torch.tensor([5, 2]), torch.randn(2, 3, 4), torch.tensor([1, 3]))
    # T = max(5 + 1 + 1, 2 + 1 + 3) = 7 steps; layer 2 reads layer 1's 2H = 6 features
    assert seen == [(torch.Size([2, 7, 5]), True), (torch.Size([2, 7, 7]), True)]


def test_pair_layout_puts_a_then_a_reset_step_then_b():
    source = rnn.pair_layout(torch.tensor([2, 1]), torch.tensor([1, 3]), 5, 3, 3)
    # row 0: a0 a1 | reset | b0 | pad; row 1: a0 | reset | b0 b1 b2. Ta + Tb = 6 is the zero row
    assert source.tolist() == [[0, 1, 6, 3, 6], [0, 6, 3, 4, 5]]


def test_forward_pair_bad_inputs_get_clear_errors():
    _, layer = pair("lstm", 4, 3, 1, torch.float32)
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="x_a has 2 rows and x_b 3"):
        layer.forward_pair(x, [3, 1], torch.randn(3, 3, 4), [1, 1, 1])
    with pytest.raises(ValueError, match="x has 5 features, the layer expects 4"):
        layer.forward_pair(x, [3, 1], torch.randn(2, 3, 5), [1, 1])
    with pytest.raises(ValueError, match="got 1 lengths for a batch of 2"):
        layer.forward_pair(x, [3, 1], x, [1])
    with pytest.raises(ValueError, match="exceeds the padded length"):
        layer.forward_pair(x, [4, 1], x, [1, 1])
