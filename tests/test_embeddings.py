import hashlib
import time
import zipfile

import numpy as np
import pytest
import torch
from conftest import GLOVE_TEXT

from nlpbook import embeddings
from nlpbook.data import registry
from nlpbook.data.glove_files import parse_glove_text as parse_word_vectors
from nlpbook.embeddings import GloVe
from nlpbook.text import Vocab


def parse_glove_text(*args, **kwargs) -> GloVe:
    """`nlpbook.data.glove_files.parse_glove_text`, wrapped for lookup as `load_glove` does."""
    return GloVe(*parse_word_vectors(*args, **kwargs))


def test_parse_glove_text_including_words_with_spaces():
    glove = parse_glove_text(GLOVE_TEXT)
    assert glove.words == ["the", "good", "bad", "movie", ". . ."]
    assert glove.vectors.dtype == np.float32 and glove.vectors.shape == (5, 3)
    np.testing.assert_allclose(glove["bad"], [-0.5, 0.25, -1.0])
    np.testing.assert_allclose(glove[". . ."], [1.0, 2.0, 3.0])


def test_parse_glove_text_rejects_short_lines():
    with pytest.raises(ValueError):
        parse_glove_text("a 1 2 3\nb 1 2\n")


def test_nearest_neighbours():
    glove = parse_glove_text(GLOVE_TEXT)
    # "the" and ". . ." point the same way (cosine 0.70); "bad" is the opposite of "good".
    neighbours = glove.nearest("good", 4)
    assert {w for w, _ in neighbours[:2]} == {"the", ". . ."}
    assert [w for w, _ in neighbours[2:]] == ["movie", "bad"]
    assert neighbours[0][1] == pytest.approx(0.6999, abs=1e-3)
    assert neighbours[-1][1] == pytest.approx(-1.0, abs=1e-5)
    with pytest.raises(KeyError, match="no GloVe vector"):
        glove.nearest("zebra")


def test_load_glove_from_zip_is_cached(glove_files):
    root = glove_files(glove_text(50), member="glove.6B.50d.txt")
    glove = embeddings.load_glove("6B.50d", root=root, offline_ok=False)
    assert glove.words == ["the", "good", "bad", "movie"] and glove.dim == 50
    assert (root / "glove_cache" / "glove.6B.50d.npy").exists()
    (root / "glove.6B.zip").unlink()  # the second load must not need the zip
    start = time.perf_counter()
    again = embeddings.load_glove("6B.50d", root=root, offline_ok=False)
    assert time.perf_counter() - start < 1.0
    assert again.words == glove.words and np.array_equal(again.vectors, glove.vectors)


def test_load_glove_unknown_name():
    with pytest.raises(ValueError, match="unknown GloVe"):
        embeddings.load_glove("42B.1d")


def test_packaged_glove_50d_is_complete():
    glove = embeddings.load_glove("6B.50d")
    assert len(glove) == 400_000 and glove.dim == 50
    assert glove.words[:3] == ["the", ",", "."]
    assert "awful" in [w for w, _ in glove.nearest("terrible", 5)]


def test_build_embedding_matrix_rule_and_coverage():
    glove = parse_glove_text(GLOVE_TEXT)
    vocab = Vocab(["<pad>", "<unk>", "good", "Movie", "zzz"])
    gen = torch.Generator().manual_seed(0)
    matrix, coverage = embeddings.build_embedding_matrix(vocab, glove, generator=gen)
    assert matrix.shape == (5, 3)
    assert torch.equal(matrix[0], torch.zeros(3)) and torch.equal(matrix[1], torch.zeros(3))
    assert torch.allclose(matrix[2], torch.tensor([0.5, -0.25, 1.0]))
    assert torch.allclose(matrix[3], torch.tensor([0.0, 0.75, 0.5]))  # lowercase fallback
    assert matrix[4].abs().sum() > 0  # unknown word: a random normal row
    assert (coverage.found, coverage.total) == (2, 3)
    assert str(coverage) == "2 of 3 words (66.7%) have a GloVe vector"
    strict, strict_cov = embeddings.build_embedding_matrix(vocab, glove, lowercase_fallback=False)
    assert strict_cov.found == 1


# ---------------------------------------------------------------- malformed text (issue 14)


def test_parse_glove_text_rejects_a_line_with_one_number_too_many():
    # "of 4 5 6 7" must not become the word "of 4" with vector [5, 6, 7]
    with pytest.raises(ValueError, match=r"line 2: .*4 fields after the word, expected 3 numbers"):
        parse_glove_text("the 1 2 3\nof 4 5 6 7\nand 7 8 9\n", dim=3)
    with pytest.raises(ValueError, match=r"line 2: .*4 fields after the word, expected 3 numbers"):
        parse_glove_text("the 1 2 3\nof 4 5 6 7\n", dim=3, words_with_spaces=True)


def test_parse_glove_text_takes_the_dimension_it_is_given():
    with pytest.raises(ValueError, match=r"line 1: .*2 fields after the word, expected 3 numbers"):
        parse_glove_text("the 1 2\nof 4 5 6\n", dim=3)  # a short first line
    with pytest.raises(ValueError, match=r"line 1: .*word2vec"):
        parse_glove_text("2 3\nthe 1 2 3\nof 4 5 6\n", dim=3)  # a header line
    with pytest.raises(ValueError, match=r"line 3: .*2 fields after the word, expected 3 numbers"):
        parse_glove_text("the 1 2 3\nof 4 5 6\nand 7 8\n", dim=3)


def test_parse_glove_text_names_tabs_and_accepts_trailing_spaces_and_crlf():
    with pytest.raises(ValueError, match=r"line 1: .*tab"):
        parse_glove_text("the\t1\t2\t3\nof\t4\t5\t6\n", dim=3)
    glove = parse_glove_text("the 1 2 3 \nof 4 5 6 \n", dim=3)
    assert glove.words == ["the", "of"] and glove.vectors.tolist() == [[1, 2, 3], [4, 5, 6]]
    mixed = parse_glove_text("the 1 2 3\r\nof 4 5 6 \r\nand 7 8 9\r\n", dim=3)
    assert {w: mixed[w].tolist() for w in mixed.words} == {
        "the": [1, 2, 3],
        "of": [4, 5, 6],
        "and": [7, 8, 9],
    }


def test_parse_glove_text_rejects_bad_numbers_with_the_source_name():
    with pytest.raises(ValueError, match=r"glove.txt: .*not a number"):
        parse_glove_text("the 1 2 3\nof 4 x 6\n", dim=3, source="glove.txt")
    with pytest.raises(ValueError, match=r"line 2: .*empty field"):
        parse_glove_text("the 1 2 3\nof 4  6 7\n", dim=3)
    with pytest.raises(ValueError, match=r"not finite"):
        parse_glove_text("the 1 2 3\nof 4 nan 6\n", dim=3)


def test_words_with_spaces_only_where_allowed():
    text = "the 1 2 3\n. . . 4 5 6\n"
    with pytest.raises(ValueError, match=r"line 2: .*5 fields after the word, expected 3 numbers"):
        parse_glove_text(text, dim=3, words_with_spaces=False)
    assert parse_glove_text(text, dim=3).words == ["the", ". . ."]


def glove_text(dim: int, words=("the", "good", "bad", "movie")) -> str:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(len(words), dim)).round(3)
    return "".join(
        f"{w} {' '.join(str(x) for x in row)}\n" for w, row in zip(words, rows, strict=True)
    )


@pytest.fixture
def glove_files(tmp_path, monkeypatch):
    """Write a glove.6B.zip into a fresh data root and point the registry at its checksum."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("NLPBOOK_MIRROR", "")

    def write(text: str, member: str = "glove.6B.100d.txt"):
        archive = root / "glove.6B.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(member, text)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        spec = registry.REGISTRY["glove.6B"]
        source = registry.Source("glove.6B.zip", f"sha256:{digest}")
        fake = registry.DatasetSpec(
            spec.name, spec.description, spec.target, (source,), extract=False
        )
        monkeypatch.setitem(registry.REGISTRY, "glove.6B", fake)
        return root

    return write


def test_load_glove_never_caches_a_malformed_file(glove_files):
    root = glove_files(glove_text(100) + "of 1 2 3\n")
    with pytest.raises(ValueError, match=r"glove.6B.100d.txt.*line 5"):
        embeddings.load_glove("6B.100d", root=root)
    assert not (root / "glove_cache").exists()


def test_load_glove_rebuilds_a_truncated_cache(glove_files):
    root = glove_files(glove_text(100))
    first = embeddings.load_glove("6B.100d", root=root)
    npy = root / "glove_cache" / "glove.6B.100d.npy"
    npy.write_bytes(npy.read_bytes()[:-200])
    with pytest.warns(UserWarning, match=r"glove.6B.100d.npy.*rebuilding"):
        again = embeddings.load_glove("6B.100d", root=root)
    assert again.words == first.words and np.array_equal(again.vectors, first.vectors)
    assert np.array_equal(embeddings.load_glove("6B.100d", root=root).vectors, first.vectors)


def test_load_glove_rebuilds_a_damaged_word_list(glove_files):
    root = glove_files(glove_text(100))
    first = embeddings.load_glove("6B.100d", root=root)
    words = root / "glove_cache" / "glove.6B.100d.words.txt"
    for damaged in ("the\nbad\nmovie\n", "the\nbad\ngood\nmovie\n"):  # a line lost; two swapped
        words.write_text(damaged, encoding="utf-8")
        with pytest.warns(UserWarning, match=r"words.txt.*rebuilding"):
            again = embeddings.load_glove("6B.100d", root=root)
        assert again.words == first.words and np.array_equal(again.vectors, first.vectors)
        assert again["bad"].tolist() == first["bad"].tolist()


def test_trailing_space_on_the_first_line_does_not_hide_an_extra_number():
    with pytest.raises(ValueError, match=r"'of'.*4 fields after the word, expected 3"):
        parse_glove_text("the 1 2 3 \nof 4 5 6 7\n", dim=3)


def test_load_glove_names_a_missing_member(glove_files):
    root = glove_files(glove_text(100), member="glove.6B.300d.txt")
    with pytest.raises(ValueError, match=r"glove.6B.zip has no glove.6B.100d.txt"):
        embeddings.load_glove("6B.100d", root=root)


# ---------------------------------------------------------------- bad input (issue 22)


def test_load_glove_rebuilds_a_cache_damaged_without_a_size_change(glove_files):
    root = glove_files(glove_text(100))
    first = embeddings.load_glove("6B.100d", root=root)
    npy = root / "glove_cache" / "glove.6B.100d.npy"
    damaged = bytearray(npy.read_bytes())
    damaged[-16:] = np.full(4, np.nan, dtype=np.float32).tobytes()  # the last 4 numbers
    npy.write_bytes(bytes(damaged))
    with pytest.warns(UserWarning, match=r"glove.6B.100d.npy does not match its checksum"):
        again = embeddings.load_glove("6B.100d", root=root)
    assert np.isfinite(again.vectors).all() and np.array_equal(again.vectors, first.vectors)
    assert np.array_equal(embeddings.load_glove("6B.100d", root=root).vectors, first.vectors)


@pytest.mark.parametrize("as_stream", [False, True])
def test_a_word_listed_twice_keeps_its_first_vector_whatever_the_spacing(tmp_path, as_stream):
    # The first copy of "dup" has a trailing space and "x y" holds one, so both are parsed
    # apart from the regular lines; a blank line must not move them either.
    text = b"the 1 2 3\ndup 1 1 1 \n\nx y 0 0 1\ndup 2 2 2\nlast 7 8 9\n"
    path = tmp_path / "g.txt"
    path.write_bytes(text)
    with open(path, "rb") as stream:
        glove = parse_glove_text(stream if as_stream else text, 3)
    assert glove.words == ["the", "dup", "x y", "dup", "last"]  # file order
    assert glove["dup"].tolist() == [1, 1, 1]
    assert glove.vectors.tolist() == [[1, 2, 3], [1, 1, 1], [0, 0, 1], [2, 2, 2], [7, 8, 9]]


@pytest.mark.parametrize("k", [-3, 0, 1.5, True])
def test_nearest_refuses_a_k_that_is_not_a_positive_count(k):
    glove = parse_glove_text(GLOVE_TEXT)
    with pytest.raises(
        ValueError, match=rf"k must be a positive int \(how many neighbours\), not {k!r}"
    ):
        glove.nearest("good", k=k)
    assert len(glove.nearest("good", k=np.int64(2))) == 2
