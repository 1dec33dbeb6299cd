"""The from-scratch LSTM equals nn.LSTM with copied weights: outputs, states and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nlpbook import text
from nlpbook.models import lstm
from nlpbook.models.lstm import LSTM, LSTMCell, SentimentLSTM, SentimentLSTMConfig, classify_review

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _pair(num_layers: int, batch_first: bool, dtype: torch.dtype, dropout: float = 0.0):
    torch.manual_seed(0)
    reference = nn.LSTM(3, 5, num_layers=num_layers, batch_first=batch_first, dropout=dropout)
    scratch = LSTM(3, 5, num_layers=num_layers, batch_first=batch_first, dropout=dropout)
    scratch.load_state_dict(reference.state_dict())
    return reference.to(dtype), scratch.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_scratch_equals_nn_lstm(dtype, num_layers, batch_first, with_state):
    reference, scratch = _pair(num_layers, batch_first, dtype)
    tol = TOLERANCE[dtype]
    B, T = 4, 7
    x = torch.randn((B, T, 3) if batch_first else (T, B, 3), dtype=dtype)
    state = None
    if with_state:
        state = tuple(torch.randn(num_layers, B, 5, dtype=dtype) for _ in range(2))
    x_ref, x_scr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, (h_ref, c_ref) = reference(x_ref, state)
    out_scr, (h_scr, c_scr) = scratch(x_scr, state)
    assert out_scr.shape == out_ref.shape
    torch.testing.assert_close(out_scr, out_ref, atol=tol, rtol=0)
    torch.testing.assert_close(h_scr, h_ref, atol=tol, rtol=0)
    torch.testing.assert_close(c_scr, c_ref, atol=tol, rtol=0)
    # A loss that touches every output, h_n and c_n, with different weights.
    w = torch.randn_like(out_ref)
    loss_ref = (out_ref * w).sum() + h_ref.pow(2).sum() + c_ref.sum()
    loss_scr = (out_scr * w).sum() + h_scr.pow(2).sum() + c_scr.sum()
    loss_ref.backward()
    loss_scr.backward()
    grads_scr = dict(scratch.named_parameters())
    names = [n for n, _ in reference.named_parameters()]
    assert sorted(names) == sorted(grads_scr)
    for name, p in reference.named_parameters():
        torch.testing.assert_close(grads_scr[name].grad, p.grad, atol=tol, rtol=0, msg=name)
    torch.testing.assert_close(x_scr.grad, x_ref.grad, atol=tol, rtol=0)


def test_a_wrong_weight_is_detected():
    reference, scratch = _pair(1, True, torch.float64)
    with torch.no_grad():
        scratch.weight_hh_l0[0, 0] += 1e-3
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    assert not torch.allclose(scratch(x)[0], reference(x)[0], atol=1e-10, rtol=0)


def test_cell_matches_nn_lstmcell():
    torch.manual_seed(1)
    reference = nn.LSTMCell(3, 4).double()
    cell = LSTMCell(3, 4).double()
    cell.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    state = (torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64))
    for mine, theirs in zip(cell(x, state), reference(x, state), strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-10, rtol=0)


def test_dropout_between_layers_only_in_training():
    reference, scratch = _pair(2, True, torch.float64, dropout=0.5)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    scratch.eval()
    reference.eval()
    torch.testing.assert_close(scratch(x)[0], reference(x)[0], atol=1e-10, rtol=0)
    scratch.train()
    torch.manual_seed(0)
    a = scratch(x)[0]
    torch.manual_seed(1)
    b = scratch(x)[0]
    assert not torch.allclose(a, b)


def test_record_gates_shapes_and_ranges():
    _, scratch = _pair(2, True, torch.float32)
    scratch.record_gates = True
    scratch(torch.randn(2, 5, 3))
    assert len(scratch.gates) == 2
    for layer in scratch.gates:
        assert set(layer) == {"i", "f", "g", "o"}
        for name, value in layer.items():
            assert value.shape == (2, 5, 5)
            low = -1.0 if name == "g" else 0.0
            assert low <= value.min() and value.max() <= 1.0
    scratch.record_gates = False
    scratch(torch.randn(2, 5, 3))
    assert scratch.gates == []


def test_double_and_to_move_the_parameters_that_forward_uses():
    # forward reads the registered parameters, so .double() / .to() need no private hook
    torch.manual_seed(0)
    reference = nn.LSTM(3, 4, num_layers=2).double()
    scratch = LSTM(3, 4, num_layers=2).double()
    assert {p.dtype for p in scratch.parameters()} == {torch.float64}
    scratch.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, (h, c) = scratch(x)
    ref_out, (ref_h, ref_c) = reference(x)
    for mine, theirs in ((out, ref_out), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(mine, theirs, atol=1e-10, rtol=0)
    single = scratch.to(torch.float32)(x.float())[0]
    assert single.dtype == torch.float32
    torch.testing.assert_close(single, ref_out.float(), atol=1e-5, rtol=0)
    assert scratch.to("meta")(x.to("meta"))[0].device.type == "meta"  # moved, not copied


def test_layer_parameters_are_the_registered_ones_in_nn_lstm_order():
    scratch = LSTM(3, 4, num_layers=2)
    names = [f"{p}_l1" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert all(a is getattr(scratch, n) for a, n in zip(scratch.layer_parameters(1), names, strict=True))
    assert [n for n, _ in scratch.named_parameters()] == [n for n, _ in nn.LSTM(3, 4, 2).named_parameters()]


def expected_init(seed: int, input_size: int, hidden: int, num_layers: int) -> list[torch.Tensor]:
    """The pre-refactor initialisation, by hand: per layer weight_ih, weight_hh, bias_ih and
    bias_hh, each torch.empty then uniform_(-1/sqrt(H), 1/sqrt(H)), in that order."""
    torch.manual_seed(seed)
    bound = 1 / math.sqrt(hidden)
    tensors = []
    for k in range(num_layers):
        inputs = input_size if k == 0 else hidden
        for shape in ((4 * hidden, inputs), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)):
            tensors.append(torch.empty(shape).uniform_(-bound, bound))
    return tensors


@pytest.mark.parametrize("num_layers", [1, 3])
def test_seeded_initialisation_is_the_same_as_before_the_refactor(num_layers):
    expected = expected_init(5, 3, 4, num_layers)
    torch.manual_seed(5)
    scratch = LSTM(3, 4, num_layers=num_layers)
    params = list(scratch.parameters())
    assert len(params) == len(expected)
    assert all(torch.equal(p, e) for p, e in zip(params, expected, strict=True))
    torch.manual_seed(5)
    cell = LSTMCell(3, 4)
    assert all(torch.equal(p, e) for p, e in zip(cell.parameters(), expected[:4], strict=True))


def test_init_parameters_draws_uniform_within_one_over_sqrt_hidden():
    torch.manual_seed(0)
    params = [nn.Parameter(torch.empty(400, 3)), nn.Parameter(torch.empty(400))]
    lstm.init_parameters(16, *params)
    for p in params:
        assert 0.2 < p.abs().max() <= 0.25 and p.min() < -0.2


def test_step_functions_equal_nn_lstmcell_and_return_the_gates():
    torch.manual_seed(2)
    reference = nn.LSTMCell(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    h, c = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    x_proj = lstm.project_input(x, reference.weight_ih, reference.bias_ih, reference.bias_hh)
    h_next, c_next, (i, f, g, o) = lstm.lstm_step(x_proj, (h, c), reference.weight_hh)
    ref_h, ref_c = reference(x, (h, c))
    torch.testing.assert_close(h_next, ref_h, atol=1e-10, rtol=0)
    torch.testing.assert_close(c_next, ref_c, atol=1e-10, rtol=0)
    torch.testing.assert_close(c_next, f * c + i * g, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_next, o * torch.tanh(c_next), atol=1e-12, rtol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="3-D"):
        LSTM(3, 4)(torch.randn(5, 3))


@pytest.mark.parametrize("scratch", [False, True])
def test_sentiment_model_and_classify_review(scratch):
    torch.manual_seed(0)
    vocab = text.Vocab(["<pad>", "<unk>", "good", "bad", "movie"])
    model = SentimentLSTM(SentimentLSTMConfig(len(vocab), 8, 6, num_layers=2, dropout=0.1, scratch=scratch))
    logits = model(torch.randint(0, 5, (3, 10)))
    assert logits.shape == (3,)
    result = classify_review(model, vocab, "Good movie!", seq_len=10)
    assert result["label"] in ("positive", "negative")
    assert 0.0 <= result["probability"] <= 1.0
    assert result["known"] == 2
    with pytest.raises(text.NoKnownWords, match="no word of the review.*2 tokens"):
        classify_review(model, vocab, "zzz qqq", seq_len=10)
    # only the kept (last seq_len) tokens count: the known word is cut off
    with pytest.raises(text.NoKnownWords):
        classify_review(model, vocab, "good " + "zzz " * 10, seq_len=10)
    assert classify_review(model, vocab, "good " + "zzz " * 9, seq_len=10)["known"] == 1
    with pytest.raises(ValueError, match="empty"):
        classify_review(model, vocab, "   ", seq_len=10)
    with pytest.raises(TypeError, match="string"):
        classify_review(model, vocab, None, seq_len=10)


def test_scratch_and_builtin_sentiment_models_agree():
    torch.manual_seed(0)
    builtin = SentimentLSTM(SentimentLSTMConfig(20, 4, 5, num_layers=2, scratch=False)).double().eval()
    scratch = SentimentLSTM(SentimentLSTMConfig(20, 4, 5, num_layers=2, scratch=True)).double().eval()
    scratch.load_state_dict(builtin.state_dict())
    ids = torch.randint(0, 20, (3, 9))
    torch.testing.assert_close(scratch(ids), builtin(ids), atol=1e-10, rtol=0)


def test_classify_review_keeps_the_last_tokens_unless_told_first():
    torch.manual_seed(0)
    vocab = text.Vocab(["<pad>", "<unk>", "good", "bad", "movie"])
    model = SentimentLSTM(SentimentLSTMConfig(len(vocab), 8, 6))
    review = "good " + "zzz " * 10  # the known word is the first of 11 tokens
    assert classify_review(model, vocab, review, seq_len=10, keep="first")["known"] == 1
    with pytest.raises(text.NoKnownWords):
        classify_review(model, vocab, review, seq_len=10)  # default: the last 10
    with pytest.raises(ValueError, match="keep"):
        classify_review(model, vocab, review, seq_len=10, keep="end")  # the old spelling


@pytest.mark.parametrize("scratch", [False, True])
def test_classify_review_refuses_a_model_whose_output_is_not_finite(scratch):
    torch.manual_seed(0)
    vocab = text.Vocab(["<pad>", "<unk>", "good", "bad", "movie"])
    model = SentimentLSTM(SentimentLSTMConfig(len(vocab), 8, 6, scratch=scratch))
    with torch.no_grad():
        model.fc.bias.fill_(float("nan"))  # a NaN probability was labelled 'negative'
    with pytest.raises(ValueError, match="not finite"):
        classify_review(model, vocab, "Good movie!", seq_len=10)


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, True, "0.5", None])
def test_classify_review_refuses_a_threshold_that_is_not_a_probability(bad):
    # with NaN every review was labelled 'negative': no comparison with NaN is true
    vocab = text.Vocab(["<pad>", "<unk>", "good"])
    model = SentimentLSTM(SentimentLSTMConfig(len(vocab), 4, 3, num_layers=1))
    message = f"threshold must be a probability from 0 to 1, not {bad!r}"
    with pytest.raises(ValueError, match=message):
        classify_review(model, vocab, "good", seq_len=4, threshold=bad)
    for good in (0, 1, 0.5, np.float32(0.5)):
        assert classify_review(model, vocab, "good", seq_len=4, threshold=good)["label"]
