"""The registry override ($NLPBOOK_REGISTRY_OVERRIDE) and Google Drive's confirmation page.

Every downloadable registry entry is resolved through the real download -> verify ->
extract path from a loopback HTTP server (127.0.0.1) that serves tiny archives written
here in the canonical formats and names; a second server mimics Google Drive's
"can't scan this file for viruses" page in its three historical forms.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fixtures_canonical as canonical_fixtures
import pytest
from conftest import IMDB_REVIEWS, SNLI_LINES, tar_bytes

from nlpbook import data, data_errors, datasets, downloads, google_drive, registry

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
    files: dict[str, bytes] = {}  # path -> body, plain downloads
    drive: dict[str, bytes] = {}  # Drive file id -> body
    requests: list[str] = []

    def log_message(self, *args):
        pass

    def _send(self, body: bytes, content_type: str, status=200, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _file(self, file_id: str):
        self._send(
            self.drive[file_id],
            "application/octet-stream",
            headers=[("Content-Disposition", f'attachment; filename="{file_id}.tar.gz"')],
        )

    def _page(self, title: str, body: str, headers=()):
        page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"
        self._send(page.encode(), "text/html; charset=utf-8", headers=headers)

    def do_GET(self):
        Handler.requests.append(self.path)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        file_id = query.get("id", "")
        if parts.path in self.files:
            self._send(self.files[parts.path], "application/octet-stream")
        elif parts.path == "/uc" and file_id.startswith("FORM"):
            # drive.google.com/uc redirects to drive.usercontent.google.com/download
            self.send_response(303)
            self.send_header("Location", f"/download?id={file_id}&export=download")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/download" and file_id.startswith("FORM"):
            if query.get("confirm") == "t" and query.get("uuid") == "5b2c-11ef":
                self._file(file_id)
            else:
                port = self.server.server_address[1]
                self._page(
                    "Google Drive - Virus scan warning",
                    "<p>Google Drive can't scan this file for viruses.</p>"
                    f'<form id="download-form" action="http://127.0.0.1:{port}/download" '
                    'method="get"><input type="submit" value="Download anyway"/>'
                    f'<input type="hidden" name="id" value="{file_id}">'
                    '<input type="hidden" name="export" value="download">'
                    '<input type="hidden" name="confirm" value="t">'
                    '<input type="hidden" name="uuid" value="5b2c-11ef"></form>',
                )
        elif parts.path == "/uc" and file_id == "LINK":
            if query.get("confirm") == "Xy9_":
                self._file(file_id)
            else:
                self._page(
                    "Google Drive - Virus scan warning",
                    '<a id="uc-download-link" '
                    f'href="/uc?export=download&amp;confirm=Xy9_&amp;id={file_id}">'
                    "Download anyway</a>",
                )
        elif parts.path == "/uc" and file_id == "COOKIE":
            cookie = self.headers.get("Cookie", "")
            if query.get("confirm") == "TOKEN42" and "download_warning_13058=TOKEN42" in cookie:
                self._file(file_id)
            else:
                self._page(
                    "Google Drive - Virus scan warning",
                    "<p>can't scan this file</p>",
                    headers=[("Set-Cookie", "download_warning_13058=TOKEN42; Path=/")],
                )
        elif parts.path == "/uc" and file_id == "QUERY":
            # The form's action already has a query: the fields must join it.
            port = self.server.server_address[1]
            self._page(
                "Google Drive - Virus scan warning",
                f'<form id="download-form" action="http://127.0.0.1:{port}/get?authuser=0">'
                f'<input type="hidden" name="id" value="{file_id}">'
                '<input type="hidden" name="confirm" value="t"></form>',
            )
        elif parts.path == "/get" and file_id == "QUERY":
            if query.get("authuser") == "0" and query.get("confirm") == "t":
                self._file(file_id)
            else:
                self.send_error(404, "Not Found")
        elif parts.path == "/uc" and file_id.startswith("SCRIPT"):
            host = "example.invalid" if file_id == "SCRIPTOFF" else "127.0.0.1"
            port = self.server.server_address[1]
            # A JSON string in the page's script: "\/" is "/", "\u003d" is "=".
            target = f"http:\\/\\/{host}:{port}\\/get?id\\u003d{file_id}\\u0026confirm\\u003dt"
            self._page(
                "Google Drive - Virus scan warning",
                f'<script>var data = {{"title":"a.tar.gz","downloadUrl":"{target}"}};</script>',
            )
        elif parts.path == "/get" and file_id == "SCRIPT":
            if query.get("confirm") == "t":
                self._file(file_id)
            else:
                self.send_error(404, "Not Found")
        elif parts.path == "/uc" and file_id in ("BARE", "STUCK"):
            # A warning page with no form, link, script or cookie: confirm=t is the way on.
            if query.get("confirm") == "t" and file_id == "BARE":
                self._file(file_id)
            else:
                self._page(
                    "Google Drive - Virus scan warning",
                    "<p>Google Drive can&#39;t scan this file for viruses.</p>",
                )
        elif parts.path == "/uc" and file_id == "QUOTA":
            self._page(
                "Google Drive - Quota exceeded",
                '<p class="uc-error-subcaption">Too many users have viewed or downloaded '
                "this file recently.</p>",
            )
        elif parts.path == "/uc" and file_id == "OFFSITE":
            self._page(
                "Google Drive - Virus scan warning",
                '<form id="download-form" action="http://example.invalid/download">'
                '<input type="hidden" name="id" value="OFFSITE"></form>',
            )
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def server():
    with canonical_fixtures.serve_handler(Handler) as url:
        yield url


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


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


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
        data_errors.DataError, match=f"downloaded from {server}/{filename}.*expected abab"
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
    assert isinstance(info.value, data_errors.DataError)


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


# ---------------------------------------------------------------- Google Drive


@pytest.fixture
def drive(monkeypatch):
    """Treat the loopback server as a Drive host, for this test only."""
    monkeypatch.setattr(google_drive, "DRIVE_HOSTS", (*google_drive.DRIVE_HOSTS, "127.0.0.1"))
    Handler.requests = []


@pytest.mark.parametrize("file_id", ["FORM", "LINK", "COOKIE"])
def test_drive_confirmation_page_is_passed(server, drive, tmp_path, file_id):
    payload = amazon_archive()
    Handler.drive = {file_id: payload}
    dest = downloads.download(
        f"{server}/uc?export=download&id={file_id}",
        tmp_path / "a.tar.gz",
        checksum(payload, "md5"),
        retries=1,
        progress=False,
    )
    assert dest.read_bytes() == payload
    assert leftovers(tmp_path) == ["a.tar.gz"]
    assert len(Handler.requests) == (3 if file_id == "FORM" else 2)  # one page, one file


@pytest.mark.parametrize(
    "file_id, message",
    [
        ("QUOTA", "'Google Drive - Quota exceeded'.*download quota"),
        ("OFFSITE", "points off Drive: http://example.invalid/download"),
        ("SCRIPTOFF", "points off Drive: http://example.invalid:"),
    ],
)
def test_drive_pages_without_a_download_are_clear_errors(server, drive, tmp_path, file_id, message):
    with pytest.raises(data_errors.DownloadError, match=message):
        downloads.download(
            f"{server}/uc?export=download&id={file_id}",
            tmp_path / "a.tar.gz",
            GOOD_SHA,
            retries=3,
            backoff=0.01,
            progress=False,
        )
    assert leftovers(tmp_path) == []
    assert len(Handler.requests) == 1  # an HTML answer is not retried


def test_confirmation_pages_are_followed_only_on_drive_hosts(server, tmp_path):
    Handler.drive = {"FORM1": b"x"}
    with pytest.raises(data_errors.DownloadError, match="HTML page"):
        downloads.download(
            f"{server}/uc?export=download&id=FORM1",
            tmp_path / "a.tar.gz",
            checksum(b"x", "md5"),
            retries=1,
            progress=False,
        )
    assert leftovers(tmp_path) == []


def test_amazon_drive_source_resolves_through_the_confirmation_page(server, drive, env):
    payload = amazon_archive()
    Handler.drive = {"FORM-AMZ": payload}
    env(
        {
            "amazon_polarity": {
                "amazon_review_polarity_csv.tgz": {"urls": []},
                "amazon_review_polarity_csv.tar.gz": {
                    "urls": [f"{server}/uc?export=download&id=FORM-AMZ"],
                    "checksum": checksum(payload, "md5"),
                },
            }
        }
    )
    path = data.fetch("amazon_polarity", progress=False, retries=1)
    assert path == env.root / "amazon_review_polarity_csv"
    assert (path / "train.csv").read_text() == AMAZON_CSV
    assert (env.root / "amazon_review_polarity_csv.tar.gz").read_bytes() == payload


# ---------------------------------------------------------------- issue 22: Drive, hosts, SNLI


@pytest.mark.parametrize("file_id", ["QUERY", "SCRIPT", "BARE"])
def test_drive_pages_of_the_newer_forms_are_passed(server, drive, tmp_path, file_id):
    # QUERY: the form's action has a query of its own; SCRIPT: a "downloadUrl" value;
    # BARE: a warning page with nothing to follow, answered with confirm=t.
    payload = amazon_archive()
    Handler.drive = {file_id: payload}
    dest = downloads.download(
        f"{server}/uc?export=download&id={file_id}",
        tmp_path / "a.tar.gz",
        checksum(payload, "md5"),
        retries=1,
        progress=False,
    )
    assert dest.read_bytes() == payload
    assert leftovers(tmp_path) == ["a.tar.gz"]
    assert len(Handler.requests) == 2  # one page, one file


def test_a_warning_page_that_stays_after_confirm_t_is_a_clear_error(server, drive, tmp_path):
    with pytest.raises(
        data_errors.DownloadError, match=r"'Google Drive - Virus scan warning'.*quota"
    ):
        downloads.download(
            f"{server}/uc?export=download&id=STUCK",
            tmp_path / "a.tar.gz",
            GOOD_SHA,
            retries=3,
            backoff=0.01,
            progress=False,
        )
    assert len(Handler.requests) == 2  # confirm=t was tried once, then nothing was retried
    assert leftovers(tmp_path) == []


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
    with pytest.raises(data_errors.DataError) as info:
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
    assert sorted(p.name for p in env.root.iterdir()) == ["snli_1.0", "snli_1.0.zip"]
