"""Chapter 05's word-infilling model: the shift, the masked losses, decoding, `Objective` and
training with `train.fit`. The corpus helpers are tested in test_corpus.py."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.data import DataLoader

from nlpbook import batching, corpus, text, train
from nlpbook.models import blank_filling, infill
from nlpbook.models.infill import InfillConfig, InfillModel


def test_shift_context_sees_only_neighbours():
    output = torch.arange(1, 13, dtype=torch.float).reshape(1, 3, 4)  # (B, T, 2H), H = 2
    shifted = infill.shift_context(output)
    assert shifted[0, 0].tolist() == [0, 0, 7, 8]  # no left context, backward of t=1
    assert shifted[0, 1].tolist() == [1, 2, 11, 12]  # forward of t=0, backward of t=2
    assert shifted[0, 2].tolist() == [5, 6, 0, 0]


@pytest.mark.parametrize("out_features", [8, 12])
def test_prediction_at_t_does_not_depend_on_word_at_t(out_features):
    torch.manual_seed(0)
    model = InfillModel(
        InfillConfig(12, out_features, embedding_dim=6, hidden_size=5, mlp_size=7)
    ).eval()
    ids = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]])
    lengths = torch.tensor([6, 4])
    base = model(ids, lengths)
    for t in (1, 2, 3, 4):
        changed = ids.clone()
        changed[0, t] = 11
        out = model(changed, lengths)
        assert torch.allclose(out[0, t], base[0, t], atol=1e-6)  # position t is blind to itself
        others = [s for s in range(6) if s != t]
        assert not torch.allclose(out[0, others], base[0, others])  # but its neighbours see it
    assert torch.allclose(out[1], base[1])  # the other sentence is untouched


def test_padding_does_not_change_predictions():
    torch.manual_seed(0)
    model = InfillModel(InfillConfig(12, 8, embedding_dim=6, hidden_size=5, mlp_size=7)).eval()
    alone = model(torch.tensor([[2, 9, 10, 3]]), torch.tensor([4]))
    padded = model(torch.tensor([[2, 9, 10, 3, 0, 0]]), torch.tensor([4]))
    assert torch.allclose(alone[0], padded[0, :4], atol=1e-6)


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_loss_ignores_pad_unk_and_markers(head):
    torch.manual_seed(0)
    codes = (torch.rand(10, 6) > 0.5).float()
    codes[: corpus.FIRST_WORD] = 0
    ids = torch.tensor([[2, 5, 1, 7, 3], [2, 8, 3, 0, 0]])  # unk (1) at [0, 2]
    width = 6 if head == "binary" else 10
    output = torch.randn(2, 5, width, requires_grad=True)
    loss = infill.infill_loss(output, ids, head, codes)
    loss.backward()
    masked = ~corpus.target_mask(ids)
    assert output.grad[masked].abs().sum() == 0
    assert output.grad[~masked].abs().sum() > 0
    noisy = output.detach().clone()
    noisy[masked] = torch.randn(int(masked.sum()), width) * 100
    assert torch.allclose(infill.infill_loss(noisy, ids, head, codes), loss.detach())
    # equal to the loss over the three target positions alone
    keep = output.detach()[~masked]  # (3, width)
    targets = ids[~masked]
    if head == "softmax":
        expected = torch.nn.functional.cross_entropy(keep, targets)
    else:
        expected = torch.nn.functional.binary_cross_entropy_with_logits(keep, codes[targets])
    assert torch.allclose(loss.detach(), expected)


def test_bad_head_is_an_error():
    with pytest.raises(ValueError, match="head must be"):
        infill.infill_loss(torch.zeros(1, 3, 4), torch.tensor([[2, 5, 3]]), "sigmoid")


def test_decoding_by_nearest_code():
    codes = torch.tensor(
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 1], [1, 1, 0]],
        dtype=torch.float,
    )
    logits = torch.tensor([[5.0, 5.0, -5.0]])  # bits 1 1 0 -> word 7 exactly
    for metric in infill.METRICS:
        scores = infill.word_scores(logits, "binary", codes, metric)
        assert scores.shape == (1, 8)
        assert torch.isinf(scores[0, : corpus.FIRST_WORD]).all()
        assert int(scores.argmax()) == 7
        assert infill.rank_of_target(scores, torch.tensor([7])).item() == 0
    hamming = infill.word_scores(logits, "binary", codes, "hamming")
    assert hamming[0, 4:].tolist() == [-1, -1, -2, 0]
    likelihood = infill.word_scores(logits, "binary", codes, "likelihood")
    p = torch.sigmoid(logits[0])  # word 5 = bits 1 0 0
    expected = torch.log(p[0]) + torch.log(1 - p[1]) + torch.log(1 - p[2])
    assert torch.allclose(likelihood[0, 5], expected)
    with pytest.raises(ValueError, match="metric"):
        infill.word_scores(logits, "binary", codes, "cosine")


def test_log_prior_is_added_to_binary_scores_only():
    codes = torch.tensor([[0, 0]] * 4 + [[1, 1], [1, 0], [0, 1]], dtype=torch.float)
    logits = torch.tensor([[3.0, 3.0]])  # bits 1 1: word 4 by likelihood
    prior = torch.tensor([-torch.inf] * 4 + [-20.0, -0.1, -5.0])  # word 5 is far more frequent
    plain = infill.word_scores(logits, "binary", codes)
    assert int(plain.argmax()) == 4
    with_prior = infill.word_scores(logits, "binary", codes, log_prior=prior)
    assert torch.allclose(with_prior[0, 4:], plain[0, 4:] + prior[4:])
    assert int(with_prior.argmax()) == 5
    softmax = infill.word_scores(torch.zeros(1, 7), "softmax", log_prior=prior)
    assert torch.allclose(softmax[0, 4:], torch.log(torch.tensor(1 / 7)))  # unchanged


def test_rank_breaks_ties_towards_frequent_words():
    scores = torch.tensor([[-torch.inf] * 4 + [1.0, 2.0, 2.0, 0.0]])
    assert infill.rank_of_target(scores, torch.tensor([5])).item() == 0
    assert infill.rank_of_target(scores, torch.tensor([6])).item() == 1
    assert infill.rank_of_target(scores, torch.tensor([7])).item() == 3


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_fill_blank(vocab, glove, head):
    torch.manual_seed(0)
    codes = corpus.binary_codes(vocab, glove)
    out = codes.shape[1] if head == "binary" else len(vocab)
    model = InfillModel(InfillConfig(len(vocab), out, embedding_dim=6, hidden_size=5, mlp_size=7))
    best = blank_filling.fill_blank(model, vocab, "The movie was __ !", head, codes, k=3)
    assert len(best) == 3 and all(word in vocab.itos[corpus.FIRST_WORD :] for word, _ in best)
    values = [s for _, s in best]
    assert values == sorted(values, reverse=True)  # probabilities or log-likelihoods
    scores = blank_filling.blank_scores(model, vocab, "The movie was __ !", head, codes)
    assert scores.shape == (len(vocab),) and torch.isinf(scores[: corpus.FIRST_WORD]).all()
    assert [vocab.itos[i] for i in scores.topk(3).indices] == [w for w, _ in best]
    with pytest.raises(ValueError, match="no blank"):
        blank_filling.fill_blank(model, vocab, "the movie was good", head, codes)
    with pytest.raises(ValueError, match="more than one blank"):
        blank_filling.fill_blank(model, vocab, "the __ was __", head, codes)
    with pytest.raises(text.NoKnownWords, match="no word of the text around the blank"):
        blank_filling.fill_blank(model, vocab, "qwerty __ asdf", head, codes)
    with pytest.raises(TypeError, match="string"):
        blank_filling.fill_blank(model, vocab, None, head, codes)
    with pytest.raises(ValueError, match="empty"):
        blank_filling.fill_blank(model, vocab, "   ", head, codes)
    everything = blank_filling.fill_blank(model, vocab, "The movie was __ !", head, codes, k=10**6)
    assert sorted(w for w, _ in everything) == sorted(vocab.itos[corpus.FIRST_WORD :])
    for bad_k in [0, -1, 2.5, True]:
        with pytest.raises(ValueError, match="k must be a positive int"):
            blank_filling.fill_blank(model, vocab, "The movie was __ !", head, codes, k=bad_k)


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_fill_blank_refuses_a_text_over_the_token_limit(vocab, glove, head):
    # 10,000 tokens cost +238 MB: the model scores every position of the text
    torch.manual_seed(0)
    codes = corpus.binary_codes(vocab, glove)
    out = codes.shape[1] if head == "binary" else len(vocab)
    model = InfillModel(InfillConfig(len(vocab), out, embedding_dim=6, hidden_size=5, mlp_size=7))
    long_text = " ".join(["movie"] * 300) + " __ " + " ".join(["good"] * 300)  # 601 tokens
    for fill in (blank_filling.fill_blank, blank_filling.blank_scores):
        with pytest.raises(ValueError, match=r"601 tokens.*at most 512"):
            fill(model, vocab, long_text, head, codes)
    just_over = " ".join(["movie"] * 256) + " __ " + " ".join(["good"] * 256)  # 513 tokens
    with pytest.raises(ValueError, match=r"513 tokens.*at most 512"):
        blank_filling.fill_blank(model, vocab, just_over, head, codes)
    at_limit = " ".join(["movie"] * 255) + " __ " + " ".join(["good"] * 256)  # 512 tokens
    assert len(blank_filling.fill_blank(model, vocab, at_limit, head, codes, k=3)) == 3
    assert len(blank_filling.fill_blank(model, vocab, "The movie was __ !", head, codes, k=3)) == 3
    assert blank_filling.MAX_TEXT_TOKENS == 512


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_fill_blank_refuses_a_model_whose_output_is_not_finite(vocab, glove, head):
    torch.manual_seed(0)
    codes = corpus.binary_codes(vocab, glove)
    out = codes.shape[1] if head == "binary" else len(vocab)
    model = InfillModel(InfillConfig(len(vocab), out, embedding_dim=6, hidden_size=5, mlp_size=7))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    for fill in (blank_filling.fill_blank, blank_filling.blank_scores):
        with pytest.raises(ValueError, match="not finite"):
            fill(model, vocab, "The movie was __ !", head, codes)


def test_rank_of_target_stays_on_the_scores_device():
    # The meta device stands in for CUDA: a tensor made without device= lands on the CPU, and
    # mixing it with the scores' device fails the way chapter 05 would fail on a GPU.
    scores = torch.randn(3, 7, device="meta")
    targets = torch.tensor([0, 3, 6], device="meta")
    ranks = infill.rank_of_target(scores, targets)
    assert ranks.device.type == "meta" and ranks.shape == (3,)


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_the_binary_head_without_codes_is_a_clear_error(vocab, head):
    # fill_blank(..., "binary") without codes used to fail inside a matrix product:
    # "unsupported operand type(s) for @: 'NoneType' and 'Tensor'"
    torch.manual_seed(0)
    model = InfillModel(InfillConfig(len(vocab), 8, embedding_dim=6, hidden_size=5, mlp_size=7))
    needs_codes = "the binary head needs its word codes"
    for metric in infill.METRICS:
        with pytest.raises(ValueError, match=needs_codes):
            blank_filling.fill_blank(model, vocab, "The movie was __ !", "binary", metric=metric)
    with pytest.raises(ValueError, match=needs_codes):
        blank_filling.blank_scores(model, vocab, "The movie was __ !", "binary")
    with pytest.raises(ValueError, match=needs_codes):
        infill.word_scores(torch.zeros(2, 8), "binary")
    with pytest.raises(ValueError, match=needs_codes):
        infill.target_ranks(torch.zeros(2, 8), torch.tensor([4, 5]), "binary")
    with pytest.raises(ValueError, match="head must be one of"):
        blank_filling.fill_blank(model, vocab, "The movie was __ !", head + "s")


# ---------------------------------------------------------------- decoding in chunks (issue 23)


def decoding_case(head: str, n: int, words: int = 40, bits: int = 16):
    """Random outputs, targets, codes and prior; words 10 and 11 share a code (a tie)."""
    g = torch.Generator().manual_seed(0)
    codes = (torch.rand(words, bits, generator=g) > 0.5).float()
    codes[: corpus.FIRST_WORD] = 0
    codes[11] = codes[10]
    targets = torch.randint(corpus.FIRST_WORD, words, (n,), generator=g)
    output = 3 * torch.randn(n, bits if head == "binary" else words, generator=g)
    prior = torch.log_softmax(torch.randn(words, generator=g), 0)
    return output, targets, (codes if head == "binary" else None), prior


DECODERS = [("softmax", "likelihood")] + [("binary", metric) for metric in infill.METRICS]


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize(("head", "metric"), DECODERS)
def test_target_ranks_equal_the_unchunked_ranks_bit_for_bit(head, metric, with_prior):
    output, targets, codes, prior = decoding_case(head, 1000)
    prior = prior if with_prior else None
    full = infill.word_scores(output, head, codes, metric, prior)  # (1000, 40) at once
    expected = infill.rank_of_target(full, targets)
    chunk = infill.ROW_BLOCK * 40  # one block of rows: chunks of 384 and 616 rows
    chunks = infill.row_chunks(1000, 40, chunk)
    assert [c.stop - c.start for c in chunks] == [384, 616]
    for rows in chunks:  # each chunk's scores are the unchunked ones, bit for bit
        assert torch.equal(infill.word_scores(output[rows], head, codes, metric, prior), full[rows])
    ranks = infill.target_ranks(output, targets, head, codes, metric, prior, chunk=chunk)
    assert torch.equal(ranks, expected)
    assert torch.equal(infill.target_ranks(output, targets, head, codes, metric, prior), expected)


@pytest.mark.parametrize(("head", "metric"), [("softmax", "likelihood"), ("binary", "hamming")])
def test_row_wise_decoders_give_the_same_ranks_one_row_at_a_time(head, metric):
    # log_softmax and the L1 distance never mix rows, so even single rows agree bit for bit
    output, targets, codes, prior = decoding_case(head, 50)
    expected = infill.rank_of_target(
        infill.word_scores(output, head, codes, metric, prior), targets
    )
    assert len(infill.row_chunks(50, 40, chunk=40)) == 50
    ranks = infill.target_ranks(output, targets, head, codes, metric, prior, chunk=40)
    assert torch.equal(ranks, expected)


def test_row_chunks_cut_aligned_blocks_and_keep_no_short_chunk():
    block = infill.ROW_BLOCK
    full = infill.row_chunks(150_000, 20_004)  # chapter 05's full profile: 1,677 rows fit
    sizes = [c.stop - c.start for c in full]
    assert sizes[0] == 4 * block and set(sizes[:-1]) == {4 * block}
    assert 4 * block <= sizes[-1] < 8 * block and sum(sizes) == 150_000
    assert [c.start for c in full[1:]] == [c.stop for c in full[:-1]]  # contiguous
    assert infill.row_chunks(100, 40) == [slice(0, 100)]  # small: one chunk
    assert infill.row_chunks(0, 40) == [slice(0, 0)]
    assert [c.stop - c.start for c in infill.row_chunks(7, 10, chunk=20)] == [2, 2, 3]
    for bad in [0, -1, 2.5, True]:
        with pytest.raises(ValueError, match="chunk must be a positive int"):
            infill.row_chunks(10, 10, chunk=bad)
    with pytest.raises(ValueError, match="got 3 output rows for 2 targets"):
        infill.target_ranks(torch.zeros(3, 6), torch.tensor([4, 5]), "softmax")


class LargestTensor(TorchDispatchMode):
    """Records the bytes of the largest tensor any operation returns."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.bytes = max(self.bytes, t.numel() * t.element_size())
        return out


def largest_tensor(call) -> int:
    with LargestTensor() as probe:
        call()
    return probe.bytes


def test_target_ranks_bound_the_memory_of_chapter_05s_full_decoding():
    # The full profile's sizes on the meta device, which has shapes but no storage: nothing
    # is allocated. 150k targets, 20k words, 100-bit codes.
    n, words, bits = 150_000, 20_004, 100
    output = torch.zeros(n, bits, device="meta")
    targets = torch.zeros(n, dtype=torch.long, device="meta")
    codes, prior = torch.zeros(words, bits, device="meta"), torch.zeros(words, device="meta")

    def unchunked():
        return infill.rank_of_target(
            infill.word_scores(output, "binary", codes, "likelihood", prior), targets
        )

    def chunked():
        ranks = infill.target_ranks(output, targets, "binary", codes, "likelihood", prior)
        assert ranks.shape == (n,)

    assert largest_tensor(unchunked) >= n * words * 4  # 12 GB: one float32 score matrix
    largest = largest_tensor(chunked)
    assert largest <= 2 * infill.DECODE_CHUNK * 4  # 256 MB: the last chunk has up to 2x the rows
    assert largest_tensor(unchunked) > 40 * largest


# ---------------------------------------------------------------- Objective and train.fit (issue 19)

# words 4 and 5 share a code, so the binary head's likelihood ties them
TIE_CODES = torch.tensor([[0, 0, 0]] * 4 + [[1, 1, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1]]).float()
IDS = torch.tensor([[2, 4, 5, 1, 6, 3], [2, 5, 4, 7, 3, 0]])  # targets 4 5 6 and 5 4 7


def tied_output(head: str) -> torch.Tensor:
    """Every position scores words 4 and 5 equally, and above 6 and 7."""
    row = (
        torch.tensor([5.0, 5.0, -5.0])
        if head == "binary"
        else torch.tensor([0, 0, 0, 0, 3, 3, 1, 1.0])
    )
    return row.expand(2, 6, -1).clone()


@pytest.mark.parametrize("head", infill.HEADS)
def test_objective_score_is_top1_with_ties_to_the_lower_id(head):
    objective = infill.Objective(head, TIE_CODES if head == "binary" else None)
    assert objective.score(tied_output(head), IDS) == (2, 6)  # the tie goes to 4: right for 4s only
    mask = corpus.target_mask(IDS)
    random = torch.randn(
        2, 6, tied_output(head).shape[-1], generator=torch.Generator().manual_seed(0)
    )
    for output in (tied_output(head), random):
        ranks = infill.rank_of_target(infill.word_scores(output[mask], head, TIE_CODES), IDS[mask])
        assert objective.score(output, IDS) == (int((ranks == 0).sum()), 6)


def test_objective_loss_is_the_masked_loss_and_bad_heads_are_refused():
    output = torch.randn(2, 6, 3)
    expected = infill.infill_loss(output, IDS, "binary", TIE_CODES)
    assert torch.equal(infill.Objective("binary", TIE_CODES).loss(output, IDS), expected)
    with pytest.raises(ValueError, match="head must be"):
        infill.Objective("sigmoid")
    with pytest.raises(ValueError, match="binary head needs its word codes"):
        infill.Objective("binary")


TRAIN = [[2, 4, 5, 6, 3], [2, 5, 6, 7, 8, 3], [2, 4, 6, 3], [2, 7, 8, 4, 5, 6, 3]]
VAL = [[2, 4, 5, 6, 7, 3], [2, 8, 4, 1, 3]]  # 6 target words


def sentences(data: list[list[int]]) -> DataLoader:
    return DataLoader(data, batch_size=2, collate_fn=batching.collate_targets)


def tiny_infill(head: str) -> tuple[InfillModel, infill.Objective]:
    torch.manual_seed(0)
    codes = (torch.rand(9, 4) > 0.5).float()
    codes[: corpus.FIRST_WORD] = 0
    out = 4 if head == "binary" else 9
    model = InfillModel(InfillConfig(9, out, embedding_dim=6, hidden_size=5, mlp_size=7))
    return model, infill.Objective(head, codes if head == "binary" else None)


@pytest.mark.parametrize("head", infill.HEADS)
def test_fit_with_an_objective_trains_and_keeps_the_best_epoch(head):
    model, objective = tiny_infill(head)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    history = train.fit(
        model, sentences(TRAIN), sentences(VAL), objective.loss, optimizer, 30, score=objective.score,
        clip=1.0, monitor="val_acc", patience=1, progress=False, verbose=False,
    )  # fmt: skip
    # top-1 over 6 words improves at most 6 times: it stopped early, after a worse epoch
    assert len(history) < 30 and not history[-1]["best"]
    best = [row for row in history if row["best"]][-1]
    after = train.evaluate(model, sentences(VAL), objective.loss, score=objective.score)
    assert after["n"] == 6 and after["acc"] == best["val_acc"]
    assert after["loss"] == pytest.approx(best["val_loss"])
    assert after["loss"] != pytest.approx(history[-1]["val_loss"])


@pytest.mark.parametrize("head", infill.HEADS)
def test_infill_evaluate_agrees_with_train_evaluate_on_the_same_batches(head):
    model, objective = tiny_infill(head)
    loader = sentences(TRAIN + VAL)
    ids, lengths, targets = next(iter(loader))
    assert torch.equal(targets, ids)  # collate_targets: the ids are their own targets
    mine = infill.evaluate(model, loader, head, objective.codes)
    shared = train.evaluate(model, loader, objective.loss, score=objective.score)
    assert mine["top1"] == pytest.approx(shared["acc"])
    assert mine["loss"] == pytest.approx(shared["loss"])
