"""Downloads: timeouts, retries, a progress bar, a `.part` file and an atomic rename.

`download` fetches one URL, verifies the registry's checksum and only then renames the file
into place (`disk.save_atomically`); on any failure nothing is left behind. An HTML page is
never saved as an archive. `nlpbook.data.fetch` picks the URLs.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from nlpbook.data.disk import save_atomically, verify
from nlpbook.data.errors import ChecksumError, DataError, DownloadError, is_storage_error

CHUNK = 1 << 20  # bytes read and written at a time


def _looks_like_html(first_bytes: bytes) -> bool:
    head = first_bytes.lstrip()[:64].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def _content_length(url: str, value: str | None) -> int | None:
    """The Content-Length header as a number of bytes (None if absent); malformed is an error."""
    if value is None:
        return None
    if not value.strip().isdigit():  # also refuses "-5" and "1e3"
        raise DownloadError(
            f"{url}: the server sent a malformed Content-Length header ({value!r}), so a "
            "truncated download could not be told from a complete one",
            retry=False,
        )
    return int(value)


def _download_once(url: str, part: Path, timeout: float, progress: bool, size: int | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "nlpbook"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.lower().startswith("text/html"):
            raise DownloadError(
                f"{url} answered with an HTML page ({content_type}), not the file: "
                "the URL may need a login or have moved",
                retry=False,
            )
        expected = _content_length(url, response.headers.get("Content-Length"))
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
                    raise DownloadError(
                        f"{url} served an HTML page instead of the file", retry=False
                    )
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: connection closed after {received} of {expected} bytes")


def _download_retrying(
    url: str, part: Path, timeout: float, retries: int, backoff: float, **kw
) -> None:
    """Download `url` into `part`, retrying transient faults (timeouts, drops, 5xx)."""
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            _download_once(url, part, timeout, **kw)
            return
        except urllib.error.HTTPError as e:
            last_error = e
            if e.code < 500:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
        except DownloadError as e:
            last_error = e
            if not e.retry:
                raise
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError) as e:
            if is_storage_error(e):  # a full or read-only disk: the caller names the setting
                raise
            last_error = e
        if attempt < retries:
            time.sleep(backoff * attempt)
    raise DownloadError(f"{url}: failed after {retries} attempts: {last_error}") from last_error


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
    page, a malformed header or a checksum mismatch is not. On any failure, an interrupt
    too, nothing is left at `dest` or `dest.part`.
    """
    dest = Path(dest)
    if dest.is_dir():
        raise DataError(
            f"{dest} is a directory, in the way of the file downloaded from {url}; "
            "move or delete it and try again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)

    def download_verified(part: Path) -> None:
        _download_retrying(url, part, timeout, retries, backoff, progress=progress, size=size)
        try:
            verify(part, checksum)
        except ChecksumError as e:
            raise ChecksumError(f"downloaded from {url}, but {e}") from None

    return save_atomically(dest, download_verified)
