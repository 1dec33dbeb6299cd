"""Readers for the real dataset formats, and the generated data of chapter 01.

- `read_imdb`: the aclImdb layout (a directory or a .tar.* archive) -> (text, label) pairs.
- `read_snli`: SNLI jsonl -> (premise, hypothesis, label) triples, gold-labelled pairs only.
- `read_amazon_polarity`: fastText lines (`__label__1|2 title: text`) or Zhang's CSV.
- `make_exam_scores`: the 100 two-feature points of chapter 01.
"""

from __future__ import annotations

import csv
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from nlpbook import data, utils
from nlpbook.data.disk import ARCHIVE_ERRORS

IMDB_SPLITS = ("train", "test")
SNLI_SPLITS = ("train", "dev", "test")
SNLI_LABELS = ("entailment", "neutral", "contradiction")
_IMDB_NAME = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_IMDB_FILE = re.compile(r"^(\d+)_(\d+)\.txt$")


def _decode_review(raw: bytes, name: str) -> str:
    """UTF-8 text with any BOM dropped and CRLF/CR turned into LF, the same for every source."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file, BOM dropped; a bad byte is an error naming the line."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path}:{line_no}: not valid UTF-8 ({e.reason} at byte {e.start})"
                ) from None


def _check_split(split: str, splits: tuple[str, ...], dataset: str) -> None:
    if split not in splits:
        raise ValueError(f"{dataset} has no split {split!r}; choose one of {', '.join(splits)}")


def read_imdb(split: str, path: str | Path | None = None) -> list[tuple[str, int]]:
    """IMDb reviews of `split` as (text, label) pairs, label 1 = positive; sorted by (label, id).

    `path` is an `aclImdb` directory or an archive containing one; by default the
    dataset is resolved through the registry (data root, mirrors, download). Only files
    named `<id>_<rating>.txt` are reviews; text is UTF-8 with line ends turned into LF.
    Chapters 03 and 05.
    """
    _check_split(split, IMDB_SPLITS, "IMDb")
    path = Path(path) if path is not None else data.fetch("imdb")
    items = []  # (sentiment, name, id, text)
    if path.is_dir():
        base = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for sentiment in ("neg", "pos"):
            folder = base / split / sentiment
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} is missing: not an aclImdb layout")
            for f in folder.iterdir():
                m = _IMDB_FILE.match(f.name)  # other files (notes, .DS_Store) are not reviews
                if m and f.is_file():
                    text = _decode_review(f.read_bytes(), str(f))
                    items.append((sentiment, f.name, int(m.group(1)), text))
    elif tarfile.is_tarfile(path):
        try:
            with tarfile.open(path) as tf:
                for member in tf:
                    m = _IMDB_NAME.search(member.name)
                    if member.isfile() and m and m.group(1) == split:
                        raw = tf.extractfile(member).read()
                        text = _decode_review(raw, f"{path}:{member.name}")
                        items.append((m.group(2), member.name, int(m.group(3)), text))
        except ARCHIVE_ERRORS as e:
            raise ValueError(f"{path} is damaged (a truncated or corrupt archive: {e})") from None
    else:
        raise FileNotFoundError(f"{path} is neither an aclImdb directory nor a tar archive")
    if not items:
        raise ValueError(f"no IMDb {split} reviews found in {path}")
    items.sort(key=lambda it: (it[0], it[2]))
    return [(text, int(sentiment == "pos")) for sentiment, _, _, text in items]


def read_snli(split: str, path: str | Path | None = None) -> list[tuple[str, str, int]]:
    """SNLI pairs of `split` as (premise, hypothesis, label index into SNLI_LABELS). Chapter 04.

    Pairs without a gold label ('-') are skipped. `path` is the `snli_1.0` directory
    (default: resolved through the registry).
    """
    _check_split(split, SNLI_SPLITS, "SNLI")
    filename = f"snli_1.0_{split}.jsonl"
    if path is None:
        try:
            path = data.fetch("snli", need=[filename])
        except data.DataError as e:
            raise FileNotFoundError(
                f"the SNLI {split} split ({filename}) is not available: {e}\n"
                "The offline mirror holds only dev and test; the train split comes from "
                "snli_1.0.zip (NLPBOOK_PROFILE=full make data)."
            ) from None
    file = Path(path) / filename
    if not file.is_file():
        raise FileNotFoundError(
            f"the SNLI {split} split is not present: {file} does not exist "
            "(the offline mirror holds only dev and test; train comes from snli_1.0.zip).\n"
            + data.DOCTOR_HINT
        )
    pairs = [_snli_pair(line, f"{file}:{line_no}") for line_no, line in _text_lines(file)]
    pairs = [pair for pair in pairs if pair is not None]
    if not pairs:
        raise ValueError(f"no SNLI {split} pairs with a gold label in {file}")
    return pairs


_SNLI_INDEX = {label: i for i, label in enumerate(SNLI_LABELS)}


def _snli_pair(line: str, where: str) -> tuple[str, str, int] | None:
    """One jsonl line -> (premise, hypothesis, label), None for a blank line or gold label '-'."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not an SNLI record ({e})") from None
    keys = ("gold_label", "sentence1", "sentence2")
    if not isinstance(record, dict) or not all(k in record for k in keys):
        raise ValueError(f"{where}: not an SNLI record (a JSON object with {', '.join(keys)})")
    for key in ("sentence1", "sentence2"):
        if not isinstance(record[key], str):
            raise ValueError(f"{where}: {key} must be a string, not {record[key]!r}")
    gold = record["gold_label"]
    if gold == "-":
        return None
    if gold not in _SNLI_INDEX:
        raise ValueError(
            f"{where}: unknown label {gold!r}; SNLI's are {', '.join(SNLI_LABELS)} and '-'"
        )
    return record["sentence1"], record["sentence2"], _SNLI_INDEX[gold]


_FASTTEXT_LABEL = re.compile(r"^__label__([12]) (.*)$", re.DOTALL)


def parse_fasttext_line(line: str) -> tuple[str, int]:
    """One fastText line `__label__1|2 title: text` -> (text, label), label 1 = positive.

    Chapter 02.
    """
    m = _FASTTEXT_LABEL.match(line.rstrip("\r\n"))
    if not m:
        raise ValueError(f"not a fastText polarity line: {line[:60]!r}")
    return m.group(2), int(m.group(1) == "2")


def read_amazon_polarity(path: str | Path, limit: int | None = None) -> list[tuple[str, int]]:
    """Amazon polarity reviews as (text, label), label 1 = positive, in file order. Chapter 02.

    Reads the fastText form (`*.ft.txt`: `__label__1|2 title: text`) or Zhang et al.'s
    CSV (`"1|2","title","text"`, converted to `title: text`). `limit` keeps the first N.
    """
    limit = utils.whole_number(limit, "limit", 0, none_ok=True, what="reviews")
    path = Path(path)
    reviews: list[tuple[str, int]] = []
    lines = _text_lines(path)
    if path.suffix == ".csv":
        rows = csv.reader(line for _, line in lines)
        for row in _csv_rows(rows, path):
            if limit is not None and len(reviews) >= limit:
                break
            if len(row) != 3 or row[0] not in ("1", "2"):
                raise ValueError(
                    f"{path}:{rows.line_num}: not an Amazon polarity CSV row: {row[:1]}"
                )
            title, text = row[1], row[2].replace("\\n", " ")
            reviews.append((f"{title}: {text}" if title else text, int(row[0] == "2")))
    else:
        for line_no, line in lines:
            if limit is not None and len(reviews) >= limit:
                break
            if line.strip():
                try:
                    reviews.append(parse_fasttext_line(line))
                except ValueError as e:
                    raise ValueError(f"{path}:{line_no}: {e}") from None
    if not reviews and limit != 0:
        raise ValueError(f"no Amazon polarity reviews in {path}")
    return reviews


def _csv_rows(rows, path: Path) -> Iterator[list[str]]:
    """The rows of a csv.reader, its errors (a field over csv's 128 KiB limit) naming the line."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            raise ValueError(
                f"{path}:{rows.line_num}: not an Amazon polarity CSV row ({e})"
            ) from None
        yield row


def make_exam_scores(n: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 01's data: two exam scores (0-100) per student and whether they were admitted.

    Scores are uniform on [30, 100]; the chance of admission is a logistic function of
    the scores' sum (admitted about half the time, around a sum of 130), with a soft
    boundary so that the classes overlap and a linear classifier gets about 0.9, like the
    original notebook's 0.89. Returns X (n, 2) float32 and y (n,) float32 in {0, 1}.
    """
    rng = np.random.default_rng(seed)
    scores = rng.uniform(30.0, 100.0, size=(n, 2))
    logit = (scores[:, 0] + 0.9 * scores[:, 1] - 123.0) / 7.0
    admitted = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return torch.tensor(scores, dtype=torch.float32), torch.tensor(admitted, dtype=torch.float32)
