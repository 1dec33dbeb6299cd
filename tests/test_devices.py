"""Device consistency without a GPU (issue 23): every model's forward, loss, decoding and
training step run with the model and its inputs on PyTorch's meta device.

A tensor made without `device=` lands on the CPU, and here it may not meet a meta tensor, as
it may not meet a CUDA tensor, so the bug that stopped chapter 05 on GPUs (`rank_of_target`
building its id range on the CPU) fails here. Many meta kernels accept a CPU operand that
CUDA refuses (matmul, cdist, embedding, gather), so `SameDevice` checks every operation the
way CUDA does. Meta tensors hold no values: a boolean mask selects every position
(`meta_masks`), and a function that reads a value back (`.item()`, `int()`, `.tolist()`) is
checked up to that read (`stops_at_the_first_read`), the rest of it by the tests of its
parts. Lengths stay on the CPU, as the collate functions give them and as packing wants
them; `rnn.check_lengths` moves them to the inputs' device. (The dispatch mode and the mask
switch are PyTorch internals, pinned by the lock file.)
"""

from __future__ import annotations

import pytest
import torch
import torch.fx.experimental._config as fx_config
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from nlpbook import batching, corpus, rnn, text, train
from nlpbook.models import blank_filling, esim, infill, lstm, sentiment
from nlpbook.models.esim import ESIM, ESIMConfig
from nlpbook.models.infill import InfillConfig, InfillModel
from nlpbook.models.logreg import LogisticRegression
from nlpbook.models.lstm import LSTM, LSTMCell, SentimentLSTM, SentimentLSTMConfig
from nlpbook.models.sentiment import BiLSTMSentiment, BiLSTMSentimentConfig

META = torch.device("meta")
# What a meta tensor says when asked for a value it does not have; a device mismatch says
# something else ("... is not on the expected device meta!", "Expected all tensors ...").
READ_BACK = r"cannot be called on meta tensors|Cannot copy out of meta tensor"
VOCAB = text.Vocab(["<pad>", "<unk>", "<beg>", "<end>", "the", "movie", "was", "good", "bad"])
IDS = torch.tensor([[2, 4, 5, 6, 7, 3], [2, 5, 6, 8, 3, 0]])  # (B, T), padded; CPU, as collated
LENGTHS = torch.tensor([6, 5])  # (B,) on the CPU, as collated


aten = torch.ops.aten


class SameDevice(TorchDispatchMode):
    """Refuse any operation whose tensors live on more than one device, as CUDA does. Allowed,
    as on CUDA: 0-dim CPU tensors (scalars), CPU indices for indexing, copies across devices."""

    MAY_MIX = {aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_, aten.copy_}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket not in self.MAY_MIX:
            tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            devices = {t.device for t in tensors if t.dim() > 0 or t.device.type != "cpu"}
            if len(devices) > 1:
                raise RuntimeError(f"{func} got tensors on different devices: {devices}")
        return func(*args, **kwargs)


@pytest.fixture(autouse=True)
def same_device():
    with SameDevice():
        yield


@pytest.fixture(autouse=True)
def meta_masks():
    """Let `x[mask]` run on meta by assuming every mask entry is True (the shapes stay
    consistent: output[mask] and ids[mask] get the same rows), so masked code runs on."""
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        yield


def on_meta(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "meta"


def stops_at_the_first_read(call) -> None:
    """`call` runs on meta until it reads a value back, and fails there, not earlier on a
    tensor that another device made."""
    with pytest.raises((RuntimeError, NotImplementedError), match=READ_BACK):
        call()


def training_step(model: nn.Module, loss: torch.Tensor) -> None:
    """Backward, clipping and an Adam step, all on the model's device."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    assert all(on_meta(p) and on_meta(p.grad) for p in model.parameters() if p.requires_grad)


def test_meta_refuses_a_cpu_tensor_as_cuda_does():
    # the premise of this file: what CUDA refuses is refused here, what it allows is allowed
    weight = torch.ones(5, 3, device=META)
    for mixed in [
        lambda: weight + torch.ones(3),
        lambda: torch.where(torch.arange(5)[:, None] < 1, weight, 0),
        lambda: weight @ torch.ones(3, 2),  # the meta kernel alone would allow these three
        lambda: nn.functional.embedding(torch.tensor([1, 2]), weight),
        lambda: weight.gather(0, torch.zeros(1, 3, dtype=torch.long)),
    ]:
        with pytest.raises(RuntimeError, match="device"):
            mixed()
    assert on_meta(weight * torch.tensor(2.0))  # a CPU scalar
    assert on_meta(weight[torch.tensor([0, 4])])  # CPU indices
    assert on_meta(torch.ones(3).to(META))


# ---------------------------------------------------------------- chapters 01-02


def test_logistic_regression_on_meta():
    torch.manual_seed(0)
    model = LogisticRegression().to(META)
    x, y = torch.randn(5, 2, device=META), torch.ones(5, device=META)
    assert on_meta(model(x)) and model(x).shape == (5,)
    assert on_meta(model.predict_proba(x))
    training_step(model, nn.functional.binary_cross_entropy_with_logits(model(x), y))


def test_scratch_lstm_cell_and_lstm_on_meta():
    torch.manual_seed(0)
    cell = LSTMCell(3, 4).to(META)
    h, c = cell(torch.randn(2, 3, device=META))  # the zero state is made on x's device
    assert on_meta(h) and on_meta(c) and h.shape == (2, 4)
    model = LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.5).to(META)
    model.record_gates = True
    output, (h_n, c_n) = model(torch.randn(2, 5, 3, device=META))
    assert on_meta(output) and output.shape == (2, 5, 4)
    assert on_meta(h_n) and h_n.shape == (2, 2, 4) and on_meta(c_n)
    assert all(on_meta(g) for layer in model.gates for g in layer.values())
    training_step(model, output.sum())


@pytest.mark.parametrize("scratch", [False, True])
def test_sentiment_lstm_and_classify_review_on_meta(scratch, monkeypatch):
    torch.manual_seed(0)
    config = SentimentLSTMConfig(len(VOCAB), 6, 5, num_layers=2, scratch=scratch)
    model = SentimentLSTM(config).to(META)
    logits = model(IDS.to(META))
    assert on_meta(logits) and logits.shape == (2,)
    labels = torch.tensor([1.0, 0.0], device=META)
    training_step(model, nn.functional.binary_cross_entropy_with_logits(logits, labels))
    # require_finite reads values; what it checks does not depend on the device
    monkeypatch.setattr(lstm, "require_finite", lambda output, what: None)
    stops_at_the_first_read(lambda: lstm.classify_review(model, VOCAB, "good movie", 6))


def test_train_run_epoch_moves_the_batch_to_the_device():
    torch.manual_seed(0)
    model = SentimentLSTM(SentimentLSTMConfig(len(VOCAB), 6, 5, num_layers=1)).to(META)
    batch = (IDS, torch.tensor([1, 0]))  # on the CPU, as a DataLoader gives it
    loss_fn = nn.BCEWithLogitsLoss()
    # to_device, the forward pass and the loss run on meta; loss.item() is the first read
    stops_at_the_first_read(lambda: train.run_epoch(model, [batch], loss_fn, device=META))
    moved = train.to_device(batching.collate_pairs([([4, 5], [6], 1), ([7], [8, 5], 0)]), META)
    assert all(on_meta(t) for t in moved)


# ---------------------------------------------------------------- rnn (chapters 03-05)


@pytest.mark.parametrize("layer", [rnn.BiLSTM, rnn.BiGRU])
def test_padded_bidirectional_layers_on_meta(layer):
    torch.manual_seed(0)
    module = layer(4, 3, num_layers=2, dropout=0.5).to(META)
    x = torch.randn(2, 6, 4, device=META)
    output, final = module(x, LENGTHS)  # CPU lengths, moved by check_lengths
    states = final if isinstance(final, tuple) else (final,)
    assert on_meta(output) and output.shape == (2, 6, 6)
    assert all(on_meta(s) and s.shape == (4, 2, 3) for s in states)
    hx = tuple(torch.zeros(4, 2, 3, device=META) for _ in states)
    again, _ = module(x, LENGTHS, hx if len(hx) == 2 else hx[0])
    assert on_meta(again)
    training_step(module, output.sum())


def test_length_mask_and_reversal_stay_on_the_lengths_device():
    lengths = LENGTHS.to(META)
    assert on_meta(rnn.length_mask(lengths, 6)) and rnn.length_mask(lengths, 6).shape == (2, 6)
    index = rnn.reverse_index(lengths, 6)
    assert on_meta(index)
    reversed_x = rnn.reverse_within_length(torch.randn(2, 6, 3, device=META), index)
    assert on_meta(reversed_x) and reversed_x.shape == (2, 6, 3)
    assert on_meta(rnn.check_lengths(torch.zeros(2, 6, 3, device=META), LENGTHS))


# ---------------------------------------------------------------- chapter 03


def test_bilstm_sentiment_and_predict_on_meta(monkeypatch):
    torch.manual_seed(0)
    model = BiLSTMSentiment(BiLSTMSentimentConfig(len(VOCAB), 6, 5)).to(META)
    logits = model(IDS.to(META), LENGTHS)
    assert on_meta(logits) and logits.shape == (2,)
    labels = torch.tensor([1.0, 0.0], device=META)
    training_step(model, nn.functional.binary_cross_entropy_with_logits(logits, labels))
    monkeypatch.setattr(sentiment, "require_finite", lambda output, what: None)
    predict = sentiment.predict_sentiment
    stops_at_the_first_read(lambda: predict(model, VOCAB, "good movie", str.split))


# ---------------------------------------------------------------- chapter 04


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("exact_match", [False, True])
def test_esim_on_meta(packed, exact_match, monkeypatch):
    torch.manual_seed(0)
    config = ESIMConfig(len(VOCAB), 6, 5, packed=packed, exact_match=exact_match)
    model = ESIM(config).to(META)
    a, b = IDS.to(META), IDS[:, :4].to(META)
    logits, a_to_b, b_to_a = model(a, LENGTHS, b, torch.tensor([4, 3]), return_attention=True)
    assert on_meta(logits) and logits.shape == (2, 3)
    assert on_meta(a_to_b) and a_to_b.shape == (2, 6, 4) and on_meta(b_to_a)
    loss = nn.functional.cross_entropy(logits, torch.tensor([0, 2], device=META))
    training_step(model, loss)
    model.eval()
    monkeypatch.setattr(esim, "require_finite", lambda output, what: None)
    _, _, out = esim._run_one(model, VOCAB, "the movie", "was good")  # everything up to a read
    assert all(on_meta(t) for t in out)
    stops_at_the_first_read(lambda: esim.predict(model, VOCAB, "the movie", "was good"))


# ---------------------------------------------------------------- chapter 05

CODES = (torch.rand(len(VOCAB), 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
LOG_PRIOR = corpus.unigram_log_prior(IDS.tolist(), len(VOCAB))  # on the CPU, as chapter 05's


def infill_model(head: str) -> InfillModel:
    torch.manual_seed(0)
    width = CODES.shape[1] if head == "binary" else len(VOCAB)
    return InfillModel(InfillConfig(len(VOCAB), width, 6, 5, 7)).to(META)


@pytest.mark.parametrize("head", infill.HEADS)
def test_infill_model_loss_and_objective_on_meta(head):
    model = infill_model(head)
    ids = IDS.to(META)
    output = model(ids, LENGTHS)
    assert on_meta(output) and output.shape[:2] == (2, 6)
    codes = CODES if head == "binary" else None  # on the CPU: Objective moves them
    objective = infill.Objective(head, codes)
    loss = objective.loss(output, ids)
    assert on_meta(loss)
    training_step(model, loss)
    stops_at_the_first_read(lambda: objective.score(output.detach(), ids))  # int() at the end


def test_rank_of_target_on_meta():
    # chapter 05 failed on CUDA here: the id range was built on the CPU (issue 23)
    scores = torch.randn(3, len(VOCAB), device=META)
    ranks = infill.rank_of_target(scores, torch.tensor([4, 5, 8], device=META))
    assert on_meta(ranks) and ranks.shape == (3,)


@pytest.mark.parametrize(
    ("head", "metric"), [("softmax", "likelihood")] + [("binary", m) for m in infill.METRICS]
)
def test_word_scores_and_target_ranks_on_meta(head, metric):
    # codes and the prior stay on the CPU, as chapter 05 builds them
    codes = CODES if head == "binary" else None
    width = CODES.shape[1] if head == "binary" else len(VOCAB)
    output, targets = torch.randn(5, width, device=META), torch.tensor([4, 5, 6, 7, 8], device=META)
    scores = infill.word_scores(output, head, codes, metric, LOG_PRIOR)
    assert on_meta(scores) and scores.shape == (5, len(VOCAB))
    ranks = infill.target_ranks(output, targets, head, codes, metric, LOG_PRIOR, chunk=len(VOCAB))
    assert on_meta(ranks) and ranks.shape == (5,)  # five chunks of one row


@pytest.mark.parametrize("head", infill.HEADS)
def test_blank_scores_fill_blank_and_evaluate_on_meta(head, monkeypatch):
    model = infill_model(head)
    codes = CODES if head == "binary" else None
    monkeypatch.setattr(blank_filling, "require_finite", lambda output, what: None)
    scores = blank_filling.blank_scores(
        model, VOCAB, "the __ was good", head, codes, log_prior=LOG_PRIOR
    )
    assert on_meta(scores) and scores.shape == (len(VOCAB),)
    stops_at_the_first_read(
        lambda: blank_filling.fill_blank(model, VOCAB, "the __ was good", head, codes)
    )
    loader = [(IDS, LENGTHS, IDS)]  # collate_targets' batch, on the CPU
    stops_at_the_first_read(lambda: infill.evaluate(model, loader, head, codes, device=META))
