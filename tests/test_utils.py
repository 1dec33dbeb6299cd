import json
import re
import warnings

import pytest
import torch

from nlpbook import utils


def test_set_seed_makes_torch_and_generator_repeatable():
    g1 = utils.set_seed(3)
    a, pa = torch.rand(4), torch.randperm(10, generator=g1)
    g2 = utils.set_seed(3)
    b, pb = torch.rand(4), torch.randperm(10, generator=g2)
    assert torch.equal(a, b) and torch.equal(pa, pb)
    utils.set_seed(4)
    assert not torch.equal(torch.rand(4), a)


def test_set_seed_silences_the_warn_only_determinism_alerts():
    # On CUDA, ops without a deterministic kernel (embedding backward, ...) warn under
    # warn_only=True; in a compared notebook cell that warning alone would fail nbval.
    from torch._prims_common import alert_not_deterministic

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        alert_not_deterministic("an op before set_seed")
        utils.set_seed(0)
        alert_not_deterministic("an op after set_seed")
    messages = [str(w.message) for w in caught]
    assert not any("after set_seed" in m for m in messages), messages
    torch.use_deterministic_algorithms(False)


def test_profile_default_valid_and_invalid(monkeypatch):
    monkeypatch.delenv("NLPBOOK_PROFILE", raising=False)
    assert utils.get_profile() == "quick"
    monkeypatch.setenv("NLPBOOK_PROFILE", "FULL")
    assert utils.get_profile() == "full"
    monkeypatch.setenv("NLPBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="not a profile"):
        utils.get_profile()


def test_seed_default_valid_and_invalid(monkeypatch):
    monkeypatch.delenv("NLPBOOK_SEED", raising=False)
    assert utils.get_seed() == 0
    monkeypatch.setenv("NLPBOOK_SEED", " 3 ")
    assert utils.get_seed() == 3
    monkeypatch.setenv("NLPBOOK_SEED", "")
    assert utils.get_seed() == 0
    for bad, message in (("one", "not a whole number"), ("1.5", "not a whole number"), ("-1", "out of range")):
        monkeypatch.setenv("NLPBOOK_SEED", bad)
        with pytest.raises(ValueError, match=message):
            utils.get_seed()


def test_every_chapter_seeds_from_nlpbook_seed():
    """Each config cell reads the seed once through utils.get_seed and seeds everything with it."""
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        # (found by the seed, not by utils.get_profile(): utils.pick_config reads the profile itself)
        readers = [src for src in code if "utils.get_seed()" in src]
        assert len(readers) == 1, f"{path.name} reads the seed once"
        assert "SEED = utils.get_seed()" in readers[0] and "utils.set_seed(SEED)" in readers[0], path.name


def test_get_device(monkeypatch):
    monkeypatch.delenv("NLPBOOK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert utils.get_device().type == expected
    assert utils.get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            utils.get_device("cuda")


def fake_machine(monkeypatch, gpus: int, mps: bool) -> None:
    """Pretend this machine has `gpus` CUDA devices and MPS or not (torch.device needs neither)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_get_device_refuses_a_device_the_machine_lacks(monkeypatch, source):
    def ask(name):
        if source == "argument":
            monkeypatch.delenv("NLPBOOK_DEVICE", raising=False)
            return utils.get_device(name)
        monkeypatch.setenv("NLPBOOK_DEVICE", name)
        return utils.get_device()

    def asker(name):  # how the message names who asked
        who = f"get_device({name!r})" if source == "argument" else f"NLPBOOK_DEVICE={name!r}"
        return re.escape(who)

    fake_machine(monkeypatch, gpus=0, mps=False)
    with pytest.raises(RuntimeError, match=asker("mps") + r" asks for MPS \(Apple GPUs\), but"):
        ask("mps")
    with pytest.raises(RuntimeError, match=asker("cuda") + " asks for CUDA, but CUDA is not"):
        ask("cuda")
    fake_machine(monkeypatch, gpus=1, mps=True)
    assert ask("mps") == torch.device("mps")
    assert ask("cuda:0") == torch.device("cuda:0")
    gpu_1 = asker("cuda:1") + " asks for GPU 1, but this machine has 1"
    with pytest.raises(RuntimeError, match=gpu_1):
        ask("cuda:1")
    for bad in ["gpu", "cuda:x"]:
        with pytest.raises(ValueError, match=asker(bad) + " is not a device: use cpu, cuda"):
            ask(bad)


def test_get_device_picks_cuda_only_when_available(monkeypatch):
    monkeypatch.delenv("NLPBOOK_DEVICE", raising=False)
    fake_machine(monkeypatch, gpus=1, mps=True)
    assert utils.get_device() == torch.device("cuda")
    fake_machine(monkeypatch, gpus=0, mps=True)
    assert utils.get_device() == torch.device("cpu")  # MPS only when asked for


def test_timer_measures_elapsed_time():
    import time

    with utils.Timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 1.0
    assert str(t).endswith(" s")


def test_check_band_prints_verdict_and_records(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NLPBOOK_RESULTS", str(tmp_path))
    assert utils.check_band("acc", 0.85, 0.8, 0.9, chapter="01") is None  # a cell shows only the line
    utils.check_band("loss", 2.0, 0.0, 1.0, chapter="01")
    out = capsys.readouterr().out.splitlines()
    assert out == ["acc in [0.8, 0.9]: True", "loss in [0.0, 1.0]: False"]
    records = json.loads((tmp_path / "01.json").read_text())
    assert records["acc"] == {"value": 0.85, "low": 0.8, "high": 0.9, "ok": True}
    assert records["loss"]["ok"] is False


def test_check_band_is_annotated_to_return_none():
    import typing

    assert typing.get_type_hints(utils.check_band)["return"] is type(None)


def test_check_band_survives_a_half_written_results_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NLPBOOK_RESULTS", str(tmp_path))
    (tmp_path / "03.json").write_text('{"acc": {"value": 0.8')  # a crash mid-write
    with pytest.warns(UserWarning, match=r"03.json.*not valid JSON"):
        utils.check_band("acc", 0.85, 0.8, 0.9, chapter="03")
    assert json.loads((tmp_path / "03.json").read_text())["acc"]["ok"] is True


def test_check_band_writes_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPBOOK_RESULTS", str(tmp_path))
    utils.check_band("acc", 0.85, 0.8, 0.9, chapter="01")
    before = (tmp_path / "01.json").read_text()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(utils.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        utils.check_band("loss", 0.5, 0.0, 1.0, chapter="01")
    assert (tmp_path / "01.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01.json"]


def test_flush_denormal_zeroes_denormals_inside_the_block_only():
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal 1.2e-38
    with utils.flush_denormal():
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() > 0.0


# ---------------------------------------------------------------- bad input (issue 22, item 14)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (1.5, TypeError, "seed must be a whole number, not float 1.5"),
        (True, TypeError, "seed must be a whole number, not bool True"),
        ("3", TypeError, "seed must be a whole number, not str"),
        (-1, ValueError, "seed must be from 0 to 4294967295, not -1"),
        (2**32, ValueError, "seed must be from 0 to 4294967295"),
    ],
)
def test_set_seed_refuses_a_bad_seed_before_reseeding_anything(bad, error, message):
    import random

    import numpy as np

    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    with pytest.raises(error, match=message):
        utils.set_seed(bad)
    # no generator was reseeded: each goes on from seed 11
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_set_seed_takes_numpy_integers():
    import numpy as np

    g = utils.set_seed(np.int64(3))
    again = utils.set_seed(3)
    assert torch.equal(torch.randperm(5, generator=g), torch.randperm(5, generator=again))


def test_check_band_writes_strict_json_with_null_for_nan_or_inf(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NLPBOOK_RESULTS", str(tmp_path))
    utils.check_band("loss", float("nan"), 0.0, 1.0, chapter="05")
    utils.check_band("ratio", float("inf"), 0.0, float("inf"), chapter="05")
    raw = (tmp_path / "05.json").read_text()
    records = json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c} in {raw}"))
    assert records["loss"] == {"value": None, "low": 0.0, "high": 1.0, "ok": False}
    assert records["ratio"] == {"value": None, "low": 0.0, "high": None, "ok": True}
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["loss in [0.0, 1.0]: False", "ratio in [0.0, inf]: True"]


def test_check_band_records_numpy_and_torch_numbers(tmp_path, monkeypatch, capsys):
    import numpy as np

    monkeypatch.setenv("NLPBOOK_RESULTS", str(tmp_path))
    utils.check_band("acc", np.float32(0.5), np.float32(0.25), np.float64(0.75), chapter="02")
    utils.check_band("bits", torch.tensor(0.5), 0.4, np.float32(0.625), chapter="02")
    records = json.loads((tmp_path / "02.json").read_text())
    assert records["acc"] == {"value": 0.5, "low": 0.25, "high": 0.75, "ok": True}
    assert records["bits"] == {"value": 0.5, "low": 0.4, "high": 0.625, "ok": True}
    assert capsys.readouterr().out.splitlines()[0] == "acc in [0.25, 0.75]: True"


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "/tmp/x", 3])
def test_check_band_refuses_a_chapter_that_is_not_a_plain_name(tmp_path, monkeypatch, bad):
    results = tmp_path / "results"
    monkeypatch.setenv("NLPBOOK_RESULTS", str(results))
    with pytest.raises(ValueError, match="chapter must be a plain name"):
        utils.check_band("acc", 0.5, 0.0, 1.0, chapter=bad)
    assert not any(tmp_path.rglob("*.json"))  # nothing written, inside the folder or out


def test_check_prints_one_line_and_raises_only_when_strict(capsys, monkeypatch):
    monkeypatch.delenv(utils.STRICT_CHECKS_ENV, raising=False)
    utils.check("both LSTMs within 0.04 of each other", True)
    utils.check("the model beats the baseline", False, "0.70 vs 0.75")
    assert capsys.readouterr().out.splitlines() == [
        "✓ both LSTMs within 0.04 of each other",
        "✗ the model beats the baseline (0.70 vs 0.75)",
    ]
    monkeypatch.setenv(utils.STRICT_CHECKS_ENV, "1")
    utils.check("still fine", True)
    with pytest.raises(utils.CheckFailed, match="✗ the model beats the baseline"):
        utils.check("the model beats the baseline", False)
    with pytest.raises(ValueError, match="claim"):
        utils.check("", True)


def _train_briefly():
    """Five Adam steps of a small ESIM (BiLSTMs, alignment, pooling) and a BiGRU from seed 0."""
    from nlpbook import rnn
    from nlpbook.models import esim

    utils.set_seed(0)
    model = esim.ESIM(esim.ESIMConfig(30, 8, 6, exact_match=True, dropout=0.1))
    gru = rnn.BiGRU(8, 5)
    params = list(model.parameters()) + list(gru.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    for _ in range(5):
        a, b = torch.randint(2, 30, (4, 7)), torch.randint(2, 30, (4, 5))
        a_len, b_len = torch.tensor([7, 3, 5, 1]), torch.tensor([2, 5, 4, 1])
        loss = model(a, a_len, b, b_len).logsumexp(1).mean()
        loss = loss + gru(torch.randn(4, 7, 8), a_len)[0].square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


def test_set_seed_turns_off_the_nan_fill_and_nothing_read_it(monkeypatch):
    # use_deterministic_algorithms fills new tensors with NaN unless told not to; set_seed
    # turns that off for speed. Training with the fill gives the same weights bit for bit, so
    # no kernel the chapters use reads memory it did not write.
    utils.set_seed(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.utils.deterministic.fill_uninitialized_memory
    without_fill = _train_briefly()
    original = utils.set_seed

    def set_seed_with_fill(seed, deterministic=True):
        generator = original(seed, deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = True
        return generator

    monkeypatch.setattr(utils, "set_seed", set_seed_with_fill)
    try:
        with_fill = _train_briefly()
        assert torch.utils.deterministic.fill_uninitialized_memory  # the fill was on
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = False
    for p, q in zip(without_fill, with_fill, strict=True):
        assert torch.equal(p, q)
