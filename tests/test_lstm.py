"""The from-scratch LSTM equals nn.LSTM with copied weights: outputs, states and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nlpbook import text
from nlpbook.models.lstm import LSTM, LSTMCell, SentimentLSTM, predict_sentiment

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


def test_to_double_keeps_cells_and_parameters_in_sync():
    scratch = LSTM(3, 4, num_layers=2).double()
    assert scratch.cells[1].weight_hh is scratch.weight_hh_l1
    assert scratch.cells[0].weight_ih.dtype == torch.float64


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="3-D"):
        LSTM(3, 4)(torch.randn(5, 3))


@pytest.mark.parametrize("scratch", [False, True])
def test_sentiment_model_and_predict(scratch):
    torch.manual_seed(0)
    vocab = text.Vocab(["<pad>", "<unk>", "good", "bad", "movie"])
    model = SentimentLSTM(len(vocab), 8, 6, num_layers=2, dropout=0.1, scratch=scratch)
    logits = model(torch.randint(0, 5, (3, 10)))
    assert logits.shape == (3,)
    result = predict_sentiment(model, vocab, "Good movie!", seq_len=10)
    assert result["label"] in ("positive", "negative")
    assert 0.0 <= result["probability"] <= 1.0
    assert result["known"] == 2
    with pytest.raises(text.NoKnownWords, match="no word of the review.*2 tokens"):
        predict_sentiment(model, vocab, "zzz qqq", seq_len=10)
    # only the kept (last seq_len) tokens count: the known word is cut off
    with pytest.raises(text.NoKnownWords):
        predict_sentiment(model, vocab, "good " + "zzz " * 10, seq_len=10)
    assert predict_sentiment(model, vocab, "good " + "zzz " * 9, seq_len=10)["known"] == 1
    with pytest.raises(ValueError, match="empty"):
        predict_sentiment(model, vocab, "   ", seq_len=10)
    with pytest.raises(TypeError, match="string"):
        predict_sentiment(model, vocab, None, seq_len=10)


def test_scratch_and_builtin_sentiment_models_agree():
    torch.manual_seed(0)
    builtin = SentimentLSTM(20, 4, 5, num_layers=2, scratch=False).double().eval()
    scratch = SentimentLSTM(20, 4, 5, num_layers=2, scratch=True).double().eval()
    scratch.load_state_dict(builtin.state_dict())
    ids = torch.randint(0, 20, (3, 9))
    torch.testing.assert_close(scratch(ids), builtin(ids), atol=1e-10, rtol=0)
