import numpy as np
import pytest
import torch

from nlpbook import plots


def test_plot_history_draws_train_and_val_per_metric():
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5, "val_acc": 0.6}
        for e in (1, 2, 3)
    ]
    fig = plots.plot_history(history)
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train", "val"]
    np.testing.assert_allclose(lines[1].get_ydata(), [1.2, 0.6, 0.4])


def test_decision_boundary_draws_points_and_contour():
    X = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 1, 0])
    fig = plots.plot_decision_boundary(lambda p: torch.sigmoid(10 * (p[:, 1] - 0.5)), X, y)
    ax = fig.axes[0]
    assert len(ax.collections) >= 3  # filled contours, boundary, two scatters
    offsets = np.concatenate(
        [c.get_offsets() for c in ax.collections if c.get_offsets().shape[0] == 2]
    )
    assert offsets.shape == (4, 2)


def test_heatmap_checks_label_counts():
    fig = plots.plot_heatmap(np.eye(2, 3), ["a", "b"], ["x", "y", "z"], title="t")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="does not match"):
        plots.plot_heatmap(np.eye(2), ["a"], ["x", "y"])
