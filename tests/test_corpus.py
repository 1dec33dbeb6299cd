"""Chapter 05's corpus (nlpbook.corpus): sentences, vocabulary, ids, word codes and the prior."""

from __future__ import annotations

import pytest
import torch
from conftest import CORPUS_SENTENCES as SENTENCES

from nlpbook import corpus


def test_split_sentences_and_word_tokens():
    text = "Great film!<br /><br />I don't know. It's fine? yes"
    assert corpus.split_sentences(text) == ["Great film!", "I don't know.", "It's fine?", "yes"]
    assert corpus.word_tokens("I don't know, it's FINE.") == [
        "i", "do", "n't", "know", "it", "'s", "fine",
    ]  # fmt: skip
    # quotes are not words: only GloVe's clitics keep theirs
    assert corpus.word_tokens("Barker's 'Union Street' we're I'd 'sup") == [
        "barker", "'s", "union", "street", "we", "'re", "i", "'d", "sup",
    ]  # fmt: skip
    assert corpus.review_sentences([text], min_len=2, max_len=3) == [
        ["great", "film"],
        ["it", "'s", "fine"],
    ]


def test_vocab_keeps_known_words_and_encode_sentence_adds_markers(vocab):
    assert corpus.SPECIALS == (corpus.BEG, corpus.END) and corpus.FIRST_WORD == 4
    assert vocab.itos[:4] == ["<pad>", "<unk>", corpus.BEG, corpus.END]
    assert "zzz" not in vocab and vocab.itos[4] == "the"  # most frequent first
    ids = corpus.encode_sentence(["the", "zzz"], vocab)
    assert ids == [vocab[corpus.BEG], vocab["the"], vocab.unk_index, vocab[corpus.END]]
    assert corpus.target_mask(torch.tensor(ids)).tolist() == [False, True, False, False]


def test_binary_codes_and_collisions(vocab, glove):
    codes = corpus.binary_codes(vocab, glove)
    assert codes.shape == (len(vocab), 8)
    assert torch.equal(codes[vocab["good"]], torch.from_numpy(glove["good"] > 0).float())
    assert codes[: corpus.FIRST_WORD].sum() == 0
    assert [sorted(g) for g in corpus.code_collisions(codes, vocab)] == [["film", "movie"]]


def test_word2vec_codes_are_signs_of_vectors_trained_on_the_sentences(vocab):
    sentences = SENTENCES * 20 + [["the", "unseen", "word"]]  # "unseen" is not in the vocab
    codes = corpus.word2vec_codes(sentences, vocab, vector_size=16, epochs=3)
    assert codes.shape == (len(vocab), 16)
    assert codes[: corpus.FIRST_WORD].sum() == 0
    assert set(codes.unique().tolist()) == {0.0, 1.0}
    assert 0.2 < codes[corpus.FIRST_WORD :].mean() < 0.8  # signs of random-ish vectors
    again = corpus.word2vec_codes(sentences, vocab, vector_size=16, epochs=3)
    assert torch.equal(codes, again)  # one worker and a seed: reproducible
    other = corpus.word2vec_codes(sentences, vocab, vector_size=16, epochs=3, seed=1)
    assert not torch.equal(codes, other)
    with pytest.raises(KeyError, match="never occur"):
        corpus.word2vec_codes([["the", "movie"]] * 5, vocab, vector_size=4, epochs=1)


def test_unigram_log_prior_counts_targets_only(vocab):
    ids = [corpus.encode_sentence(s, vocab) for s in SENTENCES]
    prior = corpus.unigram_log_prior(ids, len(vocab))
    assert prior.shape == (len(vocab),)
    assert torch.isinf(prior[: corpus.FIRST_WORD]).all()  # pad, unk, <beg>, <end>
    probs = prior[corpus.FIRST_WORD :].exp()
    assert torch.allclose(probs.sum(), torch.tensor(1.0))
    # "the" occurs 3 times, "dull" once; add-one smoothing: (3 + 1) / (1 + 1)
    assert torch.allclose(prior[vocab["the"]] - prior[vocab["dull"]], torch.log(torch.tensor(2.0)))
    words = sum(len([t for t in s if t in vocab.stoi]) for s in SENTENCES)
    n_words = len(vocab) - corpus.FIRST_WORD
    assert torch.allclose(prior[vocab["the"]], torch.log(torch.tensor(4.0 / (words + n_words))))


def test_word_tokens_keep_letters_of_any_script():
    # the ASCII-only pattern cut 'café' to 'caf', 'naïve' to 'na' 've' and dropped Arabic
    assert corpus.word_tokens("Café naïve, Pokémon!") == ["café", "naïve", "pokémon"]
    assert corpus.word_tokens("فيلم جميل") == ["فيلم", "جميل"]
    # a decomposed é (e + combining acute) stays inside its word
    assert corpus.word_tokens("cafe\u0301 don't") == ["cafe\u0301", "do", "n't"]
