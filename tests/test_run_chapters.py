"""scripts/run_chapters.py --record: the wall times that the chapters' headers and the README quote
(tests/test_prose_numbers.py checks the prose against this file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import run_chapters  # noqa: E402


def test_record_merges_each_chapter_with_its_machine_threads_and_seed(tmp_path, monkeypatch):
    path = tmp_path / "results" / "notebooks_run.json"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("NLPBOOK_SEED", "0")
    run_chapters.record(path, {"01": 10.04, "02": 330.5})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    run_chapters.record(path, {"02": 300.0})  # a later run of one chapter replaces only its entry
    data = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(data) == ["01", "02"]
    assert data["01"]["seconds"] == 10.04 and data["01"]["threads"] == "1"
    assert data["02"]["seconds"] == 300.0 and data["02"]["threads"] == "2"
    assert data["02"]["seed"] == "0" and data["02"]["cpu"] and data["02"]["date"]
    assert not list(path.parent.glob("*.part")), "written atomically"


def test_the_committed_record_names_every_chapter():
    data = json.loads((ROOT / "results" / "notebooks_run.json").read_text(encoding="utf-8"))
    chapters = sorted(p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(data) == chapters
    assert all(entry["threads"] == "1" and entry["seed"] == "0" for entry in data.values())


def test_kernels_talk_over_ipc_without_the_tcp_warning(tmp_path, capfd, monkeypatch):
    """`make run` starts each chapter's kernel over IPC: no "Kernel is running over TCP without
    encryption" alarm on the first command a student runs, and no socket files left behind."""
    import nbformat

    monkeypatch.chdir(tmp_path)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    ok, _, error = run_chapters.execute(path, tmp_path / "out" / path.name, tmp_path / "r", 60)
    assert ok, error
    executed = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["99_tiny.ipynb", "out"]
