"""Chapter 02's review preparation: cleaning, tokenising, padding, vocabulary and splits."""

from __future__ import annotations

import pytest
import torch

from nlpbook import data, reviews, text


def test_normalize_and_tokenize():
    tokens = reviews.tokenize_review(
        "Check http://www.foo.com/x?y=1 and Amazon.com in 2003! Don't."
    )
    assert tokens == ["check", "<url>", "and", "<url>", "in", "0000", "!", "do", "n't", "."]
    assert reviews.normalize_review("GREAT 5 stars") == "great 0 stars"


def test_sentence_final_periods_are_split_off():
    tokens = reviews.tokenize_review("It didn't last. Avoid it.: Bad (really.) Do not buy")
    assert tokens == [
        "it", "did", "n't", "last", ".", "avoid", "it", ".", ":", "bad",
        "(", "really", ".", ")", "do", "not", "buy",
    ]  # fmt: skip


def test_pad_left_pads_and_truncates():
    assert reviews.pad_left([5, 6], 4).tolist() == [0, 0, 5, 6]
    assert reviews.pad_left([1, 2, 3, 4, 5], 3).tolist() == [3, 4, 5]  # the end is kept
    assert reviews.pad_left([1, 2, 3, 4, 5], 3, keep="first").tolist() == [1, 2, 3]
    for bad in ("middle", "start", "end"):  # one vocabulary, text.KEEP; "start"/"end" are gone
        with pytest.raises(ValueError, match="keep"):
            reviews.pad_left([1], 2, keep=bad)
    assert reviews.pad_left([], 2, pad_index=9).tolist() == [9, 9]
    with pytest.raises(ValueError):
        reviews.pad_left([1], 0)


def test_cut_sentences_cuts_after_sentence_ends_only():
    assert reviews.cut_sentences("it broke. avoid it!: bad (really.) 3.5 stars") == [
        "it broke.", " avoid it!", ": bad (really.", ") 3.5 stars",
    ]  # fmt: skip


def test_encode_padded_looks_up_pads_and_truncates_each_review():
    vocab = text.Vocab(["<pad>", "<unk>", "good", "bad"])
    ids = reviews.encode_padded([["good"], ["bad", "zzz", "good"]], vocab, 2)
    assert ids.tolist() == [[0, 2], [1, 2]] and ids.dtype == torch.long
    assert reviews.encode_padded([["bad", "zzz", "good"]], vocab, 2, keep="first").tolist() == [[3, 1]]
    assert reviews.encode_padded([], vocab, 2).shape == (0, 2)


def test_split_indices_partition():
    parts = reviews.split_indices(10, (0.8, 0.1, 0.1), seed=3)
    assert [len(p) for p in parts] == [8, 1, 1]
    assert sorted(sum(parts, [])) == list(range(10))
    assert parts == reviews.split_indices(10, (0.8, 0.1, 0.1), seed=3)
    with pytest.raises(ValueError):
        reviews.split_indices(10, (0.5, 0.1))


def _reviews(n: int = 20):
    good = "Great product, works well. Love it"
    bad = "Terrible product, broke in 2 days. Hate it"
    return [(good if k % 2 else bad, k % 2) for k in range(n)]


def test_prepare_reviews():
    prepared = reviews.prepare_reviews(_reviews(), seq_len=6, fractions=(0.6, 0.2, 0.2))
    assert [len(prepared.train), len(prepared.val), len(prepared.test)] == [12, 4, 4]
    ids, labels = prepared.train.tensors
    assert ids.shape == (12, 6) and ids.dtype == torch.long
    assert labels.dtype == torch.float32
    assert prepared.vocab.itos[:3] == ["<pad>", "<unk>", "<url>"]
    assert "great" in prepared.vocab and "0" in prepared.vocab
    # the kept token lists share one string object per distinct token (memory, full profile)
    built = [" ".join(["great"] * 2), "".join(["gre", "at"]) + " product"]  # distinct str objects
    shared = reviews.prepare_reviews([(r, 1) for r in built], seq_len=4, fractions=(1.0, 0.0, 0.0))
    greats = [t for tokens in shared.tokens["train"] for t in tokens if t == "great"]
    assert len(greats) == 3 and all(t is greats[0] for t in greats)
    # words seen once in training are not in the vocabulary
    single = reviews.prepare_reviews(
        [("unique words here", 1), ("other text", 0)], seq_len=4, fractions=(1.0, 0.0, 0.0)
    )
    assert len(single.vocab) == 3
    with pytest.raises(ValueError):
        reviews.prepare_reviews([])


def test_prepare_with_separate_test_set():
    prepared = reviews.prepare_reviews(
        _reviews(10), seq_len=5, fractions=(0.8, 0.2), test_reviews=_reviews(4)
    )
    assert [len(prepared.train), len(prepared.val), len(prepared.test)] == [8, 2, 4]


def test_prepare_reviews_truncates_as_keep_says():
    items = [("good good bad", 1), ("good bad bad", 0)]
    last = reviews.prepare_reviews(items, seq_len=1, min_freq=1, fractions=(1.0, 0.0, 0.0))
    first = reviews.prepare_reviews(items, seq_len=1, min_freq=1, fractions=(1.0, 0.0, 0.0), keep="first")
    vocab = last.vocab
    assert sorted(last.train.tensors[0].flatten().tolist()) == [vocab["bad"], vocab["bad"]]
    assert sorted(first.train.tensors[0].flatten().tolist()) == [vocab["good"], vocab["good"]]


def test_length_coverage():
    assert reviews.length_coverage([["a"], ["a", "b", "c"]], 2) == 0.5
    assert reviews.length_coverage([], 2) == 0.0


def test_quick_loader_falls_back_to_the_canonical_csv(tmp_path, monkeypatch):
    folder = tmp_path / "amazon_review_polarity_csv"
    folder.mkdir()
    (folder / "test.csv").write_text('"2","Nice","Works well"\n"1","Bad","Broke"\n')
    (folder / "train.csv").write_text('"2","A","b"\n')
    monkeypatch.setenv("NLPBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    monkeypatch.setattr(data, "mirror_dirs", lambda: [])
    assert reviews.load_quick_reviews(limit=1) == [("Nice: Works well", 1)]
    assert reviews.load_full_reviews("train") == [("A: b", 1)]
    with pytest.raises(ValueError):
        reviews.load_full_reviews("dev")


def test_quick_loader_prefers_the_sample(tmp_path, monkeypatch, fasttext_file):
    (tmp_path / "amazon_polarity").mkdir()
    target = tmp_path / "amazon_polarity" / "test.ft.txt"
    target.write_bytes(fasttext_file.read_bytes())
    monkeypatch.setenv("NLPBOOK_DATA", str(tmp_path))
    monkeypatch.setattr(data, "mirror_dirs", lambda: [])
    monkeypatch.setattr(data, "verify", lambda path, checksum: None)  # a tiny stand-in file
    loaded = reviews.load_quick_reviews(limit=2)
    assert [label for _, label in loaded] == [1, 0]
