"""GloVe from a zip without extra full-size copies: the full profile's glove.840B.300d.txt is
5.6 GB of text for a 2.6 GB matrix, so each copy of either decides whether it fits in RAM."""

from __future__ import annotations

import random
import tracemalloc
import zipfile

import numpy as np
import pytest

from nlpbook import embeddings


def glove_zip(path, n_words: int, dim: int, compression=zipfile.ZIP_DEFLATED) -> bytes:
    rng = random.Random(0)
    text = "".join(
        f"w{i} " + " ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) + "\n"
        for i in range(n_words)
    ).encode()
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("glove.840B.300d.txt", text)
    return text


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_read_member_equals_zipfile_read(tmp_path, compression):
    text = glove_zip(tmp_path / "g.zip", 300, 20, compression)
    with zipfile.ZipFile(tmp_path / "g.zip") as zf:
        assert embeddings._read_member(zf, "glove.840B.300d.txt") == text


def test_parse_takes_a_bytearray_like_bytes():
    text = b"the 1 2 3\n. . . 4 5 6\nof 7 8 9\n"
    a = embeddings.parse_glove_text(text, 3)
    b = embeddings.parse_glove_text(bytearray(text), 3)
    assert a.words == b.words == ["the", "of", ". . ."]
    assert np.array_equal(a.vectors, b.vectors) and b.vectors.flags.c_contiguous


def test_loading_from_a_zip_holds_the_text_once(tmp_path, monkeypatch):
    """Peak traced memory (Python objects and numpy arrays) stays near one copy of the text
    plus one matrix; ZipFile.read, split() and np.stack each added another full copy."""
    n_words, dim = 3000, 300
    text = glove_zip(tmp_path / "glove.840B.300d.zip", n_words, dim)
    monkeypatch.setattr(embeddings.data, "fetch", lambda *a, **k: tmp_path / "glove.840B.300d.zip")
    tracemalloc.start()
    try:
        glove = embeddings.load_glove("840B.300d", root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    matrix = n_words * dim * 4
    assert glove.vectors.shape == (n_words, dim)
    assert peak < len(text) + 1.5 * matrix, (peak, len(text), matrix)
