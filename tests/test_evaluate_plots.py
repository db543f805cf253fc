"""What the evaluation figures show: drawn figures inspected before they are saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpumeta.evaluate import plots
from gpumeta.evaluate.metrics import reliability_bins


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Figures handed to save_figure, kept open for inspection (and still written)."""
    figures = {}

    def keep(fig, out_dir, name, note=None):
        figures[name] = fig
        return tmp_path / f"{name}.png"

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def _separable(n: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice([0, 1, 2], n, p=[0.96, 0.02, 0.02])
    proba = np.full((n, 3), 0.05)
    proba[np.arange(n), y] = 0.9
    return y, proba / proba.sum(axis=1, keepdims=True)


def test_roc_on_log_fpr_keeps_a_perfect_curve_visible(drawn, tmp_path):
    y, perfect = _separable()
    plots.plot_roc_pr(y, perfect, perfect, tmp_path)
    donor = drawn["roc_curves"].axes[1]
    assert donor.get_xscale() == "log"
    negatives = int((y != 1).sum())
    floor = 10 ** np.floor(np.log10(1 / negatives))
    assert donor.get_xlim()[0] == pytest.approx(floor)
    # A perfect ranking reaches TPR 1 at FPR 0: drawn at the axis floor, not dropped from the log axis.
    meta = next(line for line in donor.lines if line.get_label().startswith("meta"))
    x, yy = meta.get_data()
    assert x.min() == pytest.approx(floor) and yy[x == x.min()].max() == 1.0


def test_reliability_shows_rows_per_bin_and_marks_sparse_bins(drawn, tmp_path):
    rng = np.random.default_rng(1)
    prob = np.r_[rng.uniform(0, 0.1, 1000), [0.55, 0.56, 0.57]]  # one bin of 3 rows
    hit = np.r_[np.zeros(1000, bool), [True, True, True]]
    bins = reliability_bins(hit, prob)
    plots.plot_reliability({label: {"before": bins, "after": bins} for label in ("neither", "donor", "acceptor")},
                           tmp_path)
    fig = drawn["calibration"]
    counts = fig.axes[3]  # row 2: rows per bin under the first panel
    heights = sorted(round(p.get_height()) for p in counts.patches)
    assert heights == [3, 3, 1000, 1000] and counts.get_yscale() == "log"
    top = fig.axes[0]
    hollow = [c for c in top.collections if len(c.get_offsets()) and
              np.allclose(c.get_facecolors()[:, :3], 1.0)]
    assert any(np.allclose(c.get_offsets()[:, 1], 1.0) for c in hollow)  # the 3-row bin is hollow


def test_gene_scatter_stacks_identical_points_with_their_count(drawn, tmp_path):
    per_gene = pd.DataFrame({"base_donor_f1": [1.0, 1.0, 1.0, 0.5], "meta_donor_f1": [1.0, 1.0, 1.0, 0.8],
                             "base_acceptor_f1": [0.5, 0.6, np.nan, 1.0], "meta_acceptor_f1": [0.4, 0.6, 0.9, 1.0]})
    plots.plot_gene_f1_scatter(per_gene, tmp_path)
    donor = drawn["gene_f1_scatter"].axes[0]
    same = next(c for c in donor.collections if c.get_label().startswith("same"))
    better = next(c for c in donor.collections if c.get_label().startswith("meta better"))
    # Three genes at (1, 1): one marker with three times the area of a one-gene marker, labelled "3".
    assert len(same.get_offsets()) == 1 and same.get_label() == "same (3)"
    assert same.get_sizes()[0] == pytest.approx(3 * better.get_sizes()[0])
    assert [t.get_text() for t in donor.texts] == ["3"]
    assert donor.get_title() == "donor F1 per gene (4 genes)"


def test_gain_bars_have_an_axis_label(drawn, tmp_path):
    table = pd.DataFrame({"feature": ["a", "b"], **{f"gain_{c}": [2.0, 1.0] for c in ("neither", "donor", "acceptor")}})
    plots.plot_feature_importance(table, tmp_path)
    assert all("gain" in ax.get_xlabel() for ax in drawn["feature_importance"].axes)


def test_figures_are_png_unless_other_formats_are_asked_for(tmp_path):
    plt = plots._pyplot()
    plots.save_figure(plt.subplots()[0], tmp_path, "default")
    with plots.figure_formats(["pdf", "png", "pdf"]):
        plots.save_figure(plt.subplots()[0], tmp_path, "both", note="a note")
        assert plots._formats.get() == ("png", "pdf")
    plots.save_figure(plt.subplots()[0], tmp_path, "after")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "both.pdf", "both.png", "default.png"]
    assert (tmp_path / "both.pdf").read_bytes().startswith(b"%PDF")


def test_shap_scatter_plots_draw_a_stated_sample_of_points(tmp_path, monkeypatch):
    notes = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, out_dir, name, note=None: notes.setdefault(name, note))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    contributions = np.column_stack([X * [1.0, 0.5, 0.1, 0.0], np.full(300, -2.0)])
    plots.plot_shap(contributions, X, ["a", "b", "c", "d"], "donor", tmp_path, top=4, max_points=100,
                    note="test genes")
    plots._pyplot().close("all")
    assert notes["shap_beeswarm_donor"] == notes["shap_dependence_donor"] == "test genes; points: 100 of the 300 rows"
    assert notes["shap_waterfall_donor"] == "test genes"  # one row, not a sample


def test_dependence_colour_is_shaps_strongest_interaction():
    from shap.utils import approximate_interactions

    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 12))
    X[:, 4] = 0.0  # constant: never chosen
    X[rng.random(1000) < 0.2, 9] = np.nan
    for partner in (2, 7, 9):
        values = rng.normal(size=X.shape) * 0.1
        values[:, 0] += X[:, 0] * np.nan_to_num(X[:, partner], nan=3.0)
        chosen = plots.strongest_interaction(values, X, 0)
        assert chosen == partner == approximate_interactions(0, values, X)[0]
