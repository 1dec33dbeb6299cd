import time

import numpy as np
import pytest
import torch
from conftest import GLOVE_TEXT

from nlpbook import embeddings
from nlpbook.text import Vocab


def test_parse_glove_text_including_words_with_spaces():
    glove = embeddings.parse_glove_text(GLOVE_TEXT)
    assert glove.words == ["the", "good", "bad", "movie", ". . ."]
    assert glove.vectors.dtype == np.float32 and glove.vectors.shape == (5, 3)
    np.testing.assert_allclose(glove["bad"], [-0.5, 0.25, -1.0])
    np.testing.assert_allclose(glove[". . ."], [1.0, 2.0, 3.0])


def test_parse_glove_text_rejects_short_lines():
    with pytest.raises(ValueError):
        embeddings.parse_glove_text("a 1 2 3\nb 1 2\n")


def test_nearest_neighbours():
    glove = embeddings.parse_glove_text(GLOVE_TEXT)
    # "the" and ". . ." point the same way (cosine 0.70); "bad" is the opposite of "good".
    neighbours = glove.nearest("good", 4)
    assert {w for w, _ in neighbours[:2]} == {"the", ". . ."}
    assert [w for w, _ in neighbours[2:]] == ["movie", "bad"]
    assert neighbours[0][1] == pytest.approx(0.6999, abs=1e-3)
    assert neighbours[-1][1] == pytest.approx(-1.0, abs=1e-5)
    with pytest.raises(KeyError, match="no GloVe vector"):
        glove.nearest("zebra")


def test_load_glove_from_zip_is_cached(glove_zip, tmp_path, monkeypatch):
    root = glove_zip.parent
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    # the fixture zip is not the real one: point the registry entry at its checksum
    from nlpbook import registry

    spec = registry.REGISTRY["glove.6B"]
    import hashlib

    digest = hashlib.sha256(glove_zip.read_bytes()).hexdigest()
    fake = registry.DatasetSpec(
        spec.name,
        spec.description,
        spec.target,
        (registry.Source("glove.6B.zip", f"sha256:{digest}"),),
        extract=False,
    )
    monkeypatch.setitem(registry.REGISTRY, "glove.6B", fake)
    glove = embeddings.load_glove("6B.50d", root=root, offline_ok=False)
    assert glove.words[:2] == ["the", "good"]
    assert (root / "glove_cache" / "glove.6B.50d.npy").exists()
    glove_zip.unlink()  # the second load must not need the zip
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
    glove = embeddings.parse_glove_text(GLOVE_TEXT)
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
