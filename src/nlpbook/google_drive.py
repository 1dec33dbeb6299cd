"""Google Drive's confirmation page, and opening a URL past it (chapter 02's Amazon polarity).

`open_url` opens any download; for a Drive URL that answers with an HTML page, it finds the
file's real URL on the page (`drive_confirm_url`) and follows it. `nlpbook.downloads` uses it.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.request
from contextlib import suppress
from html.parser import HTMLParser
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from nlpbook.data_errors import DownloadError

PAGE_BYTES = 1 << 20  # a confirmation page is a few kB; read at most this much of it

# Google Drive serves a large file only after a confirmation page ("Google Drive can't
# scan this file for viruses"). The page has carried its go-ahead in several forms over the
# years: a `download_warning*` cookie whose value goes into `confirm=` (what torchtext's
# GDriveReader read), a link `/uc?export=download&confirm=...&id=...`, a form
# id="download-form" whose action and hidden inputs (id, export, confirm, uuid) make the
# real URL on drive.usercontent.google.com, and a "downloadUrl" value in the page's script.
# A warning page with none of these is answered with `confirm=t`, as gdown does. The
# file is checksum-verified as any other, and a target off Drive is refused.
DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
_DOWNLOAD_URL = re.compile(r'"downloadUrl"\s*:\s*("(?:[^"\\]|\\.)*")')


def _is_drive(url: str) -> bool:
    return (urlsplit(url).hostname or "") in DRIVE_HOSTS


class _DrivePage(HTMLParser):
    """What a Drive confirmation page offers: the form's action and fields, links, title, text."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.title = ""
        self.text = ""
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
        self.text += data


def _with_query(url: str, fields: list[tuple[str, str]]) -> str:
    """`url` with `fields` added to the query it may already have (`?a=1` + b -> `?a=1&b=...`)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + fields
    return urlunsplit(parts._replace(query=urlencode(query)))


def _drive_target(
    url: str, page: str, parser: _DrivePage, cookies: http.cookiejar.CookieJar
) -> str:
    """The download URL a confirmation `page` offers, in order of preference; "" if none."""
    script_url = _DOWNLOAD_URL.search(page)
    token = next((c.value for c in cookies if c.name.startswith("download_warning")), None)
    words = " ".join(f"{parser.title} {parser.text}".split()).lower()
    if parser.action:
        return _with_query(urljoin(url, parser.action), parser.fields)
    if parser.links:
        return urljoin(url, parser.links[0])
    if script_url:  # a JSON string: \u003d is "=", \/ is "/"
        with suppress(ValueError):  # a malformed escape: look for another way on
            return urljoin(url, json.loads(script_url.group(1)))
    if token:
        return _with_query(url, [("confirm", token)])
    if ("virus scan warning" in words or "can't scan this file" in words) and (
        "confirm" not in parse_qs(urlsplit(url).query)
    ):
        return _with_query(url, [("confirm", "t")])
    return ""


def drive_confirm_url(url: str, page: str, cookies: http.cookiejar.CookieJar) -> str:
    """The file's URL behind a Google Drive confirmation `page` served at `url`.

    Chapter 02 (Amazon polarity's Drive copy).
    """
    parser = _DrivePage()
    parser.feed(page)
    target = _drive_target(url, page, parser, cookies)
    if not target:
        title = " ".join(parser.title.split()) or "no title"
        raise DownloadError(
            f"{url}: Google Drive answered with an HTML page ({title!r}) that offers no "
            "download: the file may be over its download quota or no longer public; "
            "try again later or fetch the archive by hand into the data root",
            retry=False,
        )
    if not _is_drive(target) or (
        urlsplit(url).scheme == "https" and not target.startswith("https:")
    ):
        raise DownloadError(
            f"{url}: Drive's confirmation page points off Drive: {target}", retry=False
        )
    return target


def open_url(url: str, timeout: float):
    """Open `url` for reading, past Google Drive's confirmation page for a Drive URL.

    Chapters 02-05 (every download; chapter 02's Amazon polarity comes from Drive).
    """
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
            page = response.read(PAGE_BYTES).decode("utf-8", "replace")
        url = drive_confirm_url(final, page, cookies)
    raise DownloadError(
        f"{url}: Google Drive kept answering with HTML pages, not the file", retry=False
    )
