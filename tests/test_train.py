import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nlpbook import train
from nlpbook.models.logreg import LogisticRegression


def quiet_fit(*args, **kwargs):
    """`train.fit` without its progress bars and printed epochs."""
    return train.fit(*args, progress=False, verbose=False, **kwargs)


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
    history = quiet_fit(
        model,
        loader,
        loader,
        nn.BCEWithLogitsLoss(),
        optimizer,
        epochs=15,
        patience=2,
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
    history = quiet_fit(
        model,
        loader,
        loader,
        nn.BCEWithLogitsLoss(),
        optimizer,
        epochs=10,
        patience=3,
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
    history = quiet_fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, epochs=20)
    assert min(r["val_loss"] for r in history) < history[0]["val_loss"]
    assert max(r["val_acc"] for r in history) > 0.8


# ---------------------------------------------------------------- the score hook (issue 19)


def test_score_examples_is_the_default_hook():
    output, labels = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0])
    assert train.score_examples(output, labels) == (2, 3)


def test_run_epoch_weights_loss_and_acc_by_what_score_counts():
    # One example per batch; the hook says the first batch holds 3 scored items, the second 1.
    X = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    y = torch.tensor([1, 1])
    loader = DataLoader(TensorDataset(X, y), batch_size=1)
    counts = iter([(3, 3), (0, 1)])
    model = LogisticRegression()
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
        model.linear.bias.zero_()
    stats = train.evaluate(
        model, loader, nn.BCEWithLogitsLoss(), score=lambda out, labels: next(counts)
    )
    assert stats["n"] == 4 and stats["acc"] == pytest.approx(3 / 4)
    losses = nn.functional.binary_cross_entropy_with_logits(X[:, 0], y.float(), reduction="none")
    assert stats["loss"] == pytest.approx((3 * losses[0] + losses[1]).item() / 4, rel=1e-6)


def test_fit_passes_score_to_training_and_validation():
    X, y = separable_data(n=8)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    calls = []

    def score(output, labels):
        calls.append(len(labels))
        return 0, 2 * len(labels)  # nothing correct, two items per example

    model = LogisticRegression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = quiet_fit(model, loader, loader, nn.BCEWithLogitsLoss(), optimizer, 1, score=score)
    assert calls == [4, 4, 4, 4]  # two training batches, then two validation batches
    assert history[0]["train_acc"] == 0.0 and history[0]["val_acc"] == 0.0


def test_run_epoch_refuses_a_loader_with_nothing_to_score():
    loader = DataLoader(TensorDataset(*separable_data(n=4)), batch_size=2)
    with pytest.raises(ValueError, match="nothing to score"):
        train.evaluate(
            LogisticRegression(), loader, nn.BCEWithLogitsLoss(), score=lambda out, labels: (0, 0)
        )
    with pytest.raises(ValueError, match="nothing to score"):
        train.evaluate(LogisticRegression(), [], nn.BCEWithLogitsLoss())


def test_the_checkpoint_functions_left_train():
    # issue 19: one checkpoint pattern, in nlpbook.checkpoints (tests/test_checkpoints.py)
    for name in ("save_checkpoint", "load_checkpoint", "restore", "load_state"):
        assert not hasattr(train, name), name


def test_batch_losses_are_every_batch_in_order_and_fit_keeps_the_training_ones():
    X = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    y = torch.tensor([1, 1, 0, 1])
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    model = LogisticRegression()
    stats = train.evaluate(model, loader, nn.BCEWithLogitsLoss())
    with torch.no_grad():
        expected = [
            nn.functional.binary_cross_entropy_with_logits(model(X[a:b]), y[a:b].float()).item()
            for a, b in ((0, 3), (3, 4))
        ]
    assert stats["batch_losses"] == pytest.approx(expected)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = quiet_fit(model, loader, loader, nn.BCEWithLogitsLoss(), optimizer, epochs=2)
    assert [len(row["batch_losses"]) for row in history] == [2, 2]
    assert history[0]["batch_losses"][0] == pytest.approx(expected[0])  # before any step


# ---------------------------------------------------------------- best weights and patience (mutation gaps)


def test_fit_restores_the_best_epochs_weights_after_an_early_stop():
    # One weight w from 0: training on y = 10 moves it 0 -> 1 -> 1.9 -> 2.71 -> 3.439 -> 4.0951
    # (SGD, lr 0.05 on (w - 10)^2), while validation wants y = 3: its loss is best at epoch 3
    # (w = 2.71), then worse twice, so patience 2 stops after epoch 5 = best epoch + patience.
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    x = torch.ones(1, 1)
    train_loader = DataLoader(TensorDataset(x, torch.tensor([10.0])), batch_size=1)
    val_loader = DataLoader(TensorDataset(x, torch.tensor([3.0])), batch_size=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = quiet_fit(
        model,
        train_loader,
        val_loader,
        nn.MSELoss(),
        optimizer,
        epochs=10,
        patience=2,
    )  # fmt: skip
    best = min(history, key=lambda r: r["val_loss"])
    assert best["epoch"] == 3 and best["best"]
    assert history[-1]["val_loss"] > best["val_loss"]  # it stopped on a worse epoch
    assert len(history) == best["epoch"] + 2  # best epoch + patience
    assert [r["best"] for r in history] == [True, True, True, False, False]
    # the model holds the best epoch's weights, not the last epoch's
    assert model.weight.item() == pytest.approx(2.71, abs=1e-5)
    again = train.evaluate(model, val_loader, nn.MSELoss())
    assert again["loss"] == pytest.approx(best["val_loss"], rel=1e-6)

    # without patience it runs every epoch, ends on a worse one, and still restores the best
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = quiet_fit(model, train_loader, val_loader, nn.MSELoss(), optimizer, epochs=4)
    assert len(history) == 4 and not history[-1]["best"] and history[2]["best"]
    assert model.weight.item() == pytest.approx(2.71, abs=1e-5)


def scripted_epochs(monkeypatch, val_losses):
    """Make `fit`'s epochs scripted: epoch k sets the model's one weight to k and reports
    `val_losses[k - 1]` as its validation loss."""
    epoch = 0

    def train_epoch(model, *args, **kwargs):
        nonlocal epoch
        epoch += 1
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        return {"loss": 1.0, "acc": 0.5, "n": 1, "seconds": 0.0, "batch_losses": [1.0]}

    def evaluate(model, *args, **kwargs):
        loss = val_losses[epoch - 1]
        return {"loss": loss, "acc": 1.0 / loss, "n": 1, "seconds": 0.0, "batch_losses": [loss]}

    monkeypatch.setattr(train, "train_epoch", train_epoch)
    monkeypatch.setattr(train, "evaluate", evaluate)


def test_fit_patience_counts_epochs_since_the_last_improvement(monkeypatch):
    # improve, worsen, improve, worsen, ...: never 2 epochs in a row without improvement,
    # so patience 2 must not stop it; a counter not reset on improvement would stop at epoch 4.
    val_losses = [5.0, 6.0, 4.0, 5.0, 3.0, 4.0, 2.0, 3.0]
    for monitor in ("val_loss", "val_acc"):  # acc = 1 / loss: the same ups and downs
        scripted_epochs(monkeypatch, val_losses)
        model = nn.Linear(1, 1, bias=False)
        history = quiet_fit(
            model,
            [],
            [],
            nn.MSELoss(),
            None,
            epochs=8,
            patience=2,
            monitor=monitor,
        )  # fmt: skip
        assert len(history) == 8, monitor
        assert [r["best"] for r in history] == [True, False] * 4, monitor
        assert model.weight.item() == 7.0, monitor  # the best epoch's weights

    # and two worse epochs in a row after the last improvement do stop it
    scripted_epochs(monkeypatch, [5.0, 6.0, 4.0, 5.0, 4.5, 1.0])
    model = nn.Linear(1, 1, bias=False)
    history = quiet_fit(model, [], [], nn.MSELoss(), None, epochs=6, patience=2)
    assert len(history) == 5 and model.weight.item() == 3.0


# ---------------------------------------------------------------- non-finite losses


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_fit_before_the_step_that_would_corrupt_the_weights(bad):
    X, y = separable_data(8)
    poisoned = X.clone()
    poisoned[5, 0] = bad  # in the second batch
    loader = [(X[:4], y[:4]), (poisoned[4:], y[4:])]
    torch.manual_seed(0)
    model = LogisticRegression()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    # what the weights are after the clean first batch, and must still be after the error
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=0.1)
    train.train_epoch(reference, loader[:1], nn.BCEWithLogitsLoss(), reference_optimizer)
    with pytest.raises(
        FloatingPointError,
        match=r"epoch 1: the training loss is (nan|inf) at batch 2; check the inputs and the learning",
    ):
        quiet_fit(model, loader, loader, nn.BCEWithLogitsLoss(), optimizer, 3)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.isfinite(p).all() and torch.equal(p, q), name
    with pytest.raises(FloatingPointError, match=r"the evaluation loss is (nan|inf) at batch 2"):
        train.evaluate(model, loader, nn.BCEWithLogitsLoss())


# ---------------------------------------------------------------- the ESIM released code's schedule


def recorded_epochs(monkeypatch, val_losses):
    """Scripted epochs (as `scripted_epochs`) that also record, at the start of each training
    epoch, the weight the model starts from and the optimizer's learning rate."""
    seen, epoch = [], 0

    def train_epoch(model, loader, loss_fn, optimizer, *args, **kwargs):
        nonlocal epoch
        epoch += 1
        seen.append((model.weight.item(), optimizer.param_groups[0]["lr"]))
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        return {"loss": 1.0, "acc": 0.5, "n": 1, "seconds": 0.0, "batch_losses": [1.0]}

    def evaluate(model, *args, **kwargs):
        loss = val_losses[epoch - 1]
        return {"loss": loss, "acc": 1.0 / loss, "n": 1, "seconds": 0.0, "batch_losses": [loss]}

    monkeypatch.setattr(train, "train_epoch", train_epoch)
    monkeypatch.setattr(train, "evaluate", evaluate)
    return seen


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_halve_on_plateau_reloads_the_best_weights_halves_the_rate_and_stops(monkeypatch, monitor):
    # best, best, worse (reload epoch 2's weights, lr 1 -> 0.5), best, worse (reload epoch 4's,
    # 0.5 -> 0.25), worse: the third epoch without improvement stops it (stop_after=3).
    seen = recorded_epochs(monkeypatch, [5.0, 4.0, 6.0, 3.0, 7.0, 8.0, 1.0, 1.0])
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    history = quiet_fit(
        model,
        [],
        [],
        nn.MSELoss(),
        optimizer,
        epochs=8,
        monitor=monitor,
        on_plateau=train.HalveOnPlateau(stop_after=3),
    )  # fmt: skip
    assert len(history) == 6
    assert [r["best"] for r in history] == [True, True, False, True, False, False]
    assert [w for w, _ in seen] == [0.0, 1.0, 2.0, 2.0, 4.0, 4.0]  # each plateau reloads the best
    assert [r["lr"] for r in history] == [lr for _, lr in seen] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert optimizer.param_groups[0]["lr"] == 0.25  # the stopping plateau halves nothing more
    assert model.weight.item() == 4.0


def test_halve_on_plateau_scales_every_group_and_keeps_patience(monkeypatch, capsys):
    seen = recorded_epochs(monkeypatch, [5.0, 6.0, 7.0, 1.0])
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    extra = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam(
        [{"params": model.parameters()}, {"params": [extra], "lr": 0.4}], lr=0.1
    )
    history = train.fit(
        model, [], [], nn.MSELoss(), optimizer, epochs=4, patience=2, progress=False,
        on_plateau=train.HalveOnPlateau(factor=0.25),
    )  # fmt: skip
    assert len(history) == 3  # patience 2 stops before the schedule's 8th plateau
    assert [g["lr"] for g in optimizer.param_groups] == [0.1 / 16, 0.4 / 16]
    assert [w for w, _ in seen] == [0.0, 1.0, 1.0]
    lines = capsys.readouterr().out.splitlines()
    assert "lr 1.00e-01  *" in lines[0] and lines[2].endswith("lr 2.50e-02")


def test_fit_without_a_schedule_keeps_its_rows_and_printout(monkeypatch, capsys):
    recorded_epochs(monkeypatch, [5.0, 6.0, 7.0])
    model = nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train.fit(model, [], [], nn.MSELoss(), optimizer, epochs=3, progress=False)
    assert all("lr" not in row for row in history) and optimizer.param_groups[0]["lr"] == 1.0
    assert "lr" not in capsys.readouterr().out
    assert model.weight.item() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1.0}, r"factor must lie in \(0, 1\), not 1.0"),
        ({"factor": 0.0}, r"factor must lie in \(0, 1\), not 0.0"),
        ({"stop_after": 0}, "stop_after must be a positive int, not 0"),
        ({"stop_after": 2.5}, "stop_after must be a positive int, not 2.5"),
        ({"stop_after": True}, "stop_after must be a positive int, not True"),
    ],
)
def test_halve_on_plateau_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.HalveOnPlateau(**kwargs)
