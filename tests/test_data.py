"""The data layer: resolution order, downloads against a real HTTP server on 127.0.0.1,
and safe extraction. Every failure must leave nothing half-written in the data root."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import tar_bytes

from nlpbook import data, registry

PAYLOAD = tar_bytes({"toyset/a.txt": b"alpha\n", "toyset/b.txt": b"beta\n"})
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
HTML = b"<!DOCTYPE html><html><body>Please sign in</body></html>"


class Handler(BaseHTTPRequestHandler):
    flaky_calls = 0

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, body: bytes, content_type="application/octet-stream", length=None):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def do_GET(self):
        path = self.path
        if path == "/good.tar.gz":
            self._send(PAYLOAD)
        elif path == "/truncated":
            self._send(PAYLOAD[:100], length=len(PAYLOAD))
            self.close_connection = True
        elif path == "/drop":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:50])
            self.wfile.flush()
            # An abortive close (RST) in the middle of the body.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif path == "/html":
            self._send(HTML, content_type="text/html; charset=utf-8")
        elif path == "/html-as-binary":
            self._send(HTML)
        elif path == "/slow":
            time.sleep(2.0)
            self._send(PAYLOAD)
        elif path == "/flaky":
            Handler.flaky_calls += 1
            if Handler.flaky_calls == 1:
                self.send_error(503, "busy")
            else:
                self._send(PAYLOAD)
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def fast_download(url, dest, checksum, **kw):
    return data.download(
        url,
        dest,
        checksum,
        timeout=kw.pop("timeout", 2.0),
        retries=kw.pop("retries", 2),
        backoff=0.01,
        progress=False,
        **kw,
    )


# ---------------------------------------------------------------- downloads


def test_download_success_verifies_and_renames(server, tmp_path):
    dest = fast_download(f"{server}/good.tar.gz", tmp_path / "toy.tar.gz", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["toy.tar.gz"]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/truncated", "after 100 of"),
        ("/drop", "failed after 2 attempts"),
        ("/missing.tar.gz", "HTTP 404"),
        ("/html", "HTML page"),
        ("/html-as-binary", "HTML page"),
    ],
)
def test_download_faults_give_clear_errors_and_leave_nothing(server, tmp_path, path, message):
    with pytest.raises(data.DownloadError, match=message):
        fast_download(server + path, tmp_path / "toy.tar.gz", SHA)
    assert leftovers(tmp_path) == []


def test_download_checksum_mismatch_is_removed(server, tmp_path):
    with pytest.raises(data.ChecksumError, match="expected 00"):
        fast_download(f"{server}/good.tar.gz", tmp_path / "toy.tar.gz", "sha256:" + "00" * 32)
    assert leftovers(tmp_path) == []


def test_download_timeout(server, tmp_path):
    start = time.perf_counter()
    with pytest.raises(data.DownloadError, match="failed after 1 attempts.*timed out"):
        fast_download(f"{server}/slow", tmp_path / "toy.tar.gz", SHA, timeout=0.3, retries=1)
    assert time.perf_counter() - start < 2.0
    assert leftovers(tmp_path) == []


def test_download_retries_a_server_error(server, tmp_path):
    Handler.flaky_calls = 0
    fast_download(f"{server}/flaky", tmp_path / "toy.tar.gz", SHA)
    assert Handler.flaky_calls == 2


# ---------------------------------------------------------------- resolution


@pytest.fixture
def toy_spec(monkeypatch, server):
    def install(urls):
        spec = registry.DatasetSpec(
            name="toy",
            description="toy",
            target="toyset",
            files=("a.txt", "b.txt"),
            sources=(registry.Source("toy.tar.gz", SHA, tuple(urls)),),
        )
        monkeypatch.setitem(registry.REGISTRY, "toy", spec)
        return spec

    return install


def test_fetch_downloads_extracts_and_then_reuses(toy_spec, server, tmp_path):
    toy_spec([f"{server}/missing", f"{server}/good.tar.gz"])  # the second URL is the one that works
    root = tmp_path / "root"
    path = data.fetch("toy", root=root, mirrors=[], retries=1, progress=False)
    assert path == root / "toyset" and (path / "a.txt").read_text() == "alpha\n"
    assert leftovers(root) == ["toy.tar.gz", "toyset", "toyset/a.txt", "toyset/b.txt"]
    (root / "toy.tar.gz").unlink()
    assert data.fetch("toy", root=root, mirrors=[], download_ok=False) == path  # extracted wins


def test_fetch_uses_archive_in_root_and_verifies_it(toy_spec, tmp_path):
    toy_spec([])
    root = tmp_path / "root"
    root.mkdir()
    (root / "toy.tar.gz").write_bytes(PAYLOAD[:-10] + b"corrupted!")
    with pytest.raises(data.ChecksumError):
        data.fetch("toy", root=root, mirrors=[])
    (root / "toy.tar.gz").write_bytes(PAYLOAD)
    assert (data.fetch("toy", root=root, mirrors=[]) / "b.txt").read_text() == "beta\n"


def test_fetch_reads_mirror_layout_in_place_and_extracts_mirror_archive(toy_spec, tmp_path):
    toy_spec([])
    root, extracted_mirror, archive_mirror = tmp_path / "root", tmp_path / "m1", tmp_path / "m2"
    (extracted_mirror / "toyset").mkdir(parents=True)
    for name in ("a.txt", "b.txt"):
        (extracted_mirror / "toyset" / name).write_text(name)
    assert data.fetch("toy", root=root, mirrors=[extracted_mirror]) == extracted_mirror / "toyset"
    archive_mirror.mkdir()
    (archive_mirror / "toy.tar.gz").write_bytes(PAYLOAD)
    assert data.fetch("toy", root=root, mirrors=[archive_mirror]) == root / "toyset"
    assert (archive_mirror / "toy.tar.gz").exists()  # mirrors are read, never changed


def test_fetch_error_names_file_url_and_settings(toy_spec, server, tmp_path, monkeypatch):
    toy_spec([f"{server}/missing.tar.gz"])
    monkeypatch.setenv("NLPBOOK_MIRROR", str(tmp_path / "nowhere"))
    root = tmp_path / "root"
    with pytest.raises(data.DataError) as info:
        data.fetch("toy", root=root, retries=1, progress=False)
    message = str(info.value)
    for expected in (
        "toy.tar.gz",
        f"{server}/missing.tar.gz",
        "HTTP 404",
        "NLPBOOK_DATA",
        "NLPBOOK_MIRROR",
    ):
        assert expected in message
    assert leftovers(root) == []


def test_fetch_unknown_dataset():
    with pytest.raises(KeyError, match="unknown dataset 'imbd'.*imdb"):
        data.fetch("imbd")


def test_settings_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPBOOK_DATA", str(tmp_path / "d"))
    monkeypatch.setenv(
        "NLPBOOK_MIRROR", f"{tmp_path / 'a'}{__import__('os').pathsep}{tmp_path / 'b'}"
    )
    assert data.data_root() == (tmp_path / "d").resolve()
    assert data.mirror_dirs() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv("NLPBOOK_DATA")
    assert data.data_root().name == "data"


def test_stage_copies_layouts_and_archives(
    tmp_path, imdb_tar, snli_dir, fasttext_file, monkeypatch
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    imdb_tar.rename(mirror / "aclImdb-labelled.tar.xz")  # a gz under another name: checksum fails
    snli_dir.rename(mirror / "snli_1.0")
    root = tmp_path / "root"
    with pytest.raises(data.ChecksumError):
        data.stage(mirror, root=root)
    (mirror / "aclImdb-labelled.tar.xz").unlink()
    staged = data.stage(mirror, root=root)
    assert staged == ["snli"]
    assert (root / "snli_1.0" / "snli_1.0_dev.jsonl").is_file()
    assert data.stage(mirror, root=root) == ["snli"]  # idempotent


# ---------------------------------------------------------------- extraction


def test_extract_is_idempotent_and_keeps_existing_files(tmp_path):
    archive = tmp_path / "toy.tar.gz"
    archive.write_bytes(PAYLOAD)
    out = tmp_path / "out"
    assert data.extract(archive, out) == [out / "toyset"]
    (out / "toyset" / "a.txt").write_text("edited")
    data.extract(archive, out)
    assert (out / "toyset" / "a.txt").read_text() == "edited"
    assert sorted(p.name for p in out.iterdir()) == ["toyset"]  # no temp dirs left


def test_extract_refuses_tar_member_escaping_target(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes({"../evil.txt": b"x", "ok/fine.txt": b"y"}))
    out = tmp_path / "out"
    with pytest.raises(data.UnsafeArchiveError, match="refusing"):
        data.extract(archive, out)
    assert not (tmp_path / "evil.txt").exists()
    assert list(out.iterdir()) == []


def test_extract_refuses_zip_member_escaping_target(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../evil.txt", "x")
    out = tmp_path / "out"
    with pytest.raises(data.UnsafeArchiveError, match="escape"):
        data.extract(archive, out)
    assert not (tmp_path / "evil.txt").exists() and list(out.iterdir()) == []


def test_extract_rejects_non_archives(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not an archive")
    with pytest.raises(data.DataError, match="neither a zip nor a tar"):
        data.extract(bogus, tmp_path / "out")


def test_registry_checksums_are_well_formed():
    for spec in registry.REGISTRY.values():
        for source in spec.sources:
            algorithm, _, digest = source.checksum.partition(":")
            assert algorithm in ("sha256", "md5"), spec.name
            assert len(digest) == {"sha256": 64, "md5": 32}[algorithm], spec.name
            assert all(u.startswith("https://") for u in source.urls), spec.name


def test_verify_md5(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    data.verify(path, "md5:900150983cd24fb0d6963f7d28e17f72")
    with pytest.raises(data.ChecksumError):
        data.verify(path, "md5:" + "0" * 32)


def test_cli_list_and_bad_name(capsys):
    data.main(["list"])
    assert "imdb" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown dataset"):
        data.main(["fetch", "nope"])
