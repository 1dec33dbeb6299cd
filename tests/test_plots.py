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


def test_plot_history_draws_every_batch_loss_at_its_fraction_of_the_epoch():
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "batch_losses": [3.0, 2.0, 1.0, 0.5]}
        for e in (1, 2)
    ]
    fig = plots.plot_history(history, metrics=("loss",))
    per_batch = fig.axes[0].get_lines()[0]
    assert per_batch.get_label() == "train, per batch"
    np.testing.assert_allclose(per_batch.get_xdata(), [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    np.testing.assert_allclose(per_batch.get_ydata(), [3.0, 2.0, 1.0, 0.5] * 2)
    assert [line.get_label() for line in fig.axes[0].get_lines()][-2:] == ["train", "val"]


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


def test_palette_is_okabe_ito():
    assert plots.PALETTE[:3] == ["#0072B2", "#E69F00", "#009E73"] and len(plots.PALETTE) == 8


def test_show_displays_png_with_alt_in_html_metadata_and_text_and_closes(monkeypatch):
    import base64

    import matplotlib.pyplot as plt
    from IPython import display as ipd

    calls = []
    monkeypatch.setattr(ipd, "display", lambda *a, **kw: calls.append((a, kw)))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plots.show(fig, alt='A line from (0, 0) to (1, 1), "rising"')
    (data,), kw = calls[0]
    assert kw["raw"] is True
    assert kw["metadata"] == {"image/png": {"alt": 'A line from (0, 0) to (1, 1), "rising"'}}
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    assert 'alt="A line from (0, 0) to (1, 1), &quot;rising&quot;"' in data["text/html"]
    assert data["text/html"].startswith('<img src="data:image/png;base64,' + data["image/png"])
    assert data["text/plain"] == '<Figure: A line from (0, 0) to (1, 1), "rising">'
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(ValueError, match="alt"):
        plots.show(plt.figure(), alt=" ")


def test_sigmoid_and_bce_draws_both_panels_and_shades_the_flat_regions():
    z = torch.linspace(-20, 20, 41)
    fig = plots.plot_sigmoid_and_bce(z, torch.sigmoid(z), torch.sigmoid(z) * (1 - torch.sigmoid(z)),
                                     {"exact": z.abs(), "clamped": z.abs().clamp(max=16)}, flat=[(16, 20)])
    left, right = fig.axes
    assert len(left.get_lines()) >= 2 and [line.get_label() for line in right.get_lines()] == ["exact", "clamped"]
    assert right.get_xlabel().startswith("logit") and len(right.patches) == 1


def test_descent_path_draws_contours_and_the_path():
    path = torch.tensor([[0.0, 0.0], [0.5, 0.4], [1.0, 1.0]])
    fig = plots.plot_descent_path(lambda ws: (ws - 1).pow(2).sum(1), path)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0.0, 0.5, 1.0])
    assert ax.get_xlabel() == "w₁" and "after 2 steps" in [line.get_label() for line in ax.get_lines()]


def test_gradient_reach_plots_norm_against_distance():
    fig = plots.plot_gradient_reach({"rnn": torch.tensor([1e-6, 1e-3, 1.0])})
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [2, 1, 0])
    assert fig.axes[0].get_yscale() == "log" and "distance" in fig.axes[0].get_xlabel()


def test_length_histogram_marks_the_cut_and_the_share_beyond_it():
    fig = plots.plot_length_histogram([10, 20, 200, 300], cut=128, bins=4)
    ax = fig.axes[0]
    assert ax.get_lines()[0].get_xdata()[0] == 128 and "50.0% are longer" in ax.get_legend().texts[0].get_text()
    assert ax.get_ylabel() == "reviews"


def test_word_weights_draws_one_bar_per_word_sorted():
    fig = plots.plot_word_weights(["bad", "great", "ok"], torch.tensor([-2.0, 3.0, 0.5]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bad", "ok", "great"]
    assert len(ax.patches) == 3


def test_loss_curves_one_line_per_name_from_step_one():
    fig = plots.plot_loss_curves({"a": [3, 2, 1], "b": [3, 2, 1.5]}, logx=True)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"] and list(lines[0].get_xdata()) == [1, 2, 3]
    assert fig.axes[0].get_xscale() == "log"


def test_confusion_annotates_counts_and_row_fractions():
    fig = plots.plot_confusion([[8, 2, 0], [1, 6, 3], [0, 0, 5]], ["e", "n", "c"])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and texts[0] == "8\n0.80" and texts[8] == "5\n1.00"
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "gold label"
    with pytest.raises(ValueError, match="labels"):
        plots.plot_confusion([[1, 2], [3, 4]], ["e", "n", "c"])


def test_alignments_one_heatmap_per_pair_with_its_words():
    panels = [(torch.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"], "entailment"),
              (torch.eye(2), ["a", "b"], ["x", "y"], "neutral")]
    fig = plots.plot_alignments(panels)
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heatmaps] == ["entailment", "neutral"]
    assert [t.get_text() for t in heatmaps[1].get_xticklabels()] == ["x", "y"]
    assert heatmaps[0].get_xlabel() == "hypothesis word" and heatmaps[0].get_ylabel() == "premise word"


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_packed_batch_draws_every_padded_cell_and_every_packed_row():
    from torch.nn.utils.rnn import pack_padded_sequence

    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [1, 2, 3, 4]])
    lengths = torch.tensor([3, 2, 4])
    packed = pack_padded_sequence(ids, lengths, batch_first=True, enforce_sorted=False)
    fig = plots.plot_packed_batch(ids, lengths, packed.batch_sizes, packed.sorted_indices)
    left, right = fig.axes
    assert len(left.patches) == 12 and len(right.patches) == 9  # B x T cells; one per real token
    cells = [t.get_text() for t in right.texts if t.get_position()[1] < 3]  # below the batch_sizes row
    sizes = [t.get_text() for t in right.texts if t.get_position()[1] > 3]
    assert cells == [str(k) for k in range(9)] and sizes == ["3", "3", "2", "1"]
    assert "batch_sizes" in right.get_title() and left.get_xlabel() == "time step t (tokens)"
    _close(fig)


def test_plot_length_buckets_marks_boundaries_and_padding_bars():
    fig = plots.plot_length_buckets([3, 5, 5, 9, 12], [5, 12], {"random": 0.4, "bucketed": 0.02}, cap=12)
    hist, bars = fig.axes
    assert len(hist.lines) == 3  # two boundaries and the cut
    assert [round(p.get_height(), 6) for p in bars.patches] == [40.0, 2.0]
    assert hist.get_xlabel() == "review length (tokens)"
    _close(fig)


def test_plot_prior_weight_draws_a_curve_per_code_and_marks_the_chosen_alpha():
    fig = plots.plot_prior_weight([0, 1, 2], {"a": [0.1, 0.3, 0.2], "b": [0.1, 0.2, 0.25]}, {"a": 1, "b": 2})
    ax = fig.axes[0]
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert [tuple(s.get_xdata()) for s in stars] == [(1,), (2,)]
    assert ax.get_xlabel() == "prior weight alpha"
    _close(fig)


def test_plot_accuracy_by_band_draws_one_bar_per_band_and_model():
    fig = plots.plot_accuracy_by_band(["1-10", "11-100"], {"x": [0.9, 0.4], "y": [0.8, 0.5]}, [10, 20])
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert "(20 blanks)" in ax.get_xticklabels()[1].get_text()
    _close(fig)
