"""nlpbook.checkpoints: one file per model, rebuilt from its config dataclass (issue 19)."""

from __future__ import annotations

import dataclasses
import zipfile

import pytest
import torch
from torch import nn

from nlpbook import checkpoints
from nlpbook.models import esim, infill, lstm, sentiment
from nlpbook.models.logreg import LogisticRegression, LogisticRegressionConfig
from nlpbook.text import Vocab

VOCAB = Vocab(["<pad>", "<unk>", *"abcdefgh"])  # 10 tokens

# every chapter's model, small, with a vocabulary of len(VOCAB) where it has one
MODELS = {
    "logreg": lambda: LogisticRegression(LogisticRegressionConfig(in_features=3)),
    "lstm": lambda: lstm.SentimentLSTM(lstm.SentimentLSTMConfig(10, 4, 3)),
    "lstm-scratch": lambda: lstm.SentimentLSTM(lstm.SentimentLSTMConfig(10, 4, 3, scratch=True)),
    "sentiment": lambda: sentiment.BiLSTMSentiment(sentiment.BiLSTMSentimentConfig(10, 4, 3)),
    "esim": lambda: esim.ESIM(esim.ESIMConfig(10, 4, 3, exact_match=True)),
    "infill": lambda: infill.InfillModel(infill.InfillConfig(10, 6, 4, 3, 5)),
}


def logreg(in_features: int = 2) -> LogisticRegression:
    return LogisticRegression(LogisticRegressionConfig(in_features))


@pytest.mark.parametrize("name", MODELS)
def test_every_chapter_model_round_trips(tmp_path, name):
    torch.manual_seed(0)
    model = MODELS[name]()
    assert isinstance(model.config, type(model).config_class)
    vocab = None if name == "logreg" else VOCAB
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, vocab, {"seq_len": 7})
    loaded, loaded_vocab, extra = checkpoints.load(path, type(model))
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training and loaded_vocab == vocab and extra == {"seq_len": 7}
    state = loaded.state_dict()
    assert all(torch.equal(t, state[k]) for k, t in model.state_dict().items())


def test_the_file_holds_config_class_name_vocab_and_extra(tmp_path):
    model = logreg(2)
    vocab = Vocab(["<pad>", "<unk>", "hello"])
    extra = {"tokenizer": "basic", "dims": [1, 2]}
    path = checkpoints.save_checkpoint(tmp_path / "ckpt" / "m.pt", model, vocab, extra)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # no .part left
    raw = torch.load(path, weights_only=True)  # loads without unpickling code
    assert raw["format"] == "nlpbook-checkpoint-2" and raw["model"] == "LogisticRegression"
    checkpoint = checkpoints.load_checkpoint(path)
    assert isinstance(checkpoint, checkpoints.Checkpoint)
    assert checkpoint.config == {"in_features": 2} == dataclasses.asdict(model.config)
    assert checkpoint.vocab == vocab and checkpoint.extra == extra
    assert checkpoint.model == "LogisticRegression"
    fresh = checkpoints.load_state(logreg(2), checkpoint.state)
    assert torch.equal(fresh.linear.weight, model.linear.weight)
    bare = checkpoints.load_checkpoint(checkpoints.save_checkpoint(tmp_path / "b.pt", model))
    assert bare.vocab is None and bare.extra == {}


def test_save_needs_a_config_dataclass_plain_extra_and_a_matching_vocab(tmp_path):
    with pytest.raises(TypeError, match="no config dataclass"):
        checkpoints.save_checkpoint(tmp_path / "x.pt", nn.Linear(2, 1))
    with pytest.raises(TypeError, match="plain values"):
        checkpoints.save_checkpoint(tmp_path / "x.pt", logreg(), None, {"f": object()})
    model = MODELS["sentiment"]()  # vocab_size 10
    with pytest.raises(ValueError, match="10 vocabulary rows, the vocab 3"):
        checkpoints.save_checkpoint(tmp_path / "x.pt", model, Vocab(["<pad>", "<unk>", "a"]))
    assert not (tmp_path / "x.pt").exists()


def test_load_refuses_a_file_of_another_model(tmp_path):
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", logreg())
    with pytest.raises(ValueError, match="holds a LogisticRegression, not a BiLSTMSentiment"):
        checkpoints.load(path, sentiment.BiLSTMSentiment)


def test_a_format_1_file_says_it_is_from_an_older_nlpbook(tmp_path):
    path = tmp_path / "old.pt"
    old = {"format": "nlpbook-checkpoint-1", "model_state": {}, "vocab": None, "config": {}}
    torch.save(old, path)
    with pytest.raises(ValueError, match="old.pt was saved by an older nlpbook"):
        checkpoints.load_checkpoint(path)


def test_load_state_names_what_does_not_match(tmp_path):
    state = checkpoints.load_checkpoint(
        checkpoints.save_checkpoint(tmp_path / "m.pt", logreg(2))
    ).state
    with pytest.raises(ValueError, match="does not match this model.*shape mismatch"):
        checkpoints.load_state(logreg(3), state)
    with pytest.raises(ValueError, match="missing"):
        checkpoints.load_state(nn.Sequential(nn.Linear(2, 1)), state)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an nlpbook checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "other.pt")


def test_build_gives_clear_errors_for_a_bad_config():
    assert checkpoints.build(LogisticRegression, {"in_features": 4}).linear.in_features == 4
    with pytest.raises(ValueError, match="does not fit LogisticRegressionConfig.*in_feature"):
        checkpoints.build(LogisticRegression, {"in_feature": 4})  # unknown field
    with pytest.raises(ValueError, match="does not fit BiLSTMSentimentConfig"):
        checkpoints.build(sentiment.BiLSTMSentiment, {"vocab_size": 3})  # missing fields
    with pytest.raises(TypeError, match="config_class"):
        checkpoints.build(nn.Linear, {"in_features": 2, "out_features": 1})


@dataclasses.dataclass
class WideConfig:
    vocab_size: int


class Wide(nn.Module):
    """An embedding that records the default device each time it is built."""

    config_class = WideConfig
    built_on: list[str] = []

    def __init__(self, config: WideConfig) -> None:
        super().__init__()
        self.config = config
        Wide.built_on.append(torch.empty(0).device.type)
        self.embedding = nn.Embedding(config.vocab_size, 300)


def test_restore_checks_shapes_on_the_meta_device_before_allocating():
    state = Wide(WideConfig(5)).state_dict()
    Wide.built_on.clear()
    model = checkpoints.restore(Wide, state, {"vocab_size": 5})
    assert Wide.built_on == ["meta", "cpu"] and torch.equal(
        model.embedding.weight, state["embedding.weight"]
    )
    # a crafted config: 2e9 rows of 300 floats would be 2.4 TB if built before the check
    Wide.built_on.clear()
    with pytest.raises(ValueError, match=r"shape mismatch.*embedding.weight"):
        checkpoints.restore(Wide, state, {"vocab_size": 2_000_000_000})
    assert Wide.built_on == ["meta"]  # never built for real


def test_load_refuses_a_config_that_does_not_match_the_weights(tmp_path):
    model = MODELS["sentiment"]()
    model.config = dataclasses.replace(model.config, hidden_size=4)  # the weights have 3
    path = checkpoints.save_checkpoint(tmp_path / "bad.pt", model, VOCAB)
    with pytest.raises(ValueError, match="does not match"):
        checkpoints.load(path, sentiment.BiLSTMSentiment)


# ---------------------------------------------------------------- damaged bundles (issue 14)


def saved(tmp_path, model=None):
    return checkpoints.save_checkpoint(tmp_path / "m.pt", model or logreg(64))


def test_load_checkpoint_detects_corrupted_weight_bytes(tmp_path):
    model = logreg(64)
    path = saved(tmp_path, model)
    raw = bytearray(path.read_bytes())
    at = raw.find(model.linear.weight.detach().numpy().tobytes()[:64])
    assert at > 0
    raw[at + 100 : at + 116] = b"\xff\xff\x7f\x7f" * 4  # one weight becomes 3.4e38
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"m.pt is damaged"):
        checkpoints.load_checkpoint(path)


@pytest.mark.parametrize("cut", [0, 10, 200, -30])
def test_load_checkpoint_truncated_file_says_damaged(tmp_path, cut):
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ValueError, match=r"m.pt is damaged|m.pt is not an nlpbook checkpoint"):
        checkpoints.load_checkpoint(path)


def test_load_checkpoint_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        checkpoints.load_checkpoint(tmp_path / "nope.pt")


GOOD = {
    "format": "nlpbook-checkpoint-2",
    "model": "LogisticRegression",
    "model_state": {},
    "vocab": None,
    "config": {},
    "extra": {},
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model_state": None}, "model_state"),
        ({"model_state": {101: 1}}, "model_state"),
        ({"vocab": [1, 2]}, "vocab"),
        ({"vocab": ["<pad>"]}, "vocab"),
        ({"config": []}, "config"),
        ({"extra": None}, "extra"),
        ({"model": None}, "model"),
        ({"format": "nlpbook-checkpoint-3"}, "not an nlpbook checkpoint"),
    ],
)
def test_load_checkpoint_crafted_bundles_give_clear_errors(tmp_path, change, message):
    path = tmp_path / "crafted.pt"
    torch.save({**GOOD, **change}, path)
    with pytest.raises(ValueError, match=rf"crafted.pt.*{message}"):
        checkpoints.load_checkpoint(path)


def test_the_good_crafted_bundle_loads(tmp_path):  # the control for the test above
    torch.save(GOOD, tmp_path / "crafted.pt")
    assert checkpoints.load_checkpoint(tmp_path / "crafted.pt").model == "LogisticRegression"


@pytest.mark.parametrize(
    "members",
    [
        {"m/data.pkl": b"\x80\x02R.", "m/version": b"3\n"},  # pop from empty list
        {"m/data.pkl": b"\x80\x02X\x03\x00\x00\x00101Q.", "m/version": b"3\n"},  # KeyError
        {"m/data.pkl": b"", "m/version": b"3\n"},  # EOFError
        {"m/other": b"x"},
    ],
)
def test_load_checkpoint_crafted_archives_give_clear_errors(tmp_path, members):
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    with pytest.raises(ValueError, match=r"crafted.pt is damaged or not an nlpbook checkpoint"):
        checkpoints.load_checkpoint(path)


# ---------------------------------------------------------------- expanded tensors, failed saves


def test_load_checkpoint_refuses_a_tensor_whose_storage_is_smaller_than_its_shape(tmp_path):
    # one row of 300 floats expanded (stride 0) to 5,000 rows: a 3 KB file that fits Wide's
    # config, whose weights load_state_dict would materialise at full size (6 MB here; with
    # 2e7 rows of 4 floats, +380 MB from a 5 KB file)
    expanded = torch.zeros(1, 300).expand(5_000, 300)
    assert expanded.untyped_storage().nbytes() == 1_200 and expanded.stride() == (0, 1)
    bundle = {
        **GOOD,
        "model": "Wide",
        "model_state": {"embedding.weight": expanded},
        "config": {"vocab_size": 5_000},
    }
    path = tmp_path / "expanded.pt"
    torch.save(bundle, path)
    assert path.stat().st_size < 5_000
    assert torch.load(path, weights_only=True)["model_state"]["embedding.weight"].stride() == (0, 1)
    with pytest.raises(ValueError, match=r"expanded.pt.*embedding.weight.*storage"):
        checkpoints.load_checkpoint(path)
    with pytest.raises(ValueError, match=r"expanded.pt.*embedding.weight.*storage"):
        checkpoints.load(path, Wide)
    # overlapping strides (each row starts one element after the last) are refused too
    overlapping = torch.zeros(5_299).as_strided((5_000, 300), (1, 1))
    torch.save({**bundle, "model_state": {"embedding.weight": overlapping}}, path)
    with pytest.raises(ValueError, match=r"expanded.pt.*embedding.weight.*storage"):
        checkpoints.load_checkpoint(path)
    # and so are overlapping strides over a storage as large as the values
    square = torch.zeros(20).as_strided((4, 5), (1, 1))
    torch.save({**bundle, "model_state": {"embedding.weight": square}}, path)
    with pytest.raises(ValueError, match=r"expanded.pt.*embedding.weight.*overlapping"):
        checkpoints.load_checkpoint(path)
    # the control: the same shape with storage of its own loads
    torch.save({**bundle, "model_state": {"embedding.weight": torch.zeros(5_000, 300)}}, path)
    model, _, _ = checkpoints.load(path, Wide)
    assert model.embedding.weight.shape == (5_000, 300)


def test_save_checkpoint_onto_a_directory_is_a_clear_error_that_leaves_nothing(tmp_path):
    target = tmp_path / "m.pt"
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=r"m.pt is a directory"):
        checkpoints.save_checkpoint(target, logreg())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"] and target.is_dir()


SAVE_FAILURES = [
    OSError(28, "No space left on device"),
    # what torch's zip writer raises when the disk fills up during torch.save
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 960 vs 854"),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("error", SAVE_FAILURES, ids=lambda e: type(e).__name__)
def test_a_failed_save_leaves_no_part_file_nor_changes_the_old_one(tmp_path, monkeypatch, error):
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", logreg(3))
    before = path.read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04 half a checkpoint")
        raise error

    monkeypatch.setattr(torch, "save", failing_save)
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else OSError
    with pytest.raises(expected) as caught:
        checkpoints.save_checkpoint(path, logreg(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no m.pt.part
    assert path.read_bytes() == before
    if expected is OSError:  # names the file and the cause
        assert str(path) in str(caught.value)
        cause = "No space left on device" if isinstance(error, OSError) else "unexpected pos"
        assert cause in str(caught.value)
        assert caught.value.__cause__ is error
    if isinstance(error, OSError):
        assert caught.value.errno == 28


# ---------------------------------------------------------------- config values (issue 22, item 11)


def with_config(tmp_path, model_name, **changes):
    """A saved checkpoint of MODELS[model_name] whose stored config has `changes`."""
    model = MODELS[model_name]()
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, VOCAB)
    bundle = torch.load(path, weights_only=True)
    bundle["config"].update(changes)
    torch.save(bundle, path)
    return path, type(model)


@pytest.mark.parametrize(
    "model_name, key, value, message",
    [
        ("sentiment", "vocab_size", "10", "'vocab_size' must be int, not str '10'"),
        ("sentiment", "vocab_size", -1, "'vocab_size' is -1: it must be at least 1"),
        ("sentiment", "vocab_size", 10.0, "'vocab_size' must be int, not float"),
        ("sentiment", "num_layers", True, "'num_layers' must be int, not bool"),
        ("sentiment", "pad_index", 99, r"'pad_index' is 99: it must be an id from 0 to 9"),
        ("sentiment", "pad_index", -1, r"'pad_index' is -1: it must be an id from 0 to 9"),
        ("lstm", "dropout", 1.5, "'dropout' is 1.5: it must be a probability"),
        ("lstm", "dropout", float("nan"), "'dropout' is nan: it must be finite"),
        ("lstm", "scratch", 1, "'scratch' must be bool, not int"),
        ("esim", "hidden_size", 0, "'hidden_size' is 0: it must be at least 1"),
        ("infill", "out_features", None, "'out_features' must be int, not NoneType"),
        ("logreg", "in_features", [3], "'in_features' must be int, not list"),
    ],
)
def test_load_names_the_file_and_key_of_a_bad_config_value(
    tmp_path, model_name, key, value, message
):
    path, model_class = with_config(tmp_path, model_name, **{key: value})
    with pytest.raises(ValueError, match=rf"m.pt: config key {message}"):
        checkpoints.load(path, model_class)


def test_the_config_check_follows_the_dataclass_annotations():
    @dataclasses.dataclass
    class Config:
        size: int
        rate: float = 0.5
        name: str | None = None

    checkpoints.check_config(Config, {"size": 3, "rate": 1, "name": None})  # an int is a float
    checkpoints.check_config(Config, {"size": 3, "name": "x"})
    with pytest.raises(ValueError, match="'name' must be str or NoneType, not int"):
        checkpoints.check_config(Config, {"size": 3, "name": 4})
    with pytest.raises(ValueError, match="'rate' is inf: it must be finite"):
        checkpoints.check_config(Config, {"size": 3, "rate": float("inf")})


def test_load_refuses_a_vocabulary_that_does_not_match_the_embedding(tmp_path):
    model = MODELS["sentiment"]()
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, VOCAB)
    bundle = torch.load(path, weights_only=True)
    bundle["vocab"] = [*bundle["vocab"], "zz"]  # 11 tokens, 10 embedding rows
    torch.save(bundle, path)
    with pytest.raises(
        ValueError, match=r"m.pt: the vocabulary has 11 tokens but config key 'vocab_size'.* is 10"
    ):
        checkpoints.load(path, sentiment.BiLSTMSentiment)


def test_a_config_or_extra_that_contains_itself_is_a_clear_error(tmp_path):
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match=r"extra\['self'\] contains itself"):
        checkpoints.save_checkpoint(tmp_path / "m.pt", logreg(), None, loop)
    model = logreg()
    model.config.in_features = cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match=r"config.in_features\[0\] contains itself"):
        checkpoints.save_checkpoint(tmp_path / "m.pt", model)
    assert not list(tmp_path.iterdir())
    torch.save({**GOOD, "extra": loop}, tmp_path / "crafted.pt")  # the unpickler rebuilds cycles
    with pytest.raises(ValueError, match=r"crafted.pt: extra\['self'\] contains itself"):
        checkpoints.load_checkpoint(tmp_path / "crafted.pt")
    shared = [1, 2]  # the same list twice is no cycle
    path = checkpoints.save_checkpoint(
        tmp_path / "m.pt", logreg(), None, {"a": shared, "b": shared}
    )
    assert checkpoints.load_checkpoint(path).extra == {"a": [1, 2], "b": [1, 2]}
