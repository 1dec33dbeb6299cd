"""The registry override ($NLPBOOK_REGISTRY_OVERRIDE), end to end.

Every downloadable registry entry is resolved through the real download -> verify ->
extract path from a loopback HTTP server (127.0.0.1, the `server` fixture of
tests/data/conftest.py) that serves tiny archives written here in the canonical formats and
names.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import IMDB_REVIEWS, SNLI_LINES, leftovers, tar_bytes

from nlpbook import data, datasets
from nlpbook.data import download, errors, registry

# ---------------------------------------------------------------- canonical-format fixtures


def imdb_archive() -> bytes:
    """aclImdb_v1.tar.gz: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, unsup/, README."""
    members = {
        f"aclImdb/{split}/{sentiment}/{rid}_{rating}.txt": text.encode()
        for (split, sentiment, rid, rating), text in IMDB_REVIEWS.items()
    }
    members["aclImdb/train/unsup/0_0.txt"] = b"No label on this one."
    members["aclImdb/README"] = b"Large Movie Review Dataset v1.0\n"
    members["aclImdb/imdb.vocab"] = b"the\nand\n"
    return tar_bytes(members)


def snli_archive() -> bytes:
    """snli_1.0.zip: snli_1.0/snli_1.0_{train,dev,test}.{jsonl,txt} and a __MACOSX/ folder."""
    buffer = io.BytesIO()
    jsonl = "".join(json.dumps(r) + "\n" for r in SNLI_LINES)
    txt = "gold_label\tsentence1_binary_parse\tsentence2_binary_parse\n"
    with zipfile.ZipFile(buffer, "w") as zf:
        for split in ("train", "dev", "test"):
            zf.writestr(f"snli_1.0/snli_1.0_{split}.jsonl", jsonl)
            zf.writestr(f"snli_1.0/snli_1.0_{split}.txt", txt)
        zf.writestr("snli_1.0/README.txt", "SNLI 1.0\n")
        zf.writestr("__MACOSX/snli_1.0/._snli_1.0_dev.jsonl", b"\x00\x05\x16\x07")
    return buffer.getvalue()


AMAZON_CSV = (
    '"2","Great CD","My lovely Pat has one of the GREAT voices, ""truly"", of her generation."\n'
    '"1","Batteries died","I bought this charger in Jul 2003, and it worked OK for a while."\n'
)


def amazon_archive() -> bytes:
    """amazon_review_polarity_csv.tgz (or Zhang's .tar.gz): train.csv, test.csv, readme.txt."""
    return tar_bytes(
        {
            "amazon_review_polarity_csv/train.csv": AMAZON_CSV.encode(),
            "amazon_review_polarity_csv/test.csv": AMAZON_CSV.encode(),
            "amazon_review_polarity_csv/readme.txt": b"Amazon Review Polarity Dataset\n",
        }
    )


def glove_archive(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buffer.getvalue()


GLOVE_6B = glove_archive(
    {
        f"glove.6B.{d}d.txt": "".join(f"{w} {' '.join(['0.5'] * d)}\n" for w in ("the", "movie"))
        for d in (50, 100, 200, 300)
    }
)
GLOVE_840B = glove_archive(
    {"glove.840B.300d.txt": "".join(f"{w} {' '.join(['0.25'] * 300)}\n" for w in (",", ". . ."))}
)

# dataset -> (source filename, archive bytes, checksum algorithm the registry uses)
CASES = {
    "imdb": ("aclImdb_v1.tar.gz", imdb_archive(), "sha256"),
    "snli": ("snli_1.0.zip", snli_archive(), "sha256"),
    "amazon_polarity": ("amazon_review_polarity_csv.tgz", amazon_archive(), "sha256"),
    "glove.6B": ("glove.6B.zip", GLOVE_6B, "sha256"),
    "glove.840B.300d": ("glove.840B.300d.zip", GLOVE_840B, "sha256"),
}


def checksum(payload: bytes, algorithm: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}"


# ---------------------------------------------------------------- loopback server


class Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}  # path -> body
    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append(self.path)
        path = urlsplit(self.path).path
        if path not in self.files:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.files[path])))
        self.end_headers()
        self.wfile.write(self.files[path])


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty data root, no mirrors, and a helper that writes and points at an override."""
    root = tmp_path / "data"
    monkeypatch.setenv("NLPBOOK_DATA", str(root))
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    Handler.requests = []

    def write_override(content) -> Path:
        path = tmp_path / "override.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        monkeypatch.setenv(registry.OVERRIDE_ENV, str(path))
        return path

    write_override.root = root
    return write_override


# ---------------------------------------------------------------- the override, end to end


@pytest.mark.parametrize("name", sorted(CASES))
def test_override_resolves_every_download_through_loopback(server, env, name):
    filename, payload, algorithm = CASES[name]
    Handler.files = {f"/{name}/{filename}": payload}
    override = {
        name: {
            filename: {
                "urls": [f"{server}/{name}/{filename}"],
                "checksum": checksum(payload, algorithm),
                "size": len(payload),
            }
        }
    }
    if name == "amazon_polarity":  # and no download of Zhang's Drive tarball
        override[name]["amazon_review_polarity_csv.tar.gz"] = {"urls": []}
    env(override)
    spec = registry.get_spec(name)
    assert spec.sources[0].urls == (f"{server}/{name}/{filename}",)

    path = data.fetch(name, progress=False, retries=1)
    root = env.root
    assert Handler.requests == [f"/{name}/{filename}"]
    assert (root / filename).read_bytes() == payload
    assert not [p for p in leftovers(root) if p.endswith(".part") or ".extract-" in p]
    if name == "imdb":
        assert path == root / "aclImdb"
        train = datasets.read_imdb("train")  # the default path resolves through the registry
        assert sorted(label for _, label in train) == [0, 0, 1, 1]
    elif name == "snli":
        assert path == root / "snli_1.0"
        assert len(datasets.read_snli("train")) == 3  # the '-' pair is dropped
    elif name == "amazon_polarity":
        assert path == root / "amazon_review_polarity_csv"
        reviews = datasets.read_amazon_polarity(path / "test.csv")
        assert [label for _, label in reviews] == [1, 0]
        assert '""truly""' not in reviews[0][0] and '"truly"' in reviews[0][0]
    else:  # GloVe zips are used in place
        assert path == root / filename
        with zipfile.ZipFile(path) as zf:
            assert (
                "glove.6B.100d.txt" in zf.namelist()
                if name == "glove.6B"
                else zf.namelist() == ["glove.840B.300d.txt"]
            )

    assert data.fetch(name, progress=False) == path  # resolved locally: no second request
    assert len(Handler.requests) == 1


def test_override_with_a_wrong_checksum_leaves_nothing(server, env):
    filename, payload, _ = CASES["imdb"]
    Handler.files = {f"/{filename}": payload}
    env({"imdb": {filename: {"urls": [f"{server}/{filename}"], "checksum": "sha256:" + "ab" * 32}}})
    with pytest.raises(
        errors.DataError, match=f"downloaded from {server}/{filename}.*expected abab"
    ):
        data.fetch("imdb", progress=False, retries=1)
    assert leftovers(env.root) == []


def test_without_override_the_canonical_entries_are_returned(monkeypatch):
    monkeypatch.delenv(registry.OVERRIDE_ENV, raising=False)
    for name, spec in registry.REGISTRY.items():
        assert registry.get_spec(name) is spec
    monkeypatch.setenv(registry.OVERRIDE_ENV, "  ")
    assert registry.get_spec("imdb") is registry.REGISTRY["imdb"]


def test_override_replaces_only_the_named_fields(env):
    env({"imdb": {"aclImdb_v1.tar.gz": {"size": None}}})
    spec, canonical = registry.get_spec("imdb"), registry.REGISTRY["imdb"]
    assert spec.sources[0].size is None
    assert spec.sources[0].urls == canonical.sources[0].urls
    assert spec.sources[0].checksum == canonical.sources[0].checksum
    assert spec.sources[1] == canonical.sources[1] and spec.files == canonical.files
    assert registry.get_spec("snli") is registry.REGISTRY["snli"]


GOOD_SHA = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ("[]", "must hold a JSON object"),
        ({"imbd": {}}, "unknown dataset 'imbd'; known datasets: amazon_polarity"),
        ({"imdb": []}, "'imdb' must map source filenames to fields"),
        ({"imdb": {"imdb.tar.gz": {}}}, "has no source 'imdb.tar.gz'; its sources: aclImdb_v1"),
        ({"imdb": {"aclImdb_v1.tar.gz": "http://x/y"}}, "must be an object"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"url": "http://x"}}}, r"unknown field\(s\) 'url'"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"urls": "http://x/y"}}}, "must be a list of strings"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"urls": ["ftp://x/y"]}}}, "is not an http"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"urls": ["127.0.0.1/a"]}}}, "is not an http"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"checksum": "sha1:" + "0" * 40}}}, "checksum must"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"checksum": "sha256:" + "z" * 64}}}, "checksum must"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"checksum": GOOD_SHA[:-1]}}}, "checksum must"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"checksum": 7}}}, "checksum must"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"size": -1}}}, "size must be"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"size": "12"}}}, "size must be"),
        ({"imdb": {"aclImdb_v1.tar.gz": {"size": True}}}, "size must be"),
    ],
)
def test_bad_override_files_give_clear_errors(env, content, message):
    path = env(content)
    with pytest.raises(registry.RegistryOverrideError, match=message) as info:
        registry.get_spec("imdb")
    assert str(path) in str(info.value) and registry.OVERRIDE_ENV in str(info.value)
    assert isinstance(info.value, errors.DataError)


def test_missing_override_file_and_cli_message(env, monkeypatch, tmp_path):
    monkeypatch.setenv(registry.OVERRIDE_ENV, str(tmp_path / "nope.json"))
    with pytest.raises(registry.RegistryOverrideError, match="nope.json.*no such file"):
        registry.get_spec("snli")
    with pytest.raises(SystemExit, match="error: registry override .*nope.json"):
        data.main(["fetch", "snli"])


def test_override_file_is_reread_when_it_changes(env):
    env({"imdb": {"aclImdb_v1.tar.gz": {"size": 1}}})
    assert registry.get_spec("imdb").sources[0].size == 1
    env({"imdb": {"aclImdb_v1.tar.gz": {"size": 22}}})
    assert registry.get_spec("imdb").sources[0].size == 22


def test_good_checksums_and_urls_are_accepted(env):
    env({"snli": {"snli_1.0.zip": {"checksum": "md5:" + "A" * 32, "urls": ["https://h/x.zip"]}}})
    source = registry.get_spec("snli").sources[0]
    assert source.checksum == "md5:" + "A" * 32 and source.urls == ("https://h/x.zip",)


# ---------------------------------------------------------------- Zhang's tarball, hosts, SNLI


def test_an_html_answer_is_refused_not_saved(server, tmp_path):
    Handler.requests = []
    Handler.files = {"/page.html": b"<!DOCTYPE html><html><title>Sign in</title></html>"}
    with pytest.raises(errors.DownloadError, match="HTML page"):
        download.download(
            f"{server}/page.html", tmp_path / "a.tar.gz", GOOD_SHA, retries=3, progress=False
        )
    assert leftovers(tmp_path) == []
    assert len(Handler.requests) == 1  # an HTML answer is not retried


def test_zhangs_drive_tarball_is_used_from_a_mirror_and_never_downloaded(env, tmp_path):
    """Google Drive's copy is the second source: it has no URL (Drive serves large files behind
    a confirmation page), but a copy placed in a mirror is verified by its md5 and extracted."""
    (s3, drive) = registry.REGISTRY["amazon_polarity"].sources
    assert s3.urls and not drive.urls and drive.checksum.startswith("md5:")
    payload = amazon_archive()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / drive.filename).write_bytes(payload)
    env({"amazon_polarity": {drive.filename: {"checksum": checksum(payload, "md5")}}})
    path = data.fetch("amazon_polarity", mirrors=[mirror], download_ok=False, progress=False)
    assert path == env.root / "amazon_review_polarity_csv"
    assert (path / "train.csv").read_text() == AMAZON_CSV


@pytest.mark.parametrize("name", ["glove.6B", "glove.840B.300d"])
def test_glove_has_a_second_host_checked_like_the_first(server, env, name):
    filename, payload, _ = CASES[name]
    (source,) = registry.REGISTRY[name].sources
    assert source.urls == (
        f"https://nlp.stanford.edu/data/{filename}",
        f"https://huggingface.co/stanfordnlp/glove/resolve/main/{filename}",
    )
    stanford, hf = f"{server}/stanford/{filename}", f"{server}/hf/{filename}"
    override = {name: {filename: {"urls": [stanford, hf], "checksum": checksum(payload, "sha256")}}}
    env(override)
    Handler.files = {f"/hf/{filename}": payload[:-1] + b"!"}  # Stanford down, HF different
    with pytest.raises(errors.DataError) as info:
        data.fetch(name, progress=False, retries=1)
    assert f"{stanford}: HTTP 404" in str(info.value)
    assert f"downloaded from {hf}, but" in str(info.value)  # refused, not trusted
    assert leftovers(env.root) == []
    Handler.files = {f"/hf/{filename}": payload}
    assert data.fetch(name, progress=False, retries=1) == env.root / filename
    assert (env.root / filename).read_bytes() == payload


def test_snli_is_verified_by_sha256_and_its_macos_folder_stays_out(server, env):
    (source,) = registry.REGISTRY["snli"].sources
    assert source.checksum.startswith("sha256:afb3d70a") and source.size == 94_550_081
    filename, payload, _ = CASES["snli"]
    Handler.files = {f"/{filename}": payload}
    env(
        {
            "snli": {
                filename: {
                    "urls": [f"{server}/{filename}"],
                    "checksum": checksum(payload, "sha256"),
                }
            }
        }
    )
    assert data.fetch("snli", progress=False, retries=1) == env.root / "snli_1.0"
    assert sorted(p.name for p in env.root.iterdir()) == [".snli.lock", "snli_1.0", "snli_1.0.zip"]
