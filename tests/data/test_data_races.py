"""Two real processes fetching one dataset into one data root, and a download killed with
SIGKILL, against a slow HTTP server on 127.0.0.1 (issue 22, items 5 and 10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import fixtures_canonical as canonical_fixtures
import pytest

from nlpbook import data
from nlpbook.data import registry

ARCHIVE = canonical_fixtures.imdb_archive()
FILENAME = "aclImdb_v1.tar.gz"
FETCH = "from nlpbook import data; print(data.fetch('imdb', progress=False, retries=1))"


class Handler(BaseHTTPRequestHandler):
    """Serves ARCHIVE at /<pieces>/aclImdb_v1.tar.gz in `pieces` parts, 50 ms apart."""

    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append(self.path)
        pieces = int(self.path.split("/")[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(ARCHIVE)))
        self.end_headers()
        step = -(-len(ARCHIVE) // pieces)
        try:
            for start in range(0, len(ARCHIVE), step):
                self.wfile.write(ARCHIVE[start : start + step])
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed
            pass


@pytest.fixture(autouse=True)
def no_requests_yet():
    Handler.requests = []


def environment(tmp_path: Path, url: str) -> dict[str, str]:
    """A data root, no mirror, and the registry's IMDb download pointed at `url`."""
    override = tmp_path / "override.json"
    checksum = canonical_fixtures.checksum(ARCHIVE, "sha256")
    override.write_text(json.dumps({"imdb": {FILENAME: {"urls": [url], "checksum": checksum}}}))
    return {
        **os.environ,
        "NLPBOOK_DATA": str(tmp_path / "root"),
        "NLPBOOK_MIRROR": "",
        registry.OVERRIDE_ENV: str(override),
    }


def start_fetch(env: dict[str, str]) -> subprocess.Popen:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**env, "PYTHONPATH": src + os.pathsep + env.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", FETCH], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") or ".part" in p.name)


def test_two_processes_fetching_one_dataset_share_one_download(server, tmp_path):
    env = environment(tmp_path, f"{server}/20/{FILENAME}")  # about a second to download
    processes = [start_fetch(env) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == str(tmp_path / "root" / "aclImdb")
    assert len(Handler.requests) == 1  # the second process waited and found it
    assert "waiting for another process" in b"".join(err for _, err in results).decode()
    assert leftovers(tmp_path / "root") == [".imdb.lock"]  # filelock keeps it, unlocked


def test_a_killed_download_leaves_nothing_that_outlives_the_next_fetch(
    server, tmp_path, monkeypatch
):
    root = tmp_path / "root"
    env = environment(tmp_path, f"{server}/400/{FILENAME}")  # 20 s: killed long before
    process = start_fetch(env)
    part = root / f"{FILENAME}.part"
    deadline = time.monotonic() + 30
    while not part.exists() and time.monotonic() < deadline:  # the download has begun
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert leftovers(root) == [".imdb.lock", f"{FILENAME}.part"]

    mirror = tmp_path / "mirror"  # the next fetch finds the archive without downloading
    mirror.mkdir()
    (mirror / FILENAME).write_bytes(ARCHIVE)
    for key in ("NLPBOOK_DATA", "NLPBOOK_MIRROR", registry.OVERRIDE_ENV):
        monkeypatch.setenv(key, env[key])
    assert data.fetch("imdb", mirrors=[mirror], progress=False) == root / "aclImdb"
    assert leftovers(root) == [".imdb.lock"]  # the .part is gone; filelock keeps its lock file
