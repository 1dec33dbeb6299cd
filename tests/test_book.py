"""The rendered book: `scripts/build_book.py` (what `make book` runs) builds it from the committed
notebooks, and a real headless browser (Debian's chromium, driven by Playwright) opens every
page from a server on 127.0.0.1. Every chapter page loads with no console error and no request
leaving the machine, and shows a plot and rendered math; screenshots of the landing page and
chapter 03 land in build/book-screenshots/.

Needs the book tools (`make book` installs them; npm fetches MathJax) and /usr/bin/chromium (`apt-get install
chromium`); without them the tests skip, except under CI (CI=true) or NLPBOOK_REQUIRE_BOOK=1,
where they fail.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

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
    widths = plots.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in widths), f"a plot did not load: {widths}"
    heading = page.locator("article h1").first.inner_text()
    assert heading.startswith(f"Chapter {chapter[:2]}"), heading
    # Navigation between chapters: a link to the next chapter (or back to the previous one).
    assert page.locator("a.right-next, a.left-prev").count() >= 1, "no previous/next links"
    # Code cells wrap: no line of code is cut off at the right edge (or hidden behind a scrollbar).
    cut = page.locator("div.cell_input pre").evaluate_all(
        "pres => pres.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.slice(0, 60))"
    )
    assert not cut, f"code cut off at the right edge: {cut}"
    if chapter.startswith("03"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "chapter03.png"))
        page.screenshot(path=str(SHOTS / "chapter03-full.png"), full_page=True)
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
