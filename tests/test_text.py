from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpbook import text, tokenizers
from nlpbook.text import PAD, UNK, Vocab


def test_basic_tokenizer_lowercases_and_splits_punctuation():
    assert tokenizers.basic_tokenize("It's GREAT, isn't it?!") == [
        "it's",
        "great",
        ",",
        "isn't",
        "it",
        "?",
        "!",
    ]


def test_spacy_blank_tokenizer_splits_like_the_english_model():
    assert tokenizers.spacy_tokenize("Don't watch it, it's $5!") == [
        "Do",
        "n't",
        "watch",
        "it",
        ",",
        "it",
        "'s",
        "$",
        "5",
        "!",
    ]


def test_nltk_tokenizer_needs_no_download():
    assert tokenizers.nltk_tokenize("I can't believe it's not butter.") == [
        "I",
        "ca",
        "n't",
        "believe",
        "it",
        "'s",
        "not",
        "butter",
        ".",
    ]


def test_get_tokenizer():
    assert tokenizers.get_tokenizer("basic") is tokenizers.basic_tokenize
    with pytest.raises(ValueError, match="unknown tokenizer 'moses'"):
        tokenizers.get_tokenizer("moses")


def test_vocab_order_specials_max_size_and_min_freq():
    corpus = [["b", "a", "c"], ["a", "b"], ["a", "d"]]
    vocab = Vocab.build(corpus)
    assert vocab.itos == [PAD, UNK, "a", "b", "c", "d"]  # a:3, b:2, then c, d tie -> alphabetical
    assert Vocab.build(corpus, max_size=2).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(corpus, min_freq=2).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(corpus, specials=["<beg>"]).itos[:3] == [PAD, UNK, "<beg>"]
    assert vocab.pad_index == 0 and vocab.unk_index == 1


def test_vocab_ties_are_ordered_by_token_not_by_first_appearance():
    # Insertion order d, c, b, a (and e before z): only the (-count, token) key gives
    # alphabetical order within a count; a sort by count alone keeps first appearance.
    corpus = [["d", "c", "b", "a"], ["z", "e", "z", "e"], ["y"]]
    expected = [PAD, UNK, "e", "z", "a", "b", "c", "d", "y"]
    assert Vocab.build(corpus).itos == expected
    assert Vocab.build(corpus, max_size=3).itos == [PAD, UNK, "e", "z", "a"]  # the cut too
    counts = {"q": 1, "m": 2, "k": 2, "b": 1, "a": 1}  # a dict in non-alphabetical order
    assert Vocab.from_counts(counts).itos == [PAD, UNK, "k", "m", "a", "b", "q"]
    assert Vocab.from_counts(Counter(counts)).itos == [PAD, UNK, "k", "m", "a", "b", "q"]


def test_vocab_lookup_with_unknowns():
    vocab = Vocab.build([["x", "y", "y"]])
    assert vocab.lookup_indices(["y", "x", "zzz"]) == [2, 3, 1]
    assert vocab["zzz"] == 1 and "x" in vocab and "zzz" not in vocab
    assert vocab.lookup_tokens([2, 3, 1, 0]) == ["y", "x", UNK, PAD]
    with pytest.raises(IndexError):
        vocab.lookup_tokens([99])


def test_vocab_rejects_bad_itos():
    with pytest.raises(ValueError, match="starts with"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        Vocab([PAD, UNK, "a", "a"])


def test_vocab_save_refuses_newlines(tmp_path):
    vocab = Vocab([PAD, UNK, "a\nb"])
    with pytest.raises(ValueError, match="line breaks"):
        vocab.save(tmp_path / "v.txt")
    assert not (tmp_path / "v.txt").exists()


tokens = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(tokens, max_size=10), max_size=10), st.integers(1, 3))
def test_vocab_save_load_round_trip(tmp_path_factory, corpus, min_freq):
    vocab = Vocab.build(corpus, min_freq=min_freq)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.save(path)
    assert Vocab.load(path) == vocab


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(tokens, min_size=1, max_size=10), min_size=1, max_size=10))
def test_vocab_lookup_of_lookup_tokens_is_identity(corpus):
    vocab = Vocab.build(corpus)
    ids = list(range(len(vocab)))
    assert vocab.lookup_indices(vocab.lookup_tokens(ids)) == ids
    counts = Counter(t for doc in corpus for t in doc)
    assert len(vocab) == 2 + len([t for t in counts if t not in (PAD, UNK)])


# ---------------------------------------------------------------- bad input (issue 14)


def test_vocab_load_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "v.txt"
    Vocab([PAD, UNK, "alpha", "beta"]).save(path)
    path.write_bytes(path.read_bytes()[:-3])  # "be" of the last token survives
    with pytest.raises(ValueError, match=r"v.txt.*truncated"):
        Vocab.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"v.txt.*empty"):
        Vocab.load(path)


def test_lookup_tokens_rejects_negative_ids():
    vocab = Vocab([PAD, UNK, "a"])
    with pytest.raises(IndexError, match="-1"):
        vocab.lookup_tokens([-1])


def test_vocab_build_refuses_strings():
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build("text")
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build(["a b", "c d"])


def test_require_known_counts_words_and_refuses_none():
    assert text.require_known([0, 1, 2, 1, 5], "review") == 2
    assert text.require_known([2, 3, 4], "text", first_word=4) == 1  # 2 and 3 are specials here
    with pytest.raises(text.NoKnownWords, match="no word of the premise.*2 tokens"):
        text.require_known([1, 1, 0], "premise")
    with pytest.raises(ValueError):  # NoKnownWords is a ValueError, like other bad input
        text.require_known([], "review")


# ---------------------------------------------------------------- truncation, breaks (issue 19)


def test_truncate_keeps_the_last_or_first_items():
    assert text.KEEP == ("last", "first")
    assert text.truncate([1, 2, 3, 4], 2) == [3, 4]
    assert text.truncate([1, 2, 3, 4], 2, keep="first") == [1, 2]
    assert text.truncate((1, 2), 5) == [1, 2] and text.truncate([1, 2], None) == [1, 2]
    assert text.truncate(iter("abc"), 2) == ["b", "c"]
    for bad in ("end", "start", "middle"):
        with pytest.raises(ValueError, match="keep must be 'last' or 'first'"):
            text.truncate([1, 2], 1, keep=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_truncate_refuses_a_limit_that_slicing_would_misread(bad):
    # 0 would mean "no limit" and -1 "drop the first item" through slicing
    with pytest.raises(ValueError, match=r"the limit must be None \(no limit\) or a positive int"):
        text.truncate([1, 2, 3], bad)


def test_replace_html_breaks_any_spelling():
    assert text.replace_html_breaks("a<br />b<BR>c<br/>d<br  />e", "|") == "a|b|c|d|e"
    assert text.replace_html_breaks("no breaks <b>here</b>", "|") == "no breaks <b>here</b>"


# ---------------------------------------------------------------- failed saves


def test_vocab_save_onto_a_directory_is_a_clear_error_that_leaves_nothing(tmp_path):
    target = tmp_path / "vocab.txt"
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=r"vocab.txt is a directory"):
        Vocab([PAD, UNK, "a"]).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.txt"] and target.is_dir()


@pytest.mark.parametrize(
    "error",
    [OSError(28, "No space left on device"), KeyboardInterrupt()],
    ids=lambda e: type(e).__name__,
)
def test_a_failed_vocab_save_leaves_no_part_file_nor_changes_the_old_one(
    tmp_path, monkeypatch, error
):
    path = tmp_path / "vocab.txt"
    Vocab([PAD, UNK, "old"]).save(path)
    before = path.read_bytes()

    def failing_write(self, data, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as out:
            out.write(data[:5])
        raise error

    monkeypatch.setattr(Path, "write_text", failing_write)
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else OSError
    with pytest.raises(expected) as caught:
        Vocab([PAD, UNK, "new", "words"]).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.txt"]  # no vocab.txt.part
    assert path.read_bytes() == before
    if expected is OSError:
        assert str(path) in str(caught.value) and "No space left on device" in str(caught.value)
        assert caught.value.errno == 28 and caught.value.__cause__ is error


# ---------------------------------------------------------------- bad input (issue 22, item 12)


@pytest.mark.parametrize(
    "corpus, message",
    [
        ([b"hello world"], "not bytes"),  # would count the bytes as ints 104, 101, ...
        ([bytearray(b"hi")], "not bytes"),
        ([[1, 2]], "tokens are strings; got int 1"),
        ([["a", None]], "tokens are strings; got NoneType None"),
        ([[b"a"]], "tokens are strings; got bytes"),
    ],
)
def test_vocab_build_refuses_tokens_that_are_not_strings(corpus, message):
    with pytest.raises(TypeError, match=message):
        Vocab.build(corpus)


@pytest.mark.parametrize("bad", [-1, -5, 1.5, True, "3"])
def test_vocab_build_refuses_a_max_size_that_slicing_would_misread(bad):
    with pytest.raises(ValueError, match=r"max_size must be None \(no limit\) or an int >= 0"):
        Vocab.build([["a", "b", "b"]], max_size=bad)


def test_vocab_build_max_size_zero_and_none_keep_what_they_say():
    assert Vocab.build([["a", "b", "b"]], max_size=0).itos == [PAD, UNK]
    assert Vocab.build([["a", "b", "b"]], max_size=None).itos == [PAD, UNK, "b", "a"]


def test_lookup_indices_refuses_a_string():
    vocab = Vocab([PAD, UNK, "a", "b", "c"])
    with pytest.raises(TypeError, match="not a string like 'abc'; tokenize it first"):
        vocab.lookup_indices("abc")
    assert vocab.lookup_indices(["abc", "a"]) == [1, 2]


def test_vocab_load_detects_a_file_cut_at_a_line_end(tmp_path):
    path = tmp_path / "v.txt"
    Vocab([PAD, UNK, "alpha", "beta"]).save(path)
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[0] == b"# nlpbook vocab: 4 tokens\n"
    for keep in (1, 3, 4):  # cut after the header, after <unk>, before the last token
        path.write_bytes(b"".join(lines[:keep]))
        with pytest.raises(
            ValueError, match=rf"v.txt is truncated or damaged: .*4 tokens, it holds {keep - 1}"
        ):
            Vocab.load(path)
    path.write_bytes(b"".join(lines))  # the control: the whole file loads
    assert len(Vocab.load(path)) == 4


def test_vocab_load_refuses_a_file_without_the_size_line_clearly(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("<pad>\n<unk>\nalpha\n", encoding="utf-8")  # what Vocab.save wrote before
    with pytest.raises(ValueError, match=r"old.txt was saved by an older nlpbook.*save it anew"):
        Vocab.load(old)
    # the conversion the message gives works
    Vocab(old.read_text(encoding="utf-8").split("\n")[:-1]).save(old)
    assert Vocab.load(old).itos == [PAD, UNK, "alpha"]
    other = tmp_path / "other.txt"
    other.write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"other.txt is not a saved Vocab: its first line is 'hello'"
    ):
        Vocab.load(other)


def test_vocab_load_of_bytes_that_are_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("# nlpbook vocab: 3 tokens\n<pad>\n<unk>\ncafé\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not a saved Vocab: it is not UTF-8"):
        Vocab.load(path)


# ---------------------------------------------------------------- basic_tokenize (issue 22, item 14)


def test_basic_tokenize_refuses_what_is_not_a_string():
    for bad in (None, b"bytes", ["a", "b"]):
        with pytest.raises(
            TypeError, match=f"basic_tokenize takes a string, not {type(bad).__name__}"
        ):
            tokenizers.basic_tokenize(bad)


@pytest.mark.parametrize(
    "sentence, tokens",
    [
        ("Café", ["café"]),
        ("naïve", ["naïve"]),
        # a decomposed é: e + a combining mark
        ("cafe\u0301 au lait", ["cafe\u0301", "au", "lait"]),
        ("Straße ÉCOLE", ["straße", "école"]),
        ("هذا فيلم رائع", ["هذا", "فيلم", "رائع"]),  # Arabic
        ("हिन्दी फ़िल्म", ["हिन्दी", "फ़िल्म"]),  # Devanagari, whose vowel signs are marks
        ("l'été, déjà!", ["l'été", ",", "déjà", "!"]),
        ("snake_case x²", ["snake", "_", "case", "x²"]),
    ],
)
def test_basic_tokenize_keeps_the_letters_of_every_script_in_their_words(sentence, tokens):
    assert tokenizers.basic_tokenize(sentence) == tokens


_ASCII_BASIC = r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]"  # the pattern before Unicode words


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_basic_tokenize_is_unchanged_on_ascii_text(sentence):
    import re

    assert tokenizers.basic_tokenize(sentence) == re.findall(_ASCII_BASIC, sentence.lower())
