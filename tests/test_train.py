import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nlpbook import train
from nlpbook.models.logreg import LogisticRegression
from nlpbook.text import Vocab


def separable_data(n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=gen)
    y = (X[:, 0] + X[:, 1] > 0).long()
    return X, y


def test_run_epoch_accuracy_is_example_weighted():
    # Uneven batches (3 then 1): the mean of batch means would differ from correct / n.
    model = LogisticRegression()
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
        model.linear.bias.zero_()
    X = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    y = torch.tensor([1, 1, 0, 1])
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    stats = train.evaluate(model, loader, nn.BCEWithLogitsLoss())
    assert stats["n"] == 4 and stats["acc"] == pytest.approx(
        2 / 4
    )  # batch means would give (2/3 + 0)/2
    losses = nn.functional.binary_cross_entropy_with_logits(X[:, 0], y.float(), reduction="none")
    assert stats["loss"] == pytest.approx(losses.mean().item(), rel=1e-6)


def test_count_correct_binary_and_multiclass():
    assert train.count_correct(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0])) == 2
    assert train.count_correct(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 1


def test_fit_learns_keeps_best_and_stops_early():
    torch.manual_seed(0)
    X, y = separable_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=False)
    model = LogisticRegression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    history = train.fit(
        model,
        loader,
        loader,
        nn.BCEWithLogitsLoss(),
        optimizer,
        epochs=15,
        patience=2,
        progress=False,
        verbose=False,
        monitor="val_acc",
    )
    assert max(r["val_acc"] for r in history) >= 0.9
    best = max(history, key=lambda r: r["val_acc"])
    assert best["best"]
    # the model ends with the best epoch's weights
    assert train.evaluate(model, loader, nn.BCEWithLogitsLoss())["acc"] == pytest.approx(
        best["val_acc"]
    )


def test_fit_patience_stops_when_nothing_improves():
    X, y = separable_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=16)
    model = LogisticRegression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing can improve
    history = train.fit(
        model,
        loader,
        loader,
        nn.BCEWithLogitsLoss(),
        optimizer,
        epochs=10,
        patience=3,
        progress=False,
        verbose=False,
    )
    assert len(history) == 4 and [r["best"] for r in history] == [True, False, False, False]
    with pytest.raises(ValueError, match="monitor"):
        train.fit(model, loader, loader, nn.BCEWithLogitsLoss(), optimizer, 1, monitor="acc")


def test_multiclass_training_with_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(90, 2, generator=gen)
    y = torch.bucketize(X[:, 0].contiguous(), torch.tensor([-0.5, 0.5]))
    loader = DataLoader(TensorDataset(X, y), batch_size=30)
    model = nn.Linear(2, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    history = train.fit(
        model,
        loader,
        loader,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=20,
        progress=False,
        verbose=False,
    )
    assert min(r["val_loss"] for r in history) < history[0]["val_loss"]
    assert max(r["val_acc"] for r in history) > 0.8


def test_checkpoint_round_trip_loads_weights_only(tmp_path):
    model = LogisticRegression()
    vocab = Vocab(["<pad>", "<unk>", "hello"])
    path = train.save_checkpoint(
        tmp_path / "ckpt" / "m.pt", model, vocab, {"in_features": 2, "dims": [1, 2]}
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # no .part left
    raw = torch.load(path, weights_only=True)  # loads without unpickling code
    assert raw["format"] == "nlpbook-checkpoint-1"
    state, vocab2, config = train.load_checkpoint(path)
    assert vocab2 == vocab and config == {"in_features": 2, "dims": [1, 2]}
    fresh = train.load_state(LogisticRegression(config["in_features"]), state)
    assert torch.equal(fresh.linear.weight, model.linear.weight)


def test_checkpoint_mismatch_and_bad_config_errors(tmp_path):
    path = train.save_checkpoint(tmp_path / "m.pt", LogisticRegression(2), None, {})
    state, vocab, _ = train.load_checkpoint(path)
    assert vocab is None
    with pytest.raises(ValueError, match="does not match this model.*shape mismatch"):
        train.load_state(LogisticRegression(3), state)
    with pytest.raises(ValueError, match="missing"):
        train.load_state(nn.Sequential(nn.Linear(2, 1)), state)
    with pytest.raises(TypeError, match="plain values"):
        train.save_checkpoint(tmp_path / "x.pt", LogisticRegression(), None, {"f": object()})
    assert not (tmp_path / "x.pt").exists()
    (tmp_path / "other.pt").write_bytes(b"")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an nlpbook checkpoint"):
        train.load_checkpoint(tmp_path / "other.pt")


# ---------------------------------------------------------------- damaged bundles (issue 14)


def saved(tmp_path, model=None, vocab=None, config=None):
    model = model or nn.Linear(64, 64)
    return train.save_checkpoint(tmp_path / "m.pt", model, vocab, config or {})


def test_load_checkpoint_detects_corrupted_weight_bytes(tmp_path):
    model = nn.Linear(64, 64)
    path = saved(tmp_path, model)
    raw = bytearray(path.read_bytes())
    at = raw.find(model.weight.detach().numpy().tobytes()[:64])
    assert at > 0
    raw[at + 100 : at + 116] = b"\xff\xff\x7f\x7f" * 4  # one weight becomes 3.4e38
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"m.pt is damaged"):
        train.load_checkpoint(path)


@pytest.mark.parametrize("cut", [0, 10, 200, -30])
def test_load_checkpoint_truncated_file_says_damaged(tmp_path, cut):
    path = saved(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match=r"m.pt is damaged|m.pt is not an nlpbook checkpoint"):
        train.load_checkpoint(path)


def test_load_checkpoint_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        train.load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    "bundle, message",
    [
        ({"format": "nlpbook-checkpoint-1"}, "model_state"),
        (
            {
                "format": "nlpbook-checkpoint-1",
                "model_state": {101: 1},
                "vocab": None,
                "config": {},
            },
            "model_state",
        ),
        (
            {"format": "nlpbook-checkpoint-1", "model_state": {}, "vocab": [1, 2], "config": {}},
            "vocab",
        ),
        (
            {"format": "nlpbook-checkpoint-1", "model_state": {}, "vocab": ["<pad>"], "config": {}},
            "vocab",
        ),
        (
            {"format": "nlpbook-checkpoint-1", "model_state": {}, "vocab": None, "config": []},
            "config",
        ),
    ],
)
def test_load_checkpoint_crafted_bundles_give_clear_errors(tmp_path, bundle, message):
    path = tmp_path / "crafted.pt"
    torch.save(bundle, path)
    with pytest.raises(ValueError, match=rf"crafted.pt.*{message}"):
        train.load_checkpoint(path)


def test_restore_checks_shapes_before_allocating(tmp_path):
    path = saved(tmp_path, LogisticRegression(2), None, {"in_features": 2})
    state, _, config = train.load_checkpoint(path)
    model = train.restore(lambda c: LogisticRegression(c["in_features"]), state, config)
    assert isinstance(model, LogisticRegression)
    assert torch.equal(model.linear.weight, state["linear.weight"])
    # a crafted config: 2e9 inputs would need 8 GB if built before the shape check
    with pytest.raises(ValueError, match=r"shape mismatch.*linear.weight"):
        train.restore(
            lambda c: LogisticRegression(c["in_features"]), state, {"in_features": 2_000_000_000}
        )


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
    import zipfile

    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    with pytest.raises(ValueError, match=r"crafted.pt is damaged or not an nlpbook checkpoint"):
        train.load_checkpoint(path)
