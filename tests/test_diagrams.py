import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from nlpbook import diagrams, plots  # noqa: E402


def _boxes(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]


@pytest.mark.parametrize("chapter", ["01", "02", "03", "04", "05"])
def test_pipeline_strip_draws_every_stage_and_fills_this_chapters(chapter):
    fig = diagrams.pipeline_strip_figure(chapter)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert [t for t in texts if t in diagrams.STAGES] == list(diagrams.STAGES)
    filled = [b for b in _boxes(fig) if b.get_facecolor()[:3] != (0.9333333333333333,) * 3]
    assert len(filled) == len(diagrams.CHAPTER_STAGES[chapter][0])
    assert f"Chapter {chapter}" in fig.axes[0].get_title()
    matplotlib.pyplot.close(fig)


def test_pipeline_alt_names_the_chapters_stages_and_unknown_chapters_fail():
    assert "encoder (LSTM from scratch)" in diagrams.pipeline_alt("02")
    with pytest.raises(ValueError, match="unknown chapter"):
        diagrams.pipeline_strip_figure("09")


def test_pipeline_strip_shows_one_image_with_alt(monkeypatch):
    shown = []
    monkeypatch.setattr(plots, "show", lambda fig, alt: shown.append(alt))
    assert diagrams.pipeline_strip("01") is None
    assert shown == [diagrams.pipeline_alt("01")]


def test_lstm_cell_diagram_draws_four_gates_and_six_equations():
    fig = diagrams.lstm_cell_figure()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(t in ("σ", "tanh") for t in texts) == 5  # three sigmoid gates, the candidate, tanh(c_t)
    assert [t[:3] for t in texts if t[:1] == "(" and ":" in t] == [f"({k})" for k in range(1, 7)]
    assert "forget gate" in diagrams.LSTM_CELL_ALT
    matplotlib.pyplot.close(fig)


def test_esim_diagram_draws_every_stage_with_shapes_and_two_sentences():
    fig = diagrams.esim_architecture_figure()
    texts = [t.get_text() for t in fig.axes[0].texts]
    titles = [t for t in texts if t.split(":")[0].split("\n")[0] in
              ("embedding", "input encoding", "soft alignment", "enhancement", "projection F (ReLU)",
               "average + max", "MLP (tanh)")]
    assert len(titles) == len(diagrams.ESIM_STAGES) == 7
    # two boxes per sentence-wise stage, one shared box where the sentences meet (alignment, MLP)
    assert len(_boxes(fig)) == 2 * 5 + 2
    assert sum("(B, 4H)" in t for t in texts) == 2 and any("logits (B, 3)" in t for t in texts)
    assert "premise" in diagrams.ESIM_ALT and "(B, Ta, Tb)" in diagrams.ESIM_ALT
    matplotlib.pyplot.close(fig)


def test_infill_shift_highlights_the_two_states_that_predict_the_word():
    fig = diagrams.infill_shift_figure()
    filled = [b for b in _boxes(fig) if b.get_facecolor()[:3] != (0.9333333333333333,) * 3]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"f1", "b3", "movie"} <= set(texts) and any("predicts 'movie'" in t for t in texts)
    assert len(filled) == 4  # the word, f1, b3 and the prediction
    matplotlib.pyplot.close(fig)


def test_binary_code_figure_shows_the_signs_as_bits_and_the_score():
    fig = diagrams.binary_code_figure(shown=8)
    texts = [t.get_text() for t in fig.axes[0].texts]
    vector = [float(t) for t in texts[1:9]]
    bits = [t for t in texts if t in ("0", "1")][:8]
    assert bits == [str(int(v > 0)) for v in vector]
    assert any("α log P(w)" in t for t in texts)
    matplotlib.pyplot.close(fig)
