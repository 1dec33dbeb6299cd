"""The smoke run's scale-down: `utils.smoke_config` and `scripts/add_smoke_switch.py`."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nlpbook import utils

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import add_smoke_switch  # noqa: E402
import colab_cells  # noqa: E402


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


def notebook(config_cell: str, *, other: str = "print(cfg)\n") -> dict:
    cells = [
        {"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# 0X title\n"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "c",
            "metadata": {"tags": ["keep"]},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["quick\n"]}],
            "source": config_cell.splitlines(keepends=True),
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "id": "d",
            "metadata": {},
            "outputs": [],
            "source": other.splitlines(keepends=True),
        },
    ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


CONFIG_CELL = """import random
import time
from dataclasses import dataclass

import torch

from nlpbook import data, utils

PROFILE = utils.get_profile()


@dataclass
class Config:
    epochs: int


cfg = (Config(epochs=3)
       if PROFILE == "quick" else Config(epochs=30))
device = utils.get_device()
print(cfg)
"""


def source(nb: dict, index: int = 1) -> str:
    return "".join(nb["cells"][index]["source"])


def test_switch_goes_right_after_the_cfg_assignment_with_import_os():
    nb = add_smoke_switch.apply(notebook(CONFIG_CELL))
    code = source(nb)
    lines = code.splitlines()
    assert lines[:4] == [
        "import os",
        "import random",
        "import time",
        "from dataclasses import dataclass",
    ]
    end = lines.index('       if PROFILE == "quick" else Config(epochs=30))')
    assert lines[end + 1 : end + 4] == [
        add_smoke_switch.SMOKE_COMMENT,
        add_smoke_switch.SMOKE_LINE,
        "device = utils.get_device()",
    ]
    ast.parse(code)
    assert nb["cells"][1]["outputs"][0]["text"] == ["quick\n"]
    assert nb["cells"][1]["metadata"] == {"tags": ["keep"]}
    assert source(nb, 2) == "print(cfg)\n" and add_smoke_switch.has_switch(nb)


def test_the_switch_line_shrinks_only_when_nlpbook_smoke_is_1(monkeypatch):
    code = source(add_smoke_switch.apply(notebook(CONFIG_CELL))).replace("print(cfg)\n", "")
    for value, epochs in (("1", 1), ("0", 3), ("", 3), (None, 3)):
        monkeypatch.delenv("NLPBOOK_SMOKE", raising=False)
        monkeypatch.delenv("NLPBOOK_PROFILE", raising=False)
        if value is not None:
            monkeypatch.setenv("NLPBOOK_SMOKE", value)
        namespace: dict = {"__name__": "cell"}
        exec(compile(code, "cell", "exec", dont_inherit=True), namespace)
        assert namespace["cfg"].epochs == epochs, value


def test_switch_is_idempotent_and_after_the_colab_install_block():
    block = colab_cells.install_block("https://github.com/nlpbook/nlpbook", "v0.1.0")
    nb = add_smoke_switch.apply(notebook(block + "\n" + CONFIG_CELL))
    once = add_smoke_switch.dumps(nb)
    assert add_smoke_switch.dumps(add_smoke_switch.apply(json.loads(once))) == once
    code = source(nb)
    assert code.startswith(colab_cells.BLOCK_FIRST_LINE)  # the block stays first
    assert "\nimport os\nimport random\n" in code
    ast.parse(code)
    # and the Colab script, run afterwards, keeps the switch
    again = colab_cells.apply(json.loads(once), "01_x.ipynb", "https://github.com/a/b", "v1")
    assert add_smoke_switch.SMOKE_LINE in source(again)


@pytest.mark.parametrize(
    "imports, expected",
    [
        (
            "from collections import Counter\nfrom dataclasses import dataclass\n",
            "import os\nfrom collections",
        ),
        ("import copy\nimport time\n", "import copy\nimport os\nimport time\n"),
        ("import torch\n", "import os\n\nimport torch\n"),
        ("import os\nimport time\n", "import os\nimport time\n"),
    ],
)
def test_import_os_lands_where_isort_puts_it(imports, expected):
    cell = imports + "\nfrom nlpbook import utils\n\ncfg = 1\n"
    code = source(add_smoke_switch.apply(notebook(cell)))
    assert code.startswith(expected) and code.count("import os\n") == 1


def test_notebooks_without_cfg_are_left_alone_and_a_cell_without_utils_is_an_error(tmp_path):
    plain = notebook("import torch\nx = 1\n", other="cfg_like = 2\n")
    assert add_smoke_switch.apply(json.loads(json.dumps(plain))) == plain
    assert add_smoke_switch.has_switch(plain)
    with pytest.raises(add_smoke_switch.SwitchError, match="does not import utils"):
        add_smoke_switch.apply(notebook("from nlpbook import data\ncfg = 1\n"))


def test_cli_check_and_rewrite(tmp_path, capsys):
    path = tmp_path / "02_x.ipynb"
    path.write_text(add_smoke_switch.dumps(notebook(CONFIG_CELL)), encoding="utf-8")
    assert add_smoke_switch.main(["--check", str(path)]) == 1
    assert "needs the switch" in capsys.readouterr().out
    assert add_smoke_switch.main([str(path)]) == 0
    assert add_smoke_switch.main(["--check", str(path)]) == 0
    bad = tmp_path / "03_y.ipynb"
    bad.write_text(add_smoke_switch.dumps(notebook("cfg = 1\n")), encoding="utf-8")
    assert add_smoke_switch.main([str(bad)]) == 2
    assert "03_y.ipynb: the config cell does not import utils" in capsys.readouterr().err


def test_the_line_reads_the_documented_variable():
    assert f'os.environ.get("{utils.SMOKE_ENV}") == "1"' in add_smoke_switch.SMOKE_LINE
    assert "utils.smoke_config(cfg)" in add_smoke_switch.SMOKE_LINE
