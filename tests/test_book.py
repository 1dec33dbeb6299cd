"""The rendered book: `scripts/build_book.py` (what `make book` runs) builds it from the committed
notebooks, and a real headless browser (Debian's chromium, driven by Playwright) opens every
page from a server on 127.0.0.1. Every chapter page loads with no console error and no request
leaving the machine, and shows rendered math and as many figures as its notebook has image
outputs; every image of a page is loaded and decoded (naturalWidth > 0) and every figure has alt
text (issue 29). Without a browser, the built HTML is read too: every <img> has alt text and a
source that is there (a data URI that decodes to an image, or a file of the site), so a broken
figure reference fails. Screenshots of the landing page and every chapter land in
build/book-screenshots/ (to read by eye).

Needs the book tools (`make book` installs them; npm fetches MathJax) and /usr/bin/chromium (`apt-get install
chromium`); without them the tests skip, except under CI (CI=true) or NLPBOOK_REQUIRE_BOOK=1,
where they fail.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
SHOTS = ROOT / "build" / "book-screenshots"
NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = [p.stem for p in NOTEBOOK_PATHS]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags that keep Chromium from reaching for Google's services on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRED = bool(os.environ.get("CI") or os.environ.get("NLPBOOK_REQUIRE_BOOK"))


def _missing() -> str | None:
    for module in (
        "sphinx",
        "myst_nb",
        "sphinx_book_theme",
        "playwright",
    ):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (make book installs the book tools)"
    if not os.access(CHROMIUM, os.X_OK):
        return "no chromium (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def site():
    """Build the book, serve build/book/html on 127.0.0.1, yield its base URL."""
    missing = _missing()
    if missing:
        if REQUIRED:
            pytest.fail(missing)
        pytest.skip(missing)
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(BOOK)], check=True
    )
    html = BOOK / "html"
    handler = functools.partial(QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """Open url; return the page and the problems seen: console errors, page errors, failed
    requests, and any request to another host (the book must be self-contained)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))

    def only_local(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            problems.append(f"request leaves the machine: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    page.goto(url, wait_until="load")
    return page, problems


# Load every image of the article now (lazy ones too) and decode it: [src, naturalWidth] each,
# width 0 for one that failed to load or decode.
DECODE_ALL = """() => Promise.all([...document.querySelectorAll("article img")].map(i => {
    i.loading = "eager";
    return i.decode().then(() => [i.src.slice(0, 80), i.naturalWidth], () => [i.src.slice(0, 80), 0]);
}))"""


def figures_in(path: Path) -> int:
    """Image outputs of a notebook's code cells (each one figure in the book)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        1
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if any(m.startswith("image/") for m in output.get("data", {}))
    )


def wait_for_math(page) -> int:
    """MathJax typesets after load: wait until it has, return the rendered formulas."""
    page.wait_for_function(
        "window.MathJax && MathJax.startup && MathJax.startup.promise"
        " && MathJax.startup.promise.then(() => true)",
        timeout=60_000,
    )
    page.evaluate("MathJax.startup.promise")
    return page.locator("mjx-container").count()


def test_landing_page(site, browser):
    page, problems = open_page(browser, site + "/index.html")
    assert page.title().startswith("nlpbook")
    text = page.locator("article").inner_text()
    assert "Chapters" in text
    for chapter in CHAPTERS:
        assert page.locator(f"article a[href='{chapter}.html']").count() >= 1, chapter
        assert page.locator(f"nav a[href='{chapter}.html']").count() >= 1, (
            f"{chapter} in the sidebar"
        )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "landing.png"))
    page.screenshot(path=str(SHOTS / "landing-full.png"), full_page=True)
    page.close()
    assert not problems, problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(site, browser, chapter):
    page, problems = open_page(browser, f"{site}/{chapter}.html")
    formulas = wait_for_math(page)
    assert formulas >= 1, "no rendered math"
    assert not page.locator("mjx-merror").count(), "MathJax could not typeset a formula"
    plots = page.locator("div.cell_output img")
    assert plots.count() >= 1, "no plot"
    expected = figures_in(NOTEBOOK_PATHS[CHAPTERS.index(chapter)])
    assert plots.count() == expected, f"{plots.count()} figures shown, the notebook has {expected}"
    # Every image of the page (figures, diagrams, markdown images) is fetched and decoded.
    sizes = page.evaluate(DECODE_ALL)
    broken = [src for src, width in sizes if width <= 0]
    assert not broken, f"images that did not load or decode: {broken}"
    no_alt = plots.evaluate_all(
        "imgs => imgs.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src.slice(0, 60))"
    )
    assert not no_alt, f"figures without alt text: {no_alt}"
    heading = page.locator("article h1").first.inner_text()
    assert heading.startswith(f"Chapter {chapter[:2]}"), heading
    # Navigation between chapters: a link to the next chapter (or back to the previous one).
    assert page.locator("a.right-next, a.left-prev").count() >= 1, "no previous/next links"
    # Code cells wrap: no line of code is cut off at the right edge (or hidden behind a scrollbar).
    cut = page.locator("div.cell_input pre").evaluate_all(
        "pres => pres.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.slice(0, 60))"
    )
    assert not cut, f"code cut off at the right edge: {cut}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"chapter{chapter[:2]}.png"))
    page.screenshot(path=str(SHOTS / f"chapter{chapter[:2]}-full.png"), full_page=True)
    page.close()
    assert not problems, problems


def _build_book_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_book

    return build_book


def test_landing_page_is_the_readme_intro_and_chapter_table():
    """No browser needed: the landing page's source links every chapter to its book page."""
    build_book = _build_book_module()
    page = build_book.landing_page("https://github.com/o/r")
    assert page.startswith("# nlpbook\n")
    assert "## Chapters" in page and "```{toctree}" in page
    for chapter in CHAPTERS:
        assert f"]({chapter}.ipynb)" in page, chapter
        assert f"](notebooks/{chapter}.ipynb)" not in page
    assert "](requirements/" not in page and "](src/" not in page, "repository paths become URLs"


def test_book_copies_are_for_readers(tmp_path: Path):
    """The book's copy of a chapter drops what is there for CI and Colab: the nbval markers, the
    install block, the badge image (an outside host) and progress-bar widgets."""
    build_book = _build_book_module()
    import colab_cells

    path = tmp_path / NOTEBOOK_PATHS[0].name
    shutil.copy(NOTEBOOK_PATHS[0], path)
    colab_cells.main([str(path)])
    out = tmp_path / "book.ipynb"
    build_book.book_copy(path, out)
    nb = json.loads(out.read_text(encoding="utf-8"))
    title = "".join(nb["cells"][0]["source"])
    assert "[Open in Colab](https://colab.research.google.com/github/" in title
    assert colab_cells.BADGE_IMAGE not in title
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.strip() for c in code), "no empty cell where the install block was"
    assert colab_cells.BLOCK_FIRST_LINE not in code[0]
    assert "utils.get_profile()" in code[0]
    assert not any("# NBVAL_" in c for c in code)
    assert "widgets" not in nb["metadata"]


def test_book_shows_the_student_exercises(tmp_path: Path):
    """The exercise pages are the student versions (exercises/*.ipynb, no solutions), listed on
    the landing page, without the Colab setup cell, linking to the chapter's book page."""
    build_book = _build_book_module()
    students = build_book.exercises()
    assert students and all(p.parent == ROOT / "exercises" for p in students), "not the sources"
    page = build_book.landing_page("https://github.com/o/r")
    for path in students:
        assert f"exercises/{path.stem}" in page.split(":caption: Exercises", 1)[1]
        out = tmp_path / path.name
        build_book.exercise_copy(path, out)
        nb = json.loads(out.read_text(encoding="utf-8"))
        assert not any("otter_ignore" in c["metadata"].get("tags", []) for c in nb["cells"])
        title = "".join(nb["cells"][0]["source"])
        assert "[Open in Colab](https://colab.research.google.com/github/" in title
        assert f"](../{path.stem}.ipynb)" in title and "](../notebooks/" not in title


def test_chapter_links_to_its_exercises_work_in_the_book(tmp_path: Path):
    """notebooks/NN.ipynb links ../exercises/NN.ipynb; in the book that page is exercises/NN."""
    build_book = _build_book_module()
    nb = json.loads(NOTEBOOK_PATHS[0].read_text(encoding="utf-8"))
    link = f"[the exercises](../exercises/{NOTEBOOK_PATHS[0].name})"
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": link})
    path, out = tmp_path / NOTEBOOK_PATHS[0].name, tmp_path / "book.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    build_book.book_copy(path, out)
    last = "".join(json.loads(out.read_text(encoding="utf-8"))["cells"][-1]["source"])
    assert last == f"[the exercises](exercises/{NOTEBOOK_PATHS[0].name})"


# ---------------------------------------------------------------- figures in the built HTML, no browser


class _Images(HTMLParser):
    """The <img> tags inside a page's <article> (the theme's own chrome is not the book's)."""

    def __init__(self):
        super().__init__()
        self.depth, self.images = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.depth += 1
        elif tag == "img" and self.depth:
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag == "article" and self.depth:
            self.depth -= 1


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml", b"RIFF")


def image_problems(html_dir: Path) -> list[str]:
    """Every <img> of every page has alt text and a source that is there: a data URI that decodes
    to an image, or a file of the site that is one; nothing from another host."""
    problems = []
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Images()
        parser.feed(page.read_text(encoding="utf-8"))
        name = page.relative_to(html_dir).as_posix()
        for img in parser.images:
            src = img.get("src") or ""
            if not (img.get("alt") or "").strip():
                problems.append(f"{name}: an image without alt text: {src[:60]}")
            if src.startswith("data:"):
                head, _, payload = src.partition(",")
                try:
                    data = (
                        base64.b64decode(payload)
                        if head.endswith(";base64")
                        else unquote(payload).encode()
                    )
                except ValueError:
                    data = b""
            elif re.match(r"[a-z][a-z0-9+.-]*:", src, re.I):
                problems.append(f"{name}: an image from outside the book: {src[:60]}")
                continue
            else:
                target = (page.parent / unquote(src.split("#")[0].split("?")[0])).resolve()
                data = target.read_bytes()[:64] if target.is_file() else b""
            if not data.lstrip().startswith(IMAGE_MAGIC):
                problems.append(f"{name}: a broken image reference: {src[:60]}")
    return problems


def test_book_figures_have_alt_text_and_load(site):
    """In the built book (the site fixture builds it): every figure of every page has alt text
    and points at an image that is there."""
    problems = image_problems(BOOK / "html")
    assert not problems, "\n".join(problems)


def test_self_broken_figures_and_missing_alt_text_fail(tmp_path: Path):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 8).decode()
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "_images" / "empty.png").write_bytes(b"")
    body = "".join(
        f'<img src="{src}"{alt} />'
        for src, alt in (
            (f"data:image/png;base64,{png}", ' alt="Loss falls over 8 epochs"'),
            ("_images/ok.png", ' alt="The LSTM cell"'),
            ("_images/missing.png", ' alt="x"'),
            ("_images/empty.png", ' alt="x"'),
            ("data:image/png;base64,AAAA", ' alt="x"'),
            ("https://cdn.example.org/a.png", ' alt="x"'),
            ("_images/ok.png", ""),
            ("_images/ok.png", ' alt=" "'),
        )
    )
    html = f'<html><body><img src="logo.png"><article>{body}</article></body></html>'
    (tmp_path / "03_x.html").write_text(html, encoding="utf-8")
    assert image_problems(tmp_path) == [
        "03_x.html: a broken image reference: _images/missing.png",
        "03_x.html: a broken image reference: _images/empty.png",
        "03_x.html: a broken image reference: data:image/png;base64,AAAA",
        "03_x.html: an image from outside the book: https://cdn.example.org/a.png",
        "03_x.html: an image without alt text: _images/ok.png",
        "03_x.html: an image without alt text: _images/ok.png",
    ]
