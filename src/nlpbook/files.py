"""Files on disk and on the wire: the data errors, checksums and downloads.

Downloads go through `.part` and a rename, with timeouts, retries and Google Drive's
confirmation page. `nlpbook.data` resolves every chapter's datasets (01-05) with these;
safe extraction is in `nlpbook.archives`. They know nothing of the registry.
"""

from __future__ import annotations

import errno
import hashlib
import http.cookiejar
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from html.parser import HTMLParser
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from tqdm.auto import tqdm

CHUNK = 1 << 20


class DataError(RuntimeError):
    """A dataset could not be found, downloaded, verified or extracted. Chapters 02-05."""


class DownloadError(DataError):
    """A download failed (HTTP error, HTML page, truncated body, timeout). Chapters 02-05."""


class ChecksumError(DataError):
    """A file's checksum does not match the registry. Chapters 02-05."""


# A local file system that cannot take the write: full, read-only, or a file in the way.
_STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
}


def is_storage_error(error: BaseException) -> bool:
    """Whether `error` comes from the local disk (not the network): retrying will not help.

    Chapters 02-05.
    """
    return (
        isinstance(error, OSError)
        and not isinstance(error, urllib.error.URLError)
        and error.errno in _STORAGE_ERRNOS
    )


# ---------------------------------------------------------------- presence and checksums


def is_complete(path: Path, files: Iterable[str]) -> bool:
    """Whether `path` exists and holds every one of `files` (paths inside it). Chapters 02-05."""
    return path.exists() and all((path / f).exists() for f in files)


def file_checksum(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in chunks. Chapters 02-05."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, checksum: str) -> None:
    """Raise ChecksumError unless `path` has `checksum` ("sha256:<hex>" or "md5:<hex>").

    Chapters 02-05.
    """
    algorithm, _, expected = checksum.partition(":")
    actual = file_checksum(path, algorithm)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} has {algorithm} {actual}, expected {expected}: the file is corrupt or "
            "not the one the registry names"
        )


# ---------------------------------------------------------------- downloads


def _looks_like_html(first_bytes: bytes) -> bool:
    head = first_bytes.lstrip()[:64].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


# Google Drive serves a large file only after a confirmation page ("Google Drive can't
# scan this file for viruses"). The page has carried its go-ahead in three forms over the
# years: a `download_warning*` cookie whose value goes into `confirm=` (what torchtext's
# GDriveReader read), a link `/uc?export=download&confirm=...&id=...`, and now a form
# id="download-form" whose action and hidden inputs (id, export, confirm, uuid) make the
# real URL on drive.usercontent.google.com. The file is checksum-verified as any other.
DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")


def _is_drive(url: str) -> bool:
    return (urlsplit(url).hostname or "") in DRIVE_HOSTS


class _DrivePage(HTMLParser):
    """What a Drive confirmation page offers: the form's action and fields, links, title."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.title = ""
        self._in_form = self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "download-form":
            self._in_form, self.action = True, a.get("action", "")
        elif tag == "input" and self._in_form and a.get("type") == "hidden" and a.get("name"):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "a" and "confirm=" in a.get("href", ""):
            self.links.append(a["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def drive_confirm_url(url: str, page: str, cookies: http.cookiejar.CookieJar) -> str:
    """The file's URL behind a Google Drive confirmation `page` served at `url`.

    Chapter 02 (Amazon polarity's Drive copy).
    """
    parser = _DrivePage()
    parser.feed(page)
    if parser.action:
        target = urljoin(url, parser.action) + "?" + urlencode(parser.fields)
    elif parser.links:
        target = urljoin(url, parser.links[0])
    else:
        token = next((c.value for c in cookies if c.name.startswith("download_warning")), None)
        target = f"{url}&confirm={token}" if token else ""
    if not target:
        title = " ".join(parser.title.split()) or "no title"
        raise DownloadError(
            f"{url}: Google Drive answered with an HTML page ({title!r}) that offers no "
            "download: the file may be over its download quota or no longer public; "
            "try again later or fetch the archive by hand into the data root"
        )
    if not _is_drive(target) or (
        urlsplit(url).scheme == "https" and not target.startswith("https:")
    ):
        raise DownloadError(f"{url}: Drive's confirmation page (HTML) points off Drive: {target}")
    return target


def _open(url: str, timeout: float):
    """Open `url` for reading, past Google Drive's confirmation page for a Drive URL."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    for _ in range(3):
        request = urllib.request.Request(url, headers={"User-Agent": "nlpbook"})
        response = opener.open(request, timeout=timeout)
        content_type = response.headers.get("Content-Type", "").lower()
        final = response.geturl()
        if not content_type.startswith("text/html") or not (_is_drive(url) or _is_drive(final)):
            return response
        with response:
            page = response.read(CHUNK).decode("utf-8", "replace")
        url = drive_confirm_url(final, page, cookies)
    raise DownloadError(f"{url}: Google Drive kept answering with HTML pages, not the file")


def _download_once(url: str, part: Path, timeout: float, progress: bool, size: int | None) -> None:
    with _open(url, timeout) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.lower().startswith("text/html"):
            raise DownloadError(
                f"{url} answered with an HTML page ({content_type}), not the file: "
                "the URL may need a login or have moved"
            )
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with (
            open(part, "wb") as out,
            tqdm(
                total=expected or size,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                if received == 0 and _looks_like_html(chunk):
                    raise DownloadError(f"{url} served an HTML page instead of the file")
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: connection closed after {received} of {expected} bytes")


def download(
    url: str,
    dest: Path,
    checksum: str,
    *,
    size: int | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Download `url` to `dest` via `dest.part`, verify `checksum`, then rename atomically.

    Transient faults (timeouts, dropped connections, 5xx) are retried; a 4xx, an HTML
    page or a checksum mismatch is not. On failure nothing is left at `dest` or `dest.part`.
    Chapters 02-05.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            _download_once(url, part, timeout, progress, size)
            break
        except urllib.error.HTTPError as e:
            part.unlink(missing_ok=True)
            last_error = e
            if e.code < 500:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
        except DownloadError as e:
            part.unlink(missing_ok=True)
            last_error = e
            if "HTML" in str(e):
                raise
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError) as e:
            part.unlink(missing_ok=True)
            if is_storage_error(e):  # a full or read-only disk: the caller names the setting
                raise
            last_error = e
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if attempt < retries:
            time.sleep(backoff * attempt)
    else:
        raise DownloadError(f"{url}: failed after {retries} attempts: {last_error}") from last_error
    try:
        verify(part, checksum)
    except ChecksumError as e:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"downloaded from {url}, but {e}") from None
    os.replace(part, dest)
    return dest
