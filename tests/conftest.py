"""Shared fixtures: tiny datasets in the real formats, written by the tests themselves."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import fixtures_canonical as canonical_fixtures
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

IMDB_REVIEWS = {
    ("train", "pos", 3, 9): "A wonderful film.<br /><br />I loved every minute.",
    ("train", "pos", 10, 8): "Great acting, great story!",
    ("train", "neg", 0, 2): "Terrible. Just terrible.",
    ("train", "neg", 7, 1): "I want my two hours back.",
    ("test", "pos", 1, 10): "Best movie of the year.",
    ("test", "neg", 2, 3): "Boring and far too long.",
}

SNLI_LINES = [
    {
        "gold_label": "entailment",
        "sentence1": "A man is playing a guitar .",
        "sentence2": "A person plays music .",
    },
    {"gold_label": "-", "sentence1": "Two dogs run .", "sentence2": "Animals are outside ."},
    {
        "gold_label": "contradiction",
        "sentence1": "A woman sleeps .",
        "sentence2": "A woman is running .",
    },
    {
        "gold_label": "neutral",
        "sentence1": "Kids play soccer .",
        "sentence2": "The kids are friends .",
    },
]

FASTTEXT_LINES = [
    "__label__2 Great CD: My lovely Pat has one of the GREAT voices of her generation.\n",
    "__label__1 Batteries died within a year ...: I bought this charger in Jul 2003.\n",
    "__label__2 works fine: but Maha Energy is better. Check out http://example.com today\n",
]

GLOVE_TEXT = (
    "the 0.1 0.2 0.3\n"
    "good 0.5 -0.25 1.0\n"
    "bad -0.5 0.25 -1.0\n"
    "movie 0.0 0.75 0.5\n"
    ". . . 1.0 2.0 3.0\n"  # a word with spaces, as glove.840B has
)


def write_imdb_tree(root: Path) -> Path:
    """An aclImdb layout with a few made-up reviews; returns the aclImdb directory."""
    base = root / "aclImdb"
    for (split, sentiment, review_id, rating), text in IMDB_REVIEWS.items():
        folder = base / split / sentiment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{review_id}_{rating}.txt").write_text(text, encoding="utf-8")
    (base / "README").write_text("tiny fixture\n")
    return base


def make_tar_gz(source_dir: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source_dir, arcname=arcname)
    return archive


@pytest.fixture
def imdb_dir(tmp_path: Path) -> Path:
    return write_imdb_tree(tmp_path / "src")


@pytest.fixture
def imdb_tar(tmp_path: Path) -> Path:
    base = write_imdb_tree(tmp_path / "src")
    return make_tar_gz(base, tmp_path / "aclImdb_v1.tar.gz", "aclImdb")


@pytest.fixture
def snli_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "snli_1.0"
    folder.mkdir()
    for split in ("dev", "test"):
        lines = "".join(json.dumps(r) + "\n" for r in SNLI_LINES)
        (folder / f"snli_1.0_{split}.jsonl").write_text(lines, encoding="utf-8")
    return folder


@pytest.fixture
def fasttext_file(tmp_path: Path) -> Path:
    path = tmp_path / "test.ft.txt"
    path.write_text("".join(FASTTEXT_LINES), encoding="utf-8")
    return path


@pytest.fixture
def glove_zip(tmp_path: Path) -> Path:
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("glove.6B.50d.txt", GLOVE_TEXT)
    return path


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(request):
    """The test module's `Handler` (a BaseHTTPRequestHandler) on a loopback HTTP server
    (127.0.0.1, a free port) for the module's tests; yields the base URL. The data tests'
    one server fixture (tests/data/)."""
    with canonical_fixtures.serve_handler(request.module.Handler) as url:
        yield url


def leftovers(root: Path) -> list[str]:
    """Every path under `root`, relative to it, less the lock files: `filelock` leaves a
    dataset's `.<name>.lock` in the data root, empty and unlocked, after each fetch."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix != ".lock")


# ---------------------------------------------------------------- chapter 05's tiny corpus
# Shared by test_corpus.py and test_infill.py.

CORPUS_SENTENCES = [
    ["the", "movie", "was", "good"],
    ["the", "film", "was", "bad"],
    ["a", "good", "movie"],
    ["the", "plot", "was", "dull", "zzz"],
]


@pytest.fixture
def glove():
    """8-d vectors for the corpus's words ("zzz" has none); "film" and "movie" share one, so
    their binary codes collide."""
    from nlpbook.embeddings import GloVe

    words = ["the", "movie", "was", "good", "film", "bad", "a", "plot", "dull"]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(words), 8)).astype(np.float32)
    vectors[words.index("film")] = vectors[words.index("movie")]  # a forced collision
    return GloVe(words, vectors)


@pytest.fixture
def vocab(glove):
    """The corpus's vocabulary, words GloVe knows only."""
    from nlpbook import corpus

    return corpus.build_vocab(CORPUS_SENTENCES, max_size=100, known=glove.index)


# ---------------------------------------------------------------- file order for `make unit`
# `make unit` gives whole files to its two workers (--dist loadfile) in collection order
# (--no-loadscope-reorder; xdist's default order is by number of tests, which put these last).
# The slowest files go first, longest first, so the quick ones fill in around them and no worker
# starts a long file when the other is nearly done. Their times under `make unit` (2 cores):
# exercises about 85 s, full-profile smoke about 75 s, the other two 10 to 20 s each.
SLOWEST_FILES = (
    "test_exercises.py",
    "test_full_profile_smoke.py",
    "test_colab_cells.py",
    "test_portable.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole
