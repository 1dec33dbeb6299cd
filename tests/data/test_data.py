"""The data layer: resolution order, downloads against a real HTTP server on 127.0.0.1,
and safe extraction. Every failure must leave nothing half-written in the data root."""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import socket
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import leftovers, tar_bytes, write_imdb_tree

from nlpbook import data
from nlpbook.data import disk, download, errors, registry

PAYLOAD = tar_bytes({"toyset/a.txt": b"alpha\n", "toyset/b.txt": b"beta\n"})
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
HTML = b"<!DOCTYPE html><html><body>Please sign in</body></html>"


class Handler(BaseHTTPRequestHandler):
    flaky_calls = 0
    bad_length_calls = 0

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
        elif path == "/bad-length":
            Handler.bad_length_calls += 1
            self._send(PAYLOAD, length="abc")
            self.close_connection = True
        elif path == "/flaky":
            Handler.flaky_calls += 1
            if Handler.flaky_calls == 1:
                self.send_error(503, "busy")
            else:
                self._send(PAYLOAD)
        else:
            self.send_error(404, "Not Found")


def fast_download(url, dest, checksum, **kw):
    return download.download(
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
    with pytest.raises(errors.DownloadError, match=message):
        fast_download(server + path, tmp_path / "toy.tar.gz", SHA)
    assert leftovers(tmp_path) == []


def test_download_checksum_mismatch_is_removed(server, tmp_path):
    with pytest.raises(errors.ChecksumError, match="expected 00"):
        fast_download(f"{server}/good.tar.gz", tmp_path / "toy.tar.gz", "sha256:" + "00" * 32)
    assert leftovers(tmp_path) == []


def test_download_timeout(server, tmp_path):
    start = time.perf_counter()
    with pytest.raises(errors.DownloadError, match="failed after 1 attempts.*timed out"):
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
    with pytest.warns(UserWarning, match="skipping"):
        with pytest.raises(errors.DataError, match=r"toy.tar.gz has sha256 .* expected"):
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
    with pytest.raises(errors.DataError) as info:
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
    monkeypatch.setenv("NLPBOOK_MIRROR", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
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
    with pytest.raises(errors.DataError, match=r"imdb: .*aclImdb-labelled.tar.xz has sha256"):
        data.stage(mirror, root=root)
    assert (root / "snli_1.0" / "snli_1.0_dev.jsonl").is_file()  # the others are still staged
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
    assert disk.extract(archive, out) == [out / "toyset"]
    (out / "toyset" / "a.txt").write_text("edited")
    disk.extract(archive, out)
    assert (out / "toyset" / "a.txt").read_text() == "edited"
    assert sorted(p.name for p in out.iterdir()) == ["toyset"]  # no temp dirs left


def test_extract_refuses_tar_member_escaping_target(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes({"../evil.txt": b"x", "ok/fine.txt": b"y"}))
    out = tmp_path / "out"
    with pytest.raises(disk.UnsafeArchiveError, match="refusing"):
        disk.extract(archive, out)
    assert not (tmp_path / "evil.txt").exists()
    assert list(out.iterdir()) == []


def test_extract_refuses_zip_member_escaping_target(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../evil.txt", "x")
    out = tmp_path / "out"
    with pytest.raises(disk.UnsafeArchiveError, match="escape"):
        disk.extract(archive, out)
    assert not (tmp_path / "evil.txt").exists() and list(out.iterdir()) == []


def test_extract_rejects_non_archives(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not an archive")
    with pytest.raises(errors.DataError, match="neither a zip nor a tar"):
        disk.extract(bogus, tmp_path / "out")


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
    disk.verify(path, "md5:900150983cd24fb0d6963f7d28e17f72")
    with pytest.raises(errors.ChecksumError):
        disk.verify(path, "md5:" + "0" * 32)


def test_verify_compares_every_hex_digit(tmp_path):
    # A checksum that differs from the file's in one digit only, at the end or in the
    # middle, is refused: a check of a prefix would pass both.
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    for algorithm, good in (
        ("md5", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ):
        disk.verify(path, f"{algorithm}:{good}")
        disk.verify(path, f"{algorithm}:{good.upper()}")  # hex case does not matter
        middle = len(good) // 2
        for i in (len(good) - 1, middle):
            bad = good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1 :]
            with pytest.raises(errors.ChecksumError, match="expected"):
                disk.verify(path, f"{algorithm}:{bad}")
        with pytest.raises(errors.ChecksumError):  # nor is a prefix of the right checksum
            disk.verify(path, f"{algorithm}:{good[:16]}")


def test_cli_list_and_bad_name(capsys):
    data.main(["list"])
    assert "imdb" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown dataset"):
        data.main(["fetch", "nope"])


# ---------------------------------------------------------------- bad input (issue 14)


def test_stage_an_empty_or_missing_mirror_is_an_error(tmp_path, capsys):
    root = tmp_path / "root"
    with pytest.raises(errors.DataError, match=r"nowhere is not a directory"):
        data.stage(tmp_path / "nowhere", root=root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.DataError, match=r"empty holds none of the registry's datasets"):
        data.stage(tmp_path / "empty", root=root)
    with pytest.raises(SystemExit, match=r"error: .*empty holds none"):
        data.main(["stage", str(tmp_path / "empty")])
    assert "staged" not in capsys.readouterr().out


def test_stage_counts_only_verified_layouts(tmp_path, snli_dir):
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    (root / "aclImdb").mkdir(parents=True)  # an empty layout in the root is not IMDb
    mirror.mkdir()
    snli_dir.rename(mirror / "snli_1.0")
    assert data.stage(mirror, root=root) == ["snli"]
    (mirror / "aclImdb").mkdir()  # nor is an empty one in the mirror
    with pytest.raises(errors.DataError, match=r"imdb: .*aclImdb has none of train/pos"):
        data.stage(mirror, root=root)


def test_fetch_skips_a_corrupt_mirror_archive_and_tries_the_next(toy_spec, tmp_path):
    toy_spec([])
    root, bad, good = tmp_path / "root", tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "toy.tar.gz").write_bytes(PAYLOAD[:-10])
    (good / "toy.tar.gz").write_bytes(PAYLOAD)
    with pytest.warns(UserWarning, match=r"skipping .*bad/toy.tar.gz"):
        assert data.fetch("toy", root=root, mirrors=[bad, good]) == root / "toyset"
    (root / "toyset" / "a.txt").unlink()
    (good / "toy.tar.gz").write_bytes(b"also broken")
    with pytest.warns(UserWarning), pytest.raises(errors.DataError) as info:
        data.fetch("toy", root=root, mirrors=[bad, good])
    message = str(info.value)
    assert "bad/toy.tar.gz has sha256" in message and "good/toy.tar.gz has sha256" in message
    assert "delete it" not in message  # mirrors are read-only


def test_fetch_replaces_a_corrupt_archive_in_the_root_by_a_download(toy_spec, server, tmp_path):
    toy_spec([f"{server}/good.tar.gz"])
    root = tmp_path / "root"
    root.mkdir()
    (root / "toy.tar.gz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="skipping"):
        path = data.fetch("toy", root=root, mirrors=[], retries=1, progress=False)
    assert (path / "a.txt").read_text() == "alpha\n"
    assert (root / "toy.tar.gz").read_bytes() == PAYLOAD


def test_extract_truncated_archive_says_damaged(tmp_path):
    archive = tmp_path / "toy.tar.gz"
    archive.write_bytes(PAYLOAD[:-40])
    with pytest.raises(errors.DataError, match=r"toy.tar.gz is damaged"):
        disk.extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_removes_temp_dirs_of_interrupted_runs(tmp_path):
    archive, out = tmp_path / "toy.tar.gz", tmp_path / "out"
    archive.write_bytes(PAYLOAD)
    out.mkdir()
    dead = subprocess_pid_that_exited()
    (out / f".extract-{dead}-abc" / "toyset").mkdir(parents=True)  # interrupted
    (out / ".extract-oldstyle").mkdir()  # from before temp dirs carried a pid
    (out / f".extract-{os.getpid()}-live").mkdir()  # an extraction still running
    disk.extract(archive, out)
    assert sorted(p.name for p in out.iterdir()) == [f".extract-{os.getpid()}-live", "toyset"]


def subprocess_pid_that_exited() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_fetch_data_root_that_is_a_file_names_the_setting(toy_spec, server, tmp_path):
    toy_spec([f"{server}/good.tar.gz"])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.tar.gz").write_bytes(PAYLOAD)
    root = tmp_path / "root"
    root.write_text("not a directory")
    for mirrors in ([mirror], []):  # extracting from a mirror, and downloading
        with pytest.raises(
            errors.DataError, match=r"data root .*root.*not a directory.*NLPBOOK_DATA"
        ):
            data.fetch("toy", root=root, mirrors=mirrors, retries=1, progress=False)


@pytest.mark.parametrize(
    "code, message",
    [(errno.EROFS, "not writable"), (errno.ENOSPC, "no space left")],
)
def test_fetch_read_only_or_full_data_root_names_the_setting(
    toy_spec, tmp_path, monkeypatch, code, message
):
    toy_spec([])
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    mirror.mkdir()
    (mirror / "toy.tar.gz").write_bytes(PAYLOAD)

    def fail(self, path, *args, **kwargs):
        (Path(path) / "toyset").mkdir()  # something half-written
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tarfile.TarFile, "extractall", fail)
    with pytest.raises(errors.DataError, match=rf"{message}.*NLPBOOK_DATA"):
        data.fetch("toy", root=root, mirrors=[mirror])
    assert leftovers(root) == []


def test_download_to_a_full_disk_is_not_retried(server, tmp_path, monkeypatch):
    real_open = builtins.open
    calls = []

    def full_open(file, mode="r", *args, **kwargs):
        if str(file).endswith(".part") and "w" in mode:
            calls.append(file)
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(OSError, match="No space left"):
        fast_download(f"{server}/good.tar.gz", tmp_path / "toy.tar.gz", SHA, retries=3)
    assert len(calls) == 1


def test_cli_profile_bogus_names_the_choices():
    with pytest.raises(SystemExit, match=r"error: unknown profile 'bogus'; choose quick or full"):
        data.main(["profile", "bogus"])


def test_stage_falls_back_from_an_empty_layout_to_a_good_archive(toy_spec, tmp_path):
    toy_spec([])
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    (mirror / "toyset").mkdir(parents=True)
    (mirror / "toy.tar.gz").write_bytes(PAYLOAD)
    assert data.stage(mirror, root=root, names=["toy"]) == ["toy"]
    assert (root / "toyset" / "b.txt").read_text() == "beta\n"


def test_stage_copies_a_file_used_in_place_and_verifies_both_copies(tmp_path, monkeypatch):
    payload = b"vectors in a zip"
    source = registry.Source("vec.zip", "sha256:" + hashlib.sha256(payload).hexdigest())
    spec = registry.DatasetSpec("vec", "vec", "vec.zip", (source,), extract=False)
    monkeypatch.setitem(registry.REGISTRY, "vec", spec)
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "vec.zip").write_bytes(payload)
    assert data.stage(mirror, root=root, names=["vec"]) == ["vec"]
    assert (root / "vec.zip").read_bytes() == payload
    (root / "vec.zip").write_bytes(b"damaged")  # replaced by the mirror's verified copy
    assert data.stage(mirror, root=root, names=["vec"]) == ["vec"]
    assert (root / "vec.zip").read_bytes() == payload
    (root / "vec.zip").unlink()
    (mirror / "vec.zip").write_bytes(b"corrupt")  # never copied in
    with pytest.raises(errors.DataError, match=r"vec: .*mirror/vec.zip has sha256"):
        data.stage(mirror, root=root, names=["vec"])
    assert leftovers(root) == []


# ---------------------------------------------------------------- bad input (issue 22)


def test_a_malformed_content_length_names_the_url_and_the_next_url_is_tried(
    server, toy_spec, tmp_path
):
    Handler.bad_length_calls = 0
    with pytest.raises(
        errors.DownloadError, match=r"/bad-length: .*malformed Content-Length.*abc"
    ):
        fast_download(f"{server}/bad-length", tmp_path / "toy.tar.gz", SHA, retries=3)
    assert Handler.bad_length_calls == 1  # a header that will not change is not retried
    assert leftovers(tmp_path) == []
    toy_spec([f"{server}/bad-length", f"{server}/good.tar.gz"])
    root = tmp_path / "root"
    path = data.fetch("toy", root=root, mirrors=[], retries=1, progress=False)
    assert (path / "a.txt").read_text() == "alpha\n"


def test_a_directory_in_the_way_of_a_download_is_named_and_leaves_no_part(
    server, toy_spec, tmp_path
):
    root = tmp_path / "root"
    (root / "toy.tar.gz").mkdir(parents=True)
    with pytest.raises(errors.DataError, match=r"toy.tar.gz is a directory, in the way"):
        fast_download(f"{server}/good.tar.gz", root / "toy.tar.gz", SHA)
    toy_spec([f"{server}/good.tar.gz"])
    with pytest.raises(errors.DataError) as info:
        data.fetch("toy", root=root, mirrors=[], retries=1, progress=False)
    assert "toy.tar.gz is a directory, in the way" in str(info.value)
    assert "Nothing half-written" not in str(info.value)
    assert leftovers(root) == ["toy.tar.gz"]  # the directory, and no toy.tar.gz.part


def test_fetch_removes_the_part_files_a_killed_download_left(toy_spec, server, tmp_path):
    toy_spec([f"{server}/good.tar.gz"])
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    root.mkdir()
    mirror.mkdir()
    (mirror / "toy.tar.gz").write_bytes(PAYLOAD)  # found without downloading
    (root / "toy.tar.gz.part").write_bytes(PAYLOAD[:30])  # what kill -9 left
    assert data.fetch("toy", root=root, mirrors=[mirror]) == root / "toyset"
    assert leftovers(root) == ["toyset", "toyset/a.txt", "toyset/b.txt"]


def test_a_symlink_loop_in_a_mirror_is_one_line_and_the_others_are_staged(tmp_path, snli_dir):
    root, mirror = tmp_path / "root", tmp_path / "mirror"
    mirror.mkdir()
    snli_dir.rename(mirror / "snli_1.0")
    imdb = write_imdb_tree(mirror)
    (imdb / "train" / "pos" / "up").symlink_to("../..")  # a folder that leads back up
    with pytest.raises(errors.DataError) as info:
        data.stage(mirror, root=root)
    (line,) = [line for line in str(info.value).splitlines() if line.strip().startswith("imdb")]
    assert "pos/up is a symlink loop" in line and len(line) < 300
    assert "python -m nlpbook doctor" in str(info.value)
    assert (root / "snli_1.0" / "snli_1.0_dev.jsonl").is_file()  # the others are still staged
    assert not (root / "aclImdb").exists() and not list(root.glob(".stage-*"))
    (imdb / "train" / "pos" / "up").unlink()
    (imdb / "train" / "pos" / "self").symlink_to("self")  # a link to itself
    with pytest.raises(
        errors.DataError, match=r"imdb: .*pos/self is a broken symlink or a symlink"
    ):
        data.stage(mirror, root=root)


def test_extract_leaves_macos_litter_out_of_the_data_root(tmp_path):
    archive = tmp_path / "snli_1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("snli_1.0/snli_1.0_dev.jsonl", "{}\n")
        zf.writestr("__MACOSX/snli_1.0/._snli_1.0_dev.jsonl", b"\x00\x05\x16\x07")
    out = tmp_path / "out"
    assert disk.extract(archive, out) == [out / "snli_1.0"]
    assert sorted(p.name for p in out.iterdir()) == ["snli_1.0"]


def test_a_missing_dataset_points_to_the_doctor(toy_spec, tmp_path):
    toy_spec([])
    with pytest.raises(errors.DataError, match=r"python -m nlpbook doctor"):
        data.fetch("toy", root=tmp_path / "root", mirrors=[])


def test_an_interrupt_after_the_download_leaves_no_part(server, tmp_path, monkeypatch):
    def interrupted(path, checksum):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "verify", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast_download(f"{server}/good.tar.gz", tmp_path / "toy.tar.gz", SHA)
    assert leftovers(tmp_path) == []
