"""Sphinx configuration of the book (`make book`; scripts/build_book.py copies this file into
the assembled source tree build/book/src, next to settings.json and the notebooks)."""

import json
from pathlib import Path

settings = json.loads((Path(__file__).parent / "settings.json").read_text(encoding="utf-8"))
repository = settings["repository"]

project = "nlpbook"
author = "the nlpbook authors"
copyright = "the nlpbook authors, MIT licence"  # noqa: A001
html_title = "nlpbook: NLP with PyTorch"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks are shown with the outputs they were committed with (nbval checks them in CI).
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# MathJax 3 from npm (book/package-lock.json), copied into the site by build_book.py: the book
# reads offline and its pages make no request to a CDN.
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_css_files = ["custom.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_context = {"default_mode": "light"}  # pydata's theme: light unless the reader switches
html_theme_options = {
    "repository_url": repository,
    "repository_branch": "main",
    "path_to_docs": "notebooks",
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
    # The landing page's chapter table needs the width more than a one-entry contents box.
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "navigation_with_keys": False,
}


def _fix_exercise_links(app, pagename, templatename, context, doctree):
    """Exercise pages come from exercises/, not notebooks/ (path_to_docs): point their launch and
    source buttons there. Runs after the theme has made the buttons (priority 501)."""
    if not pagename.startswith("exercises/"):
        return

    def fix(item):
        if isinstance(item, dict):
            return {key: fix(value) for key, value in item.items()}
        if isinstance(item, list):
            return [fix(value) for value in item]
        if isinstance(item, str):
            return item.replace("/notebooks/exercises/", "/exercises/")
        return item

    context["header_buttons"] = fix(context.get("header_buttons", []))


def setup(app):
    app.connect("html-page-context", _fix_exercise_links, priority=502)
