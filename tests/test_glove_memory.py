"""GloVe from a zip without extra full-size copies: the full profile's glove.840B.300d.txt is
5.6 GB of text for a 2.6 GB matrix, so each copy of either decides whether it fits in RAM."""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from nlpbook import data, embeddings
from nlpbook.data import glove_files


def glove_zip(path, n_words: int, dim: int, compression=zipfile.ZIP_DEFLATED) -> bytes:
    rng = random.Random(0)
    vectors = [" ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) for _ in range(500)]
    text = "".join(f"w{i} {vectors[i % 500]}\n" for i in range(n_words)).encode()
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("glove.840B.300d.txt", text)
    return text


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_zip_member_parses_as_a_stream_like_its_bytes(tmp_path, compression):
    text = glove_zip(tmp_path / "g.zip", 300, 20, compression)
    with zipfile.ZipFile(tmp_path / "g.zip") as zf, zf.open("glove.840B.300d.txt") as f:
        streamed = glove_files.parse_glove_text(f, 20)
    whole = glove_files.parse_glove_text(text, 20)
    assert streamed.words == whole.words and np.array_equal(streamed.vectors, whole.vectors)


def test_a_bad_line_in_a_stream_is_named_with_its_number(tmp_path):
    text = b"the 1 2 3\nof 4 5 6\n" * 3 + b"and 1 2\n" + b"to 7 8 9\n"
    with zipfile.ZipFile(tmp_path / "g.zip", "w") as zf:
        zf.writestr("g.txt", text)
    with zipfile.ZipFile(tmp_path / "g.zip") as zf, zf.open("g.txt") as f:
        with pytest.raises(ValueError, match="g.txt, line 7: 2 fields after the word"):
            glove_files.parse_glove_text(f, 3, words_with_spaces=False, source="g.txt")


def test_parse_takes_a_bytearray_like_bytes():
    text = b"the 1 2 3\n. . . 4 5 6\nof 7 8 9\n"
    a = glove_files.parse_glove_text(text, 3)
    b = glove_files.parse_glove_text(bytearray(text), 3)
    assert a.words == b.words == ["the", ". . .", "of"]  # file order
    assert np.array_equal(a.vectors, b.vectors) and b.vectors.flags.c_contiguous


def test_loading_from_a_zip_holds_the_text_once(tmp_path, monkeypatch):
    """Peak traced memory (Python objects and numpy arrays) stays near one matrix: the text
    is streamed from the zip (ZipFile.read, split() and np.stack each held a full copy)."""
    n_words, dim = 12_000, 300  # 29 MB of text: several of the reader's blocks
    text = glove_zip(tmp_path / "glove.840B.300d.zip", n_words, dim)
    monkeypatch.setattr(data, "fetch", lambda *a, **k: tmp_path / "glove.840B.300d.zip")
    tracemalloc.start()
    try:
        glove = embeddings.load_glove("840B.300d", root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    matrix = n_words * dim * 4
    assert glove.vectors.shape == (n_words, dim)
    assert peak < 0.5 * len(text) + 1.5 * matrix, (peak, len(text), matrix)


def test_a_stream_that_fails_midway_leaves_no_reader_thread_behind(tmp_path):
    """pyarrow's threads reading a Python stream abort the process at exit after an error."""
    text = b"w 1 2 3\n" * 300_000 + b"bad 1 x 3\n" + b"v 1 2 3\n" * 300_000
    with zipfile.ZipFile(tmp_path / "g.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("g.txt", text)
    code = (
        "import sys, zipfile\n"
        "from nlpbook.data import glove_files\n"
        "with zipfile.ZipFile(sys.argv[1]) as zf, zf.open('g.txt') as f:\n"
        "    try:\n"
        "        glove_files.parse_glove_text(f, 3)\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "g.zip")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "not a number" in done.stdout
