"""The on-disk cache of parsed GloVe: a .npy matrix, a word list and a meta file with their
sizes and checksums, so that a damaged or half-written cache is detected and rebuilt.

`nlpbook.embeddings.load_glove` keeps what `nlpbook.glove_text` parsed under
<data root>/glove_cache (chapters 02-05): the next load takes well under a second.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from nlpbook.glove import GloVe


def cache_paths(name: str, root: Path) -> tuple[Path, Path]:
    """The matrix and word-list files of GloVe `name`'s cache under the data root `root`.

    Chapters 02-05.
    """
    cache = root / "glove_cache"
    return cache / f"glove.{name}.npy", cache / f"glove.{name}.words.txt"


def _meta_path(npy: Path) -> Path:
    return npy.with_name(npy.stem + ".meta.json")


def _matrix_crc(vectors: np.ndarray) -> int:
    # A CRC, not a cryptographic hash: it catches damage (not tampering) at over twice
    # sha256's speed (0.04 s for 6B.100d's 160 MB here, so about 0.7 s for 840B's 2.6 GB).
    return zlib.crc32(memoryview(np.ascontiguousarray(vectors)).cast("B"))


def save_cache(glove: GloVe, npy: Path, words: Path) -> None:
    """Write the parsed matrix, word list and their sizes/checksums (each to .part, renamed).

    The meta file is written last: a cache without one was interrupted and is not used.
    Chapters 02-05.
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
            "matrix_crc32": _matrix_crc(glove.vectors),
        }
        tmp_meta.write_text(json.dumps(record), encoding="utf-8")
        tmp_npy.replace(npy)
        tmp_words.replace(words)
        tmp_meta.replace(meta)
    finally:
        for tmp in (tmp_npy, tmp_words, tmp_meta):
            tmp.unlink(missing_ok=True)


def load_cache(npy: Path, words: Path) -> GloVe:
    """Load a cache written by `save_cache`; a ValueError names the file that is damaged.

    Chapters 02-05.
    """
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
    return GloVe(word_list, vectors)
