"""Chapter 05's word-infilling model: corpus helpers, the shift, the masked losses, decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlpbook import text
from nlpbook.embeddings import GloVe
from nlpbook.models import infill

SENTENCES = [
    ["the", "movie", "was", "good"],
    ["the", "film", "was", "bad"],
    ["a", "good", "movie"],
    ["the", "plot", "was", "dull", "zzz"],
]


@pytest.fixture
def glove() -> GloVe:
    words = ["the", "movie", "was", "good", "film", "bad", "a", "plot", "dull"]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(words), 8)).astype(np.float32)
    vectors[words.index("film")] = vectors[words.index("movie")]  # a forced collision
    return GloVe(words, vectors)


@pytest.fixture
def vocab(glove):
    return infill.build_vocab(SENTENCES, max_size=100, known=glove.index)


def test_corpus_helpers():
    text = "Great film!<br /><br />I don't know. It's fine? yes"
    assert infill.split_sentences(text) == ["Great film!", "I don't know.", "It's fine?", "yes"]
    assert infill.tokenize("I don't know, it's FINE.") == [
        "i",
        "do",
        "n't",
        "know",
        "it",
        "'s",
        "fine",
    ]
    # quotes are not words: only GloVe's clitics keep theirs
    assert infill.tokenize("Barker's 'Union Street' we're I'd 'sup") == [
        "barker",
        "'s",
        "union",
        "street",
        "we",
        "'re",
        "i",
        "'d",
        "sup",
    ]
    assert infill.review_sentences([text], min_len=2, max_len=3) == [
        ["great", "film"],
        ["it", "'s", "fine"],
    ]


def test_vocab_keeps_known_words_and_encode_adds_markers(vocab):
    assert vocab.itos[:4] == ["<pad>", "<unk>", infill.BEG, infill.END]
    assert "zzz" not in vocab and vocab.itos[4] == "the"  # most frequent first
    ids = infill.encode(["the", "zzz"], vocab)
    assert ids == [vocab[infill.BEG], vocab["the"], vocab.unk_index, vocab[infill.END]]
    assert infill.target_mask(torch.tensor(ids)).tolist() == [False, True, False, False]


def test_binary_codes_and_collisions(vocab, glove):
    codes = infill.binary_codes(vocab, glove)
    assert codes.shape == (len(vocab), 8)
    assert torch.equal(codes[vocab["good"]], torch.from_numpy(glove["good"] > 0).float())
    assert codes[: infill.FIRST_WORD].sum() == 0
    assert infill.code_collisions(codes, vocab) == [["film", "movie"]] or infill.code_collisions(
        codes, vocab
    ) == [["movie", "film"]]


def test_word2vec_codes_are_signs_of_vectors_trained_on_the_sentences(vocab):
    pytest.importorskip("gensim")
    sentences = SENTENCES * 20 + [["the", "unseen", "word"]]  # "unseen" is not in the vocab
    codes = infill.word2vec_codes(sentences, vocab, vector_size=16, epochs=3)
    assert codes.shape == (len(vocab), 16)
    assert codes[: infill.FIRST_WORD].sum() == 0
    assert set(codes.unique().tolist()) == {0.0, 1.0}
    assert 0.2 < codes[infill.FIRST_WORD :].mean() < 0.8  # signs of random-ish vectors
    again = infill.word2vec_codes(sentences, vocab, vector_size=16, epochs=3)
    assert torch.equal(codes, again)  # one worker and a seed: reproducible
    other = infill.word2vec_codes(sentences, vocab, vector_size=16, epochs=3, seed=1)
    assert not torch.equal(codes, other)
    with pytest.raises(KeyError, match="never occur"):
        infill.word2vec_codes([["the", "movie"]] * 5, vocab, vector_size=4, epochs=1)


def test_unigram_log_prior_counts_targets_only(vocab):
    ids = [infill.encode(s, vocab) for s in SENTENCES]
    prior = infill.unigram_log_prior(ids, len(vocab))
    assert prior.shape == (len(vocab),)
    assert torch.isinf(prior[: infill.FIRST_WORD]).all()  # pad, unk, <beg>, <end>
    probs = prior[infill.FIRST_WORD :].exp()
    assert torch.allclose(probs.sum(), torch.tensor(1.0))
    # "the" occurs 3 times, "dull" once; add-one smoothing: (3 + 1) / (1 + 1)
    assert torch.allclose(prior[vocab["the"]] - prior[vocab["dull"]], torch.log(torch.tensor(2.0)))
    words = sum(len([t for t in s if t in vocab.stoi]) for s in SENTENCES)
    n_words = len(vocab) - infill.FIRST_WORD
    assert torch.allclose(prior[vocab["the"]], torch.log(torch.tensor(4.0 / (words + n_words))))


def test_shift_context_sees_only_neighbours():
    output = torch.arange(1, 13, dtype=torch.float).reshape(1, 3, 4)  # (B, T, 2H), H = 2
    shifted = infill.shift_context(output)
    assert shifted[0, 0].tolist() == [0, 0, 7, 8]  # no left context, backward of t=1
    assert shifted[0, 1].tolist() == [1, 2, 11, 12]  # forward of t=0, backward of t=2
    assert shifted[0, 2].tolist() == [5, 6, 0, 0]


@pytest.mark.parametrize("out_features", [8, 12])
def test_prediction_at_t_does_not_depend_on_word_at_t(out_features):
    torch.manual_seed(0)
    model = infill.InfillModel(12, out_features, embedding_dim=6, hidden_size=5, mlp_size=7).eval()
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
    model = infill.InfillModel(12, 8, embedding_dim=6, hidden_size=5, mlp_size=7).eval()
    alone = model(torch.tensor([[2, 9, 10, 3]]), torch.tensor([4]))
    padded = model(torch.tensor([[2, 9, 10, 3, 0, 0]]), torch.tensor([4]))
    assert torch.allclose(alone[0], padded[0, :4], atol=1e-6)


@pytest.mark.parametrize("head", ["binary", "softmax"])
def test_loss_ignores_pad_unk_and_markers(head):
    torch.manual_seed(0)
    codes = (torch.rand(10, 6) > 0.5).float()
    codes[: infill.FIRST_WORD] = 0
    ids = torch.tensor([[2, 5, 1, 7, 3], [2, 8, 3, 0, 0]])  # unk (1) at [0, 2]
    width = 6 if head == "binary" else 10
    output = torch.randn(2, 5, width, requires_grad=True)
    loss = infill.infill_loss(output, ids, head, codes)
    loss.backward()
    masked = ~infill.target_mask(ids)
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
        assert torch.isinf(scores[0, : infill.FIRST_WORD]).all()
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
    codes = infill.binary_codes(vocab, glove)
    out = codes.shape[1] if head == "binary" else len(vocab)
    model = infill.InfillModel(len(vocab), out, embedding_dim=6, hidden_size=5, mlp_size=7)
    best = infill.fill_blank(model, vocab, "The movie was __ !", head, codes, k=3)
    assert len(best) == 3 and all(word in vocab.itos[infill.FIRST_WORD :] for word, _ in best)
    values = [s for _, s in best]
    assert values == sorted(values, reverse=True)  # probabilities or log-likelihoods
    scores = infill.blank_scores(model, vocab, "The movie was __ !", head, codes)
    assert scores.shape == (len(vocab),) and torch.isinf(scores[: infill.FIRST_WORD]).all()
    assert [vocab.itos[i] for i in scores.topk(3).indices] == [w for w, _ in best]
    with pytest.raises(ValueError, match="no blank"):
        infill.fill_blank(model, vocab, "the movie was good", head, codes)
    with pytest.raises(ValueError, match="more than one blank"):
        infill.fill_blank(model, vocab, "the __ was __", head, codes)
    with pytest.raises(text.NoKnownWords, match="no word of the text around the blank"):
        infill.fill_blank(model, vocab, "qwerty __ asdf", head, codes)
    with pytest.raises(TypeError, match="string"):
        infill.fill_blank(model, vocab, None, head, codes)
    with pytest.raises(ValueError, match="empty"):
        infill.fill_blank(model, vocab, "   ", head, codes)
    everything = infill.fill_blank(model, vocab, "The movie was __ !", head, codes, k=10**6)
    assert sorted(w for w, _ in everything) == sorted(vocab.itos[infill.FIRST_WORD :])
    for bad_k in [0, -1, 2.5, True]:
        with pytest.raises(ValueError, match="k must be a positive int"):
            infill.fill_blank(model, vocab, "The movie was __ !", head, codes, k=bad_k)


def test_rank_of_target_stays_on_the_scores_device():
    # The meta device stands in for CUDA: a tensor made without device= lands on the CPU, and
    # mixing it with the scores' device fails the way chapter 05 would fail on a GPU.
    scores = torch.randn(3, 7, device="meta")
    targets = torch.tensor([0, 3, 6], device="meta")
    ranks = infill.rank_of_target(scores, targets)
    assert ranks.device.type == "meta" and ranks.shape == (3,)
