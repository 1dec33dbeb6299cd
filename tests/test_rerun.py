"""Running a chapter twice in one kernel gives the same outputs (ARCHITECTURE.md: idempotent data
preparation, no duplicated state). Chapters 01 and 04, at smoke size (NLPBOOK_SMOKE=1) under
the full profile, with their data served from 127.0.0.1 as in test_full_profile_smoke.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import fixtures_canonical as canonical_fixtures
import nbformat
import pytest

from nlpbook import utils
from nlpbook.data import registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from run_chapters import notebook_client  # noqa: E402  (kernels over IPC, as make run)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["01_logistic_regression.ipynb", "04_esim_snli.ipynb"]
IGNORED = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")  # machine-dependent or interactive cells
PROGRESS_BAR = re.compile(r"[^\r\n]*\d+%\|[^\]\r\n]*\]")  # a tqdm bar, up to its "[.. B/s]"


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


@pytest.fixture(scope="module")
def override(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canonical")
    with canonical_fixtures.serving_override(folder) as (_, _, path):
        yield path


@pytest.mark.parametrize("name", CHAPTERS)
def test_a_second_run_in_the_same_kernel_gives_the_same_outputs(name, override, tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    env = {
        "NLPBOOK_PROFILE": "full",
        utils.SMOKE_ENV: "1",
        "NLPBOOK_DATA": str(tmp_path / "data"),
        "NLPBOOK_MIRROR": "",
        registry.OVERRIDE_ENV: str(override),
        "NLPBOOK_RESULTS": str(tmp_path / "results"),
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
    }
    client = notebook_client(
        nb,
        timeout=300,
        startup_timeout=180,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    passes = []
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with client.setup_kernel():
            for _ in range(2):
                outputs = {}
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    client.execute_cell(cell, index)
                    if not any(marker in cell.source for marker in IGNORED):
                        outputs[index] = text_outputs(cell)
                passes.append(outputs)
    first, second = passes
    assert first, f"{name}: no compared cell"
    differing = [i for i in first if first[i] != second[i]]
    details = {i: (first[i], second[i]) for i in differing}
    assert not differing, (
        f"{name}: cells {differing} print differently on the second run: {details}"
    )
