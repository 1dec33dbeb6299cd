"""The smoke run's scale-down, `utils.smoke_config`, and how every chapter picks its config:
`utils.pick_config(QUICK, FULL)` (by NLPBOOK_PROFILE, shrunk when NLPBOOK_SMOKE=1)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from nlpbook import utils

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FullConfig:
    n_train: int | None = None
    n_val: int = 10_000
    n_test: int = 25_000
    train_limit: int = 1_000_000
    max_tokens: int | None = None
    max_vocab: int = 25_000
    seq_len: int = 200
    glove: str = "840B.300d"
    embedding_dim: int = 300
    hidden_size: int = 300
    mlp_size: int = 256
    num_layers: int = 2
    dropout: float = 0.5
    lr: float = 4e-4
    batch_size: int = 128
    epochs: int = 10
    epochs_softmax: int = 20
    eval_every: int = 200
    patience: int = 3
    held_out: int = 0
    held_out_premises: int = 1_000
    min_len: int = 5
    packed: bool = True
    seeds: tuple[int, ...] = (0, 1, 2)


def test_smoke_config_shrinks_sizes_and_keeps_code_paths():
    small = utils.smoke_config(FullConfig())
    assert isinstance(small, FullConfig)
    assert (small.n_val, small.n_test, small.train_limit) == (16, 16, 96)
    assert (small.max_vocab, small.seq_len, small.hidden_size, small.mlp_size) == (1000, 64, 16, 16)
    assert (small.batch_size, small.epochs, small.epochs_softmax, small.eval_every) == (8, 1, 1, 2)
    assert small.seeds == (0, 1) and small.held_out_premises == 16
    # None means "all of it", a code path of its own; GloVe and its dimension, layers,
    # dropout, lr, patience, flags and sizes that are not costs stay as they are.
    assert small.n_train is None and small.max_tokens is None
    same = ("glove", "embedding_dim", "num_layers", "dropout", "lr", "patience", "held_out")
    assert all(getattr(small, f) == getattr(FullConfig(), f) for f in same + ("min_len", "packed"))


def test_smoke_config_never_grows_a_size_and_refuses_non_configs():
    @dataclass
    class Tiny:
        n_train: int = 3
        epochs: int = 1
        hidden_size: int = 4

    assert utils.smoke_config(Tiny()) == Tiny()
    for bad in ({"epochs": 3}, FullConfig, None):
        with pytest.raises(TypeError, match="config dataclass instance"):
            utils.smoke_config(bad)


# ---------------------------------------------------------------- pick_config (issue 19)

QUICK, FULL = FullConfig(epochs=3, batch_size=4), FullConfig()


@pytest.mark.parametrize("smoke", [None, "0", "", "true"])
def test_pick_config_picks_by_profile_and_leaves_sizes_alone_without_smoke(monkeypatch, smoke):
    monkeypatch.delenv("NLPBOOK_SMOKE", raising=False)
    if smoke is not None:
        monkeypatch.setenv("NLPBOOK_SMOKE", smoke)
    monkeypatch.delenv("NLPBOOK_PROFILE", raising=False)
    assert utils.pick_config(QUICK, FULL) is QUICK
    monkeypatch.setenv("NLPBOOK_PROFILE", "full")
    assert utils.pick_config(QUICK, FULL) is FULL  # not shrunk: 10 epochs, batches of 128


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_pick_config_shrinks_the_picked_config_when_smoke_is_1(monkeypatch, profile):
    monkeypatch.setenv("NLPBOOK_SMOKE", "1")
    monkeypatch.setenv("NLPBOOK_PROFILE", profile)
    picked = QUICK if profile == "quick" else FULL
    assert utils.pick_config(QUICK, FULL) == utils.smoke_config(picked)
    assert utils.pick_config(QUICK, FULL).glove == picked.glove  # the profile's code paths


def test_pick_config_refuses_an_unknown_profile(monkeypatch):
    monkeypatch.setenv("NLPBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="not a profile"):
        utils.pick_config(QUICK, FULL)


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_picks_its_config_with_pick_config(path):
    """A chapter with a config defines QUICK and FULL and picks one with utils.pick_config,
    so that NLPBOOK_SMOKE=1 shrinks it (tests/test_full_profile_smoke.py); none reads
    NLPBOOK_SMOKE itself."""
    code = notebook_code(path)
    assert 'os.environ.get("NLPBOOK_SMOKE")' not in code and "utils.smoke_config(" not in code
    if not re.search(r"^(cfg|QUICK|FULL)\b\s*=", code, re.MULTILINE):
        return  # no config (chapter 01)
    assert re.search(r"^QUICK = ", code, re.MULTILINE) and re.search(r"^FULL = ", code, re.MULTILINE)
    assignments = re.findall(r"^cfg\b\s*=\s*(.*)", code, re.MULTILINE)
    assert [a.split("#")[0].strip() for a in assignments] == ["utils.pick_config(QUICK, FULL)"]
