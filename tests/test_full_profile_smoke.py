"""The full profile, executed: every chapter runs top to bottom with NLPBOOK_PROFILE=full.

The real full profile needs a GPU and gigabytes of downloads. This smoke run keeps its code
paths and shrinks its sizes: tiny archives in the exact canonical formats and names
(tests/fixtures_canonical.py) are served from 127.0.0.1, $NLPBOOK_REGISTRY_OVERRIDE points the
registry's URLs and checksums at them, so each chapter goes through the real download ->
verify -> extract path into an empty data root; NLPBOOK_SMOKE=1 makes each chapter's config
cell pass its config through `nlpbook.utils.smoke_config` (seconds, not hours). A notebook
passes when every cell runs; its band checks print whatever they print.

Each chapter with a config picks it with `utils.pick_config(QUICK, FULL)`, which applies the
switch. Chapters 01 and 04 run twice in the same kernel, and the second run must print what the
first printed (ARCHITECTURE.md: idempotent data preparation, no duplicated state); the second run
must download nothing. NLPBOOK_SMOKE_NOTEBOOKS=<folder> smokes the notebooks in that folder instead of
notebooks/ (drafts, say).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import fixtures_canonical as canonical_fixtures
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from nlpbook import utils
from nlpbook.data import registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from run_chapters import notebook_client  # noqa: E402  (kernels over IPC, as make run)

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS_ENV = "NLPBOOK_SMOKE_NOTEBOOKS"
NOTEBOOK_DIR = Path(os.environ.get(NOTEBOOKS_ENV) or ROOT / "notebooks")
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 300  # seconds; a smoke cell takes a few

# What each chapter's full profile downloads (at least), as <dataset>/<source filename>.
FULL_PROFILE_DOWNLOADS = {
    "02": {"amazon_polarity/amazon_review_polarity_csv.tgz"},
    "03": {"imdb/aclImdb_v1.tar.gz", "glove.6B/glove.6B.zip"},
    "04": {"snli/snli_1.0.zip", "glove.840B.300d/glove.840B.300d.zip"},
    "05": {"imdb/aclImdb_v1.tar.gz"},
}
# Chapters run twice in one kernel, which must print the same the second time (idempotent data
# preparation, no duplicated state): their first run is the smoke run, so the check costs one run.
RERUN = {"01", "04"}
IGNORED = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")  # machine-dependent or interactive cells
PROGRESS_BAR = re.compile(r"[^\r\n]*\d+%\|[^\]\r\n]*\]")  # a tqdm bar, up to its "[.. B/s]"
# What a chapter's full profile must show in its outputs, whatever the size: chapter 04 keeps the case
# of its tokens (for the cased 840B vectors) and trains with the released code's schedule (its lr column).
FULL_PROFILE_SHOWS = {
    "04": ["['Two', 'women', 'are'", "  lr 4.00e-04"],
}


def text_outputs(cell) -> str:
    """What nbval compares, less stderr (a warning may show only the first time) and download
    progress bars (the first run downloads, the second finds the data in place)."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            texts.append(output["text"])
        elif "data" in output and "text/plain" in output["data"]:
            texts.append(output["data"]["text/plain"])
    return PROGRESS_BAR.sub("", "".join(texts)).replace("\r", "")


def run_twice(client, nb) -> list[dict[int, str]]:
    """Every code cell twice over in one kernel; each run's compared text outputs by cell."""
    runs = []
    with client.setup_kernel():
        for _ in range(2):
            outputs = {}
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                if not any(marker in cell.source for marker in IGNORED):
                    outputs[index] = text_outputs(cell)
            runs.append(outputs)
    return runs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The canonical-format archives on a loopback server, and an override file naming them."""
    folder = tmp_path_factory.mktemp("canonical")
    with canonical_fixtures.serving_override(folder) as (url, requests, override):
        yield SimpleNamespace(url=url, requests=requests, override=override)


def test_every_downloadable_dataset_has_a_canonical_fixture(server):
    """The override names every source that has a URL in the registry, nothing else."""
    with_urls = {
        (name, s.filename)
        for name, spec in registry.REGISTRY.items()
        for s in spec.sources
        if s.urls
    }
    named = {
        (name, filename)
        for name, sources in json.loads(server.override.read_text()).items()
        for filename in sources
    }
    assert named == with_urls


def picks_its_config(nb) -> bool:
    """True when the notebook's config passes through `utils.pick_config` (so the smoke switch
    applies), or when it has no config to shrink (chapter 01)."""
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    defines = any("\ncfg = " in "\n" + src for src in code)
    return not defines or any("cfg = utils.pick_config(QUICK, FULL)" in src for src in code)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_the_full_profile_at_smoke_size(notebook, server, tmp_path):
    nb = nbformat.read(notebook, as_version=4)
    assert picks_its_config(nb), (
        f"{notebook.name} does not pick its config with utils.pick_config(QUICK, FULL), so the "
        "full profile would run at full size"
    )
    work = tmp_path / "notebooks"  # the kernel's cwd: a copy's folder, as run_chapters.py does
    work.mkdir()
    shutil.copy(notebook, work / notebook.name)
    data_root, results = tmp_path / "data", tmp_path / "results"
    env = {
        "NLPBOOK_PROFILE": "full",
        utils.SMOKE_ENV: "1",  # NLPBOOK_SMOKE
        "NLPBOOK_DATA": str(data_root),
        "NLPBOOK_MIRROR": "",  # nothing staged: every dataset comes through the download path
        registry.OVERRIDE_ENV: str(server.override),
        "NLPBOOK_RESULTS": str(results),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
    }
    server.requests.clear()
    client = notebook_client(
        nb,
        timeout=CELL_TIMEOUT,
        startup_timeout=180,  # a loaded CI machine starts a kernel slowly
        resources={"metadata": {"path": str(work)}},
        # killed once the last cell has run, not asked to shut down (about 2 s a chapter):
        # nothing here reads how the kernel exits
        shutdown_kernel="immediate",
    )
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this process's environment
        for key, value in env.items():
            mp.setenv(key, value)
        chapter = notebook.name[:2]
        runs = []
        try:
            if chapter in RERUN:
                runs = run_twice(client, nb)
            else:
                client.execute()
        except CellExecutionError as e:
            pytest.fail(f"{notebook.name} fails under the full profile (smoke size):\n{e}")
        finally:
            nbformat.write(nb, work / f"executed_{notebook.name}")  # to read when it fails

    if runs:  # the second run in the same kernel prints what the first printed
        first, second = runs
        assert first, f"{notebook.name}: no compared cell"
        differing = {i: (first[i], second[i]) for i in first if first[i] != second[i]}
        assert not differing, (
            f"{notebook.name}: cells {list(differing)} print differently on a second run in the "
            f"same kernel: {differing}"
        )
    downloaded = [path.lstrip("/") for path in server.requests]
    assert len(downloaded) == len(set(downloaded)), f"an archive was fetched twice: {downloaded}"
    missing = FULL_PROFILE_DOWNLOADS.get(chapter, set()) - set(downloaded)
    assert not missing, (
        f"{notebook.name} never downloaded {sorted(missing)} (its full-profile data)"
    )
    assert (results / f"{chapter}.json").is_file(), f"{notebook.name} recorded no band check"
    printed = "".join(
        "".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    for snippet in FULL_PROFILE_SHOWS.get(chapter, []):
        assert snippet in printed, f"{notebook.name}'s full profile never printed {snippet!r}"


def test_full_profile_after_quick_staging_adds_the_snli_train_split(server, tmp_path, monkeypatch):
    """`make run` stages the mirror's SNLI (dev and test only); the full profile then needs
    train: it downloads snli_1.0.zip and extracts it beside the staged files, keeping them."""
    from nlpbook import datasets

    root = tmp_path / "data"
    staged = root / "snli_1.0"
    staged.mkdir(parents=True)
    for split in ("dev", "test"):
        record = {"gold_label": "neutral", "sentence1": "A staged premise .", "sentence2": "Yes ."}
        (staged / f"snli_1.0_{split}.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setenv("NLPBOOK_DATA", str(root))
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    monkeypatch.setenv(registry.OVERRIDE_ENV, str(server.override))
    server.requests.clear()
    assert len(datasets.read_snli("dev")) == 1
    train = datasets.read_snli("train")
    assert len(train) > 32 and {y for _, _, y in train} == {0, 1, 2}
    assert server.requests == ["/snli/snli_1.0.zip"]
    assert datasets.read_snli("dev") == [("A staged premise .", "Yes .", 1)]
    assert not [p for p in root.rglob("*") if p.name.endswith(".part") or ".extract-" in p.name]


def test_make_data_for_the_full_profile_fetches_every_canonical_archive_once(
    server, tmp_path, monkeypatch, capsys
):
    """`make data NLPBOOK_PROFILE=full` (python -m nlpbook.data profile full), then again."""
    from nlpbook import data

    monkeypatch.setenv("NLPBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    monkeypatch.setenv(registry.OVERRIDE_ENV, str(server.override))
    server.requests.clear()
    data.main(["profile", "full"])
    expected = {f"/{name}/{filename}" for name, filename in _first_downloads()}
    assert sorted(server.requests) == sorted(expected)
    printed = capsys.readouterr().out
    assert all(f"{name}: " in printed for name, _ in _first_downloads())
    data.main(["profile", "full"])  # everything is local now: no second download
    assert sorted(server.requests) == sorted(expected)


def _first_downloads() -> list[tuple[str, str]]:
    """(dataset, the first source with a URL) for each dataset the full profile needs."""
    from nlpbook import data

    out = []
    for names, _ in data.PROFILE_NEEDS["full"]:
        spec = registry.REGISTRY[names.split("|")[0]]
        out.append((spec.name, next(s.filename for s in spec.sources if s.urls)))
    return out


def test_glove_840b_fixture_loads_every_odd_word_through_the_download(
    server, tmp_path, monkeypatch
):
    """Words with spaces, quotes, backslashes, 'nan'/'null', non-ASCII: each keeps its own
    vector after download -> verify -> parse -> cache, and again from the cache."""
    from nlpbook import embeddings

    monkeypatch.setenv("NLPBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NLPBOOK_MIRROR", "")
    monkeypatch.setenv(registry.OVERRIDE_ENV, str(server.override))
    words = canonical_fixtures.glove_840b_words()
    glove = embeddings.load_glove("840B.300d")
    assert len(glove) == len(words) and glove.dim == 300
    assert all(w in glove for w in canonical_fixtures.ODD_840B_WORDS)
    assert glove.index["the"] == words.index("the")  # listed twice: the first one counts
    cached = embeddings.load_glove("840B.300d")
    assert cached.words == glove.words and (cached.vectors == glove.vectors).all()
