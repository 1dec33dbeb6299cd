"""Tiny datasets in the exact canonical formats and file names, and a loopback server for them.

Every downloadable registry entry gets an archive that the full profile's code reads as if
it were the real download: `aclImdb_v1.tar.gz`, `snli_1.0.zip`, Amazon polarity's
`amazon_review_polarity_csv.tgz`, `glove.6B.zip` and `glove.840B.300d.zip`. They hold a few dozen records each, made from templates so that
every split has both labels (all three for SNLI), every chapter's example sentences use
known words, and the GloVe files cover the vocabulary. `serve` puts them on 127.0.0.1 and
`write_override` points $NLPBOOK_REGISTRY_OVERRIDE at them. Used by
tests/test_full_profile_smoke.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# ---------------------------------------------------------------- IMDb

_POS_SENTENCES = [
    "This film is great and the acting was wonderful .",
    "One of the best movies I have ever seen in my life .",
    "The story was beautiful and the cinematography made me smile .",
    "I loved every minute of this movie and I will watch it again .",
    "The director did a brilliant job with a very good cast .",
    "It is not bad at all , I quite liked the ending .",
    "A touching and funny film that my whole family enjoyed .",
    "The actors were excellent and the plot was clever .",
]
_NEG_SENTENCES = [
    "This film is terrible and the acting was bad .",
    "I have never seen such a bad film in my life .",
    "The plot was boring and the story made no sense .",
    "I want my two hours back , what a waste of a movie .",
    "The director did a poor job with a very weak cast .",
    "It is not great at all , I hated the ending .",
    "Oh great , another two hours of my life I will never get back .",
    "The actors were awful and the dialogue was stupid .",
]


def _review(rng: random.Random, sentences: list[str], other: list[str]) -> str:
    chosen = rng.sample(sentences, 3) + [rng.choice(other)]  # mostly one way, like real reviews
    rng.shuffle(chosen)
    text = " ".join(s.replace(" .", ".").replace(" ,", ",") for s in chosen)
    if rng.random() < 0.5:
        text = text.replace(". ", ".<br /><br />", 1)  # IMDb's line breaks
    return text


def imdb_reviews(n_train: int = 40, n_test: int = 24) -> dict[tuple[str, str, int, int], str]:
    """(split, pos|neg, id, rating) -> review text; half positive in each split."""
    rng = random.Random(0)
    reviews = {}
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            positive = k % 2 == 0
            rating = rng.randint(7, 10) if positive else rng.randint(1, 4)
            sentences, other = (
                (_POS_SENTENCES, _NEG_SENTENCES) if positive else (_NEG_SENTENCES, _POS_SENTENCES)
            )
            key = (split, "pos" if positive else "neg", k // 2, rating)
            reviews[key] = _review(rng, sentences, other)
    return reviews


def imdb_archive(reviews: dict | None = None) -> bytes:
    """aclImdb_v1.tar.gz: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt plus the other files
    of the real archive (unsup/, urls_*.txt, labeledBow.feat, imdb.vocab, imdbEr.txt, README)."""
    reviews = reviews or imdb_reviews()
    members = {
        f"aclImdb/{split}/{sentiment}/{rid}_{rating}.txt": text.encode()
        for (split, sentiment, rid, rating), text in reviews.items()
    }
    for split in ("train", "test"):
        for sentiment in ("pos", "neg"):
            ids = sorted(r for s, p, r, _ in reviews if (s, p) == (split, sentiment))
            urls = "".join(f"http://www.imdb.com/title/tt0{400000 + i}/usercomments\n" for i in ids)
            members[f"aclImdb/{split}/urls_{sentiment}.txt"] = urls.encode()
        members[f"aclImdb/{split}/labeledBow.feat"] = b"9 0:9 1:1 2:4\n"
    members["aclImdb/train/unsup/0_0.txt"] = b"A review without a label.<br /><br />Unsup."
    members["aclImdb/train/urls_unsup.txt"] = b"http://www.imdb.com/title/tt0400000/usercomments\n"
    members["aclImdb/train/unsupBow.feat"] = b"0:1 1:1\n"
    members["aclImdb/imdb.vocab"] = b"the\nand\na\nof\n"
    members["aclImdb/imdbEr.txt"] = b"0.0490972013402\n0.201363575849\n"
    members["aclImdb/README"] = b"Large Movie Review Dataset v1.0\n"
    return tar_gz(members)


# ---------------------------------------------------------------- SNLI

# (premise, entailed, neutral, contradicting) hypotheses, SNLI's tokenised-with-spaces style
_SNLI_TEMPLATES = [
    (
        "A man is playing a guitar on stage .",
        "A man is performing music .",
        "The man is a famous singer .",
        "The man is sleeping in his bed .",
    ),
    (
        "A soccer game with multiple males playing .",
        "Some men are playing a sport .",
        "The men are playing for a trophy .",
        "Nobody is playing a game .",
    ),
    (
        "Two women are embracing while holding to-go packages .",
        "Two women are holding packages .",
        "The sisters are hugging goodbye after lunch .",
        "The men are fighting outside a deli .",
    ),
    (
        "A black race car starts up in front of a crowd of people .",
        "A car is in front of people .",
        "A man is driving the race car .",
        "A man is driving down a lonely road .",
    ),
    (
        "A smiling costumed woman is holding an umbrella .",
        "A happy woman in a costume holds an umbrella .",
        "A woman in a fairy costume is at a party .",
        "A woman is sad and holds nothing .",
    ),
    (
        "Kids are playing in the water at a park .",
        "Children are outside .",
        "The kids are friends from school .",
        "The kids are sitting inside a car .",
    ),
    (
        "A dog runs through the grass with a ball .",
        "An animal is running .",
        "The dog is chasing its owner .",
        "The dog is sleeping on a couch .",
    ),
    (
        "An old man sits on a bench reading a newspaper .",
        "A man is reading .",
        "The man is waiting for a bus .",
        "A young girl is swimming .",
    ),
]
SNLI_LABELS = ("entailment", "neutral", "contradiction")


def _parse(sentence: str) -> tuple[str, str]:
    """A (binary parse, parse) pair in SNLI's bracket style (flat, good enough for a fixture)."""
    words = sentence.split()
    return "( " + " ".join(words) + " )", "(ROOT (S " + " ".join(f"(X {w})" for w in words) + "))"


def snli_records(split: str, n: int) -> list[dict]:
    """`n` SNLI records of `split`: every label, a few '-' (no gold label) among them."""
    rng = random.Random(f"snli-{split}")
    records = []
    for k in range(n):
        premise, *hypotheses = _SNLI_TEMPLATES[k % len(_SNLI_TEMPLATES)]
        label_index = (k // len(_SNLI_TEMPLATES) + k) % 3
        hypothesis = hypotheses[label_index]
        labels = [SNLI_LABELS[label_index]] * 4 + [rng.choice(SNLI_LABELS)]
        gold = "-" if k % 11 == 5 else SNLI_LABELS[label_index]
        if gold == "-":
            labels = ["neutral", "contradiction", "entailment", "neutral", "contradiction"]
        b1, p1 = _parse(premise)
        b2, p2 = _parse(hypothesis)
        records.append(
            {
                "annotator_labels": labels,
                "captionID": f"{3416050480 + k}.jpg#{k % 5}",
                "gold_label": gold,
                "pairID": f"{3416050480 + k}.jpg#{k % 5}r1{gold[:1] or 'n'}",
                "sentence1": premise,
                "sentence1_binary_parse": b1,
                "sentence1_parse": p1,
                "sentence2": hypothesis,
                "sentence2_binary_parse": b2,
                "sentence2_parse": p2,
            }
        )
    return records


_SNLI_TXT_COLUMNS = (
    "gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
    "sentence1 sentence2 captionID pairID label1 label2 label3 label4 label5"
).split()


def snli_archive(sizes: dict[str, int] | None = None) -> bytes:
    """snli_1.0.zip: snli_1.0/snli_1.0_{train,dev,test}.{jsonl,txt}, README.txt, macOS litter."""
    sizes = sizes or {"train": 64, "dev": 32, "test": 32}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("snli_1.0/", b"")
        for split, n in sizes.items():
            records = snli_records(split, n)
            zf.writestr(
                f"snli_1.0/snli_1.0_{split}.jsonl",
                "".join(json.dumps(r) + "\n" for r in records),
            )
            rows = ["\t".join(_SNLI_TXT_COLUMNS)]
            for r in records:
                labels = r["annotator_labels"] + [""] * (5 - len(r["annotator_labels"]))
                rows.append("\t".join([r[c] for c in _SNLI_TXT_COLUMNS[:9]] + labels))
            zf.writestr(f"snli_1.0/snli_1.0_{split}.txt", "\n".join(rows) + "\n")
        zf.writestr("snli_1.0/README.txt", "Stanford Natural Language Inference (SNLI) 1.0\n")
        zf.writestr("snli_1.0/.DS_Store", b"\x00\x00\x00\x01Bud1")
        zf.writestr("snli_1.0/Icon\r", b"")
        zf.writestr("__MACOSX/snli_1.0/._snli_1.0_dev.jsonl", b"\x00\x05\x16\x07\x00\x02")
    return buffer.getvalue()


# ---------------------------------------------------------------- Amazon review polarity

_AMAZON_POS = [
    ("Great CD", 'My lovely Pat has one of the GREAT voices, "truly", of her generation.'),
    (
        "Best blender ever",
        "This is the best blender I have ever owned. Works great, easy to clean.",
    ),
    ("Highly recommend!", "Works great and it is easy to use. I highly recommend it, 5 stars."),
    ("Love it", 'The "quality" is great and it arrived on time.\\nI love it, thank you!'),
    ("A must have", "Easy to clean, works great, and the price is right. Best buy this year."),
]
_AMAZON_NEG = [
    ("Batteries died", "I bought this charger in Jul 2003, and it worked OK for a while."),
    ("Waste of money", "Waste of money. The battery died after a week, and it broke."),
    ("Do not buy", 'Terrible "customer service", the seller never answered. Do not buy this!'),
    ("Broke fast", "It broke after two days.\\nThe quality is terrible, a waste of money."),
    ("Useless", "Useless product, it does not work and customer service was useless."),
]


def _csv_field(text: str) -> str:
    """Zhang et al.'s quoting: every field in double quotes, a quote inside doubled."""
    return '"' + text.replace('"', '""') + '"'


def amazon_csv(n: int, seed: str) -> str:
    """`n` rows `"1|2","title","text"`, alternating labels (2 = positive), Zhang's quoting."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        positive = k % 2 == 0
        pool = _AMAZON_POS if positive else _AMAZON_NEG
        title, text = pool[rng.randrange(len(pool))]
        extra = rng.choice(pool)[1]
        rows.append(",".join(map(_csv_field, ("2" if positive else "1", title, f"{text} {extra}"))))
    return "\n".join(rows) + "\n"


def amazon_archive(n_train: int = 64, n_test: int = 32) -> bytes:
    """amazon_review_polarity_csv.tgz (and Zhang's .tar.gz): train.csv, test.csv, readme.txt."""
    return tar_gz(
        {
            "amazon_review_polarity_csv/": None,
            "amazon_review_polarity_csv/train.csv": amazon_csv(n_train, "train").encode(),
            "amazon_review_polarity_csv/test.csv": amazon_csv(n_test, "test").encode(),
            "amazon_review_polarity_csv/readme.txt": b"Amazon Review Polarity Dataset\n",
        }
    )


# ---------------------------------------------------------------- GloVe


def fixture_words() -> list[str]:
    """Every word of the fixtures above and of the chapters' example sentences, lowercased."""
    texts = [t for pair in _AMAZON_POS + _AMAZON_NEG for t in pair]
    texts += _POS_SENTENCES + _NEG_SENTENCES + [s for t in _SNLI_TEMPLATES for s in t]
    texts += [  # words the chapters look up or predict with
        "movie film good great bad boring terrible table was very such this i have never seen",
        "the acting plot story beautiful no sense one of best movies ever and made",
        "blender battery seller customer service money quality review stars",
    ]
    words = set()
    for text in texts:
        words.update(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()))
    return sorted(words | {"<br", "/><br", "/>", "'s", "n't", "...", "to-go"})


def _vector(rng: random.Random, dim: int) -> str:
    return " ".join(f"{rng.gauss(0, 0.4):.5f}" for _ in range(dim))


def glove_text(words: list[str], dim: int, seed: int = 0) -> str:
    """GloVe's text format: `word v1 ... vD` a line, single spaces, no header."""
    rng = random.Random(seed)
    return "".join(f"{w} {_vector(rng, dim)}\n" for w in words)


def glove_6b_archive(words: list[str] | None = None) -> bytes:
    """glove.6B.zip: glove.6B.{50,100,200,300}d.txt (6B is lowercased; no word has a space)."""
    words = words or fixture_words()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for dim in (50, 100, 200, 300):
            zf.writestr(f"glove.6B.{dim}d.txt", glove_text(words, dim, seed=dim))
    return buffer.getvalue()


# 840B is cased and holds odd tokens: words with spaces, quotes, backslashes, "nan"/"null"
# (which must stay words, not missing values), non-ASCII, URLs and e-mail addresses, and a
# few words listed twice (the first occurrence counts).
ODD_840B_WORDS = [
    ". . .",
    "at name@domain.com",
    "- - -",
    '"',
    "'",
    "\\",
    "nan",
    "NaN",
    "null",
    "#",
    "&amp;",
    "£",
    "café",
    "naïve",
    "—",
    "http://www.example.com",
    "name@domain.com",
    "1,000",
]


def glove_840b_words(words: list[str] | None = None) -> list[str]:
    words = words or fixture_words()
    cased = sorted({w.capitalize() for w in words if w.isalpha()} | {"I", "NASA", "SNLI"})
    return words + cased + ODD_840B_WORDS + ["the", "A"]  # the last two: listed twice


def glove_840b_archive(words: list[str] | None = None) -> bytes:
    """glove.840B.300d.zip: one member, glove.840B.300d.txt."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("glove.840B.300d.txt", glove_text(glove_840b_words(words), 300, seed=840))
    return buffer.getvalue()


# ---------------------------------------------------------------- archives, checksums, server


def tar_gz(members: dict[str, bytes | None]) -> bytes:
    """A .tar.gz of `members` (name -> bytes; None makes a directory entry)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 1_300_000_000
            if payload is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o644
                tf.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def checksum(payload: bytes, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}"


def canonical_archives() -> dict[str, dict[str, bytes]]:
    """dataset -> {source filename as the registry names it: archive bytes}."""
    return {
        "imdb": {"aclImdb_v1.tar.gz": imdb_archive()},
        "snli": {"snli_1.0.zip": snli_archive()},
        # Zhang's .tar.gz has no URL (Google Drive; a mirror copy only): not served
        "amazon_polarity": {"amazon_review_polarity_csv.tgz": amazon_archive()},
        "glove.6B": {"glove.6B.zip": glove_6b_archive()},
        "glove.840B.300d": {"glove.840B.300d.zip": glove_840b_archive()},
    }


def write_archives(folder: Path, archives: dict[str, dict[str, bytes]]) -> None:
    """Write each archive to folder/<dataset>/<filename> (the layout `serve` serves)."""
    for name, sources in archives.items():
        for filename, payload in sources.items():
            path = folder / name / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)


def write_override(
    path: Path, base_url: str, archives: dict[str, dict[str, bytes]]
) -> dict[str, dict[str, dict]]:
    """A registry override file pointing every source in `archives` at `base_url`.

    Checksums use the registry's algorithm for that source, so the same verification code
    runs as on the real files.
    """
    from nlpbook.data import registry

    override: dict[str, dict[str, dict]] = {}
    for name, sources in archives.items():
        spec = registry.REGISTRY[name]
        for filename, payload in sources.items():
            (source,) = [s for s in spec.sources if s.filename == filename]
            algorithm = source.checksum.split(":", 1)[0]
            override.setdefault(name, {})[filename] = {
                "urls": [f"{base_url}/{name}/{filename}"],
                "checksum": checksum(payload, algorithm),
                "size": len(payload),
            }
    path.write_text(json.dumps(override, indent=1), encoding="utf-8")
    return override


class _Handler(BaseHTTPRequestHandler):
    root: Path
    requests: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        relative = self.path.lstrip("/")
        path = (self.root / relative).resolve()
        if ".." in relative or not path.is_file() or self.root.resolve() not in path.parents:
            self.send_error(404, "Not Found")
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve the files under `folder` from 127.0.0.1: yields (base URL, paths requested)."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"root": Path(folder), "requests": requests})
    with serve_handler(handler) as url:
        yield url, requests


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on a threaded HTTP server on 127.0.0.1; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def serving_override(folder: Path) -> Iterator[tuple[str, list[str], Path]]:
    """Every canonical archive written under `folder` and served from 127.0.0.1, and a
    registry override file naming them: yields (base URL, paths requested, override path)."""
    archives = canonical_archives()
    write_archives(folder / "www", archives)
    with serve(folder / "www") as (url, requests):
        override = folder / "registry-override.json"
        write_override(override, url, archives)
        yield url, requests, override
