"""GloVe's files: its text format parsed fast and strictly, and the cache of what was parsed.

`parse_glove_text` reads 'word v1 ... vD' lines with pyarrow's CSV reader (no Python loop over
floats, a zip member read as a stream); every malformed line is a ValueError naming the file
and line, never a shifted vector, and 840B's words with spaces are kept (a comparison with
pooch and torchtext: neither parses them). `save_cache`/`load_cache` keep the parsed matrix
under <data root>/glove_cache as a .npy, a word list and a meta file with their sizes and
checksums, so that a damaged or half-written cache is detected and rebuilt, and the next load
takes well under a second. `nlpbook.embeddings.load_glove` uses both.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from nlpbook.data.disk import save_atomically


class WordVectors(NamedTuple):
    """Words and their (V, D) float32 matrix as a file holds them; `nlpbook.embeddings.GloVe`
    wraps them for lookup."""

    words: list[str]
    vectors: np.ndarray


def parse_glove_text(
    lines: bytes | bytearray | str | BinaryIO,
    dim: int | None = None,
    *,
    words_with_spaces: bool = True,
    source: str = "GloVe text",
) -> WordVectors:
    """Parse GloVe's text format ('word v1 ... vD' a line) without a Python loop over floats.

    pyarrow's CSV reader parses the file as space-separated columns (no quoting, so a
    word may be `"`). Rows that do not have D + 1 columns are set aside, checked one by
    one and put back in their place in the file: a trailing space is fine, and
    with `words_with_spaces` (840B has a few such words) the last D fields are the vector. Anything else is a ValueError naming
    `source` and the line: a malformed file must never be parsed into shifted vectors.
    Pass `dim` when it is known; otherwise the first line sets it. `lines` may be a binary
    file (a zip member), read as a stream: the 5.6 GB of 840B's text are never in memory.
    """
    # Imported on the first parse, not at the top: pyarrow is heavy, and importing
    # nlpbook.embeddings (which imports this module) must stay light for a cached load.
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
    odd_rows: list[tuple[int, str]] = []  # (number among the non-empty lines, text)

    def set_aside(row) -> str:
        odd_rows.append((row.number, row.text))
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
                # One thread: only then does pyarrow give a set-aside row its number (to put
                # it back in place), and a Python stream read from pyarrow's threads aborts
                # the process at exit when parsing fails midway.
                use_threads=False,
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
    try:
        odd = [_split_row(text, dim, words_with_spaces) for _, text in odd_rows]
    except _BadRow as e:
        raise ValueError(f"{source}, line {_line_number(lines, e.row)}: {e}") from None
    # File order, so that a word listed twice keeps its first vector (GloVe's rule) even
    # when one copy was set aside (a trailing space, a word with spaces).
    total = table.num_rows + len(odd)
    odd_at = [number - 1 for number, _ in odd_rows]
    regular_at = np.delete(np.arange(total), odd_at) if odd else slice(None)
    vectors = np.empty((total, dim), dtype=np.float32)  # filled a column at a time:
    for j, column in enumerate(table.columns[1:]):  # no second full-size copy (2.6 GB for 840B)
        vectors[regular_at, j] = column.to_numpy()
    if odd:
        vectors[odd_at] = np.stack([vector for _, vector in odd])
        odd_words = {at: word for at, (word, _) in zip(odd_at, odd, strict=True)}
        regular = iter(words)
        words = [odd_words[i] if i in odd_words else next(regular) for i in range(total)]
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        word = words[bad[0]]
        raise ValueError(f"{source}: the vector of {word!r} is not finite (nan or inf)")
    return WordVectors(words, np.ascontiguousarray(vectors))


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


# ---------------------------------------------------------------- the cache


def cache_paths(name: str, root: Path) -> tuple[Path, Path]:
    """The matrix and word-list files of GloVe `name`'s cache under the data root `root`."""
    cache = root / "glove_cache"
    return cache / f"glove.{name}.npy", cache / f"glove.{name}.words.txt"


def _meta_path(npy: Path) -> Path:
    return npy.with_name(npy.stem + ".meta.json")


def _matrix_crc(vectors: np.ndarray) -> int:
    # A CRC, not a cryptographic hash: it catches damage (not tampering) at over twice
    # sha256's speed (0.04 s for 6B.100d's 160 MB here, so about 0.7 s for 840B's 2.6 GB).
    return zlib.crc32(memoryview(np.ascontiguousarray(vectors)).cast("B"))


def save_cache(glove: WordVectors, npy: Path, words: Path) -> None:
    """Write the parsed matrix, word list and their sizes/checksums (each to .part, renamed).

    The meta file is written last: a cache without one was interrupted and is not used.
    """
    npy.parent.mkdir(parents=True, exist_ok=True)
    meta = _meta_path(npy)
    meta.unlink(missing_ok=True)
    word_bytes = ("\n".join(glove.words) + "\n").encode("utf-8")
    save_atomically(npy, lambda part: _save_npy(part, glove.vectors))
    save_atomically(words, word_bytes)
    record = {
        "rows": len(glove.words),
        "dim": glove.vectors.shape[1],
        "npy_bytes": npy.stat().st_size,
        "words_sha256": hashlib.sha256(word_bytes).hexdigest(),
        "matrix_crc32": _matrix_crc(glove.vectors),
    }
    save_atomically(meta, json.dumps(record))


def _save_npy(path: Path, vectors: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file, not a name: np.save would add ".npy" to "x.npy.part"
        np.save(f, vectors)


def load_cache(npy: Path, words: Path) -> WordVectors:
    """Load a cache written by `save_cache`; a ValueError names the file that is damaged."""
    meta_file = _meta_path(npy)
    if not meta_file.is_file():
        raise ValueError(f"{meta_file} is missing: the cache was never finished")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        rows, dim, npy_bytes, words_sha, matrix_crc = (
            int(meta["rows"]),
            int(meta["dim"]),
            int(meta["npy_bytes"]),
            meta["words_sha256"],
            int(meta["matrix_crc32"]),  # caches from before it was recorded are rebuilt
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
    if vectors.shape != (rows, dim) or vectors.dtype != np.float32 or len(word_list) != rows:
        raise ValueError(f"{npy} holds {vectors.dtype} {vectors.shape}, expected ({rows}, {dim})")
    if _matrix_crc(vectors) != matrix_crc:  # damage that kept the size: NaN or wrong vectors
        raise ValueError(f"{npy} does not match its checksum in {meta_file.name}")
    return WordVectors(word_list, vectors)

