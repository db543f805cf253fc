"""Evaluation figures (matplotlib, Agg backend): each saved as PNG, and in the other `figure_formats`, atomically.

Every function takes host arrays or tables, draws one figure, writes ``out_dir/<name>.png`` (plus
``.pdf``/``.svg`` inside a `figure_formats(...)` block that asks for them) and returns the PNG path.
`note` (e.g. "rows are a sample of each gene's nucleotides") is printed under the figure, so a figure
never travels without saying which rows it was computed on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import GpumetaError
from ..schema import LABELS
from .metrics import SITE_TYPES, best_iteration

_COLORS = {"base": "#7f7f7f", "meta": "#1f77b4"}
_MAX_CURVE_POINTS = 2000
#: Formats a figure may be saved in. PNG is always written: report.html embeds it and every plotting
#: function returns its path. PDF costs a second render of every figure (a third of savefig's time).
FIGURE_FORMATS = ("png", "pdf", "svg")
#: Points of a SHAP beeswarm or dependence plot: drawing (and the beeswarm's layout) grows with the points;
#: at 5,000 the nine SHAP figures took ~24 s of an issue-10 run (shared machine). The note says the sample.
SHAP_MAX_POINTS = 2000
_formats: ContextVar[tuple[str, ...]] = ContextVar("figure_formats", default=("png",))


def check_figure_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """`formats` as a tuple with "png" first; GpumetaError naming an unknown format."""
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise GpumetaError(f"figure_formats: {', '.join(map(repr, unknown))} unknown; use any of "
                           f"{', '.join(FIGURE_FORMATS)} (png is always written)")
    return ("png", *dict.fromkeys(f for f in formats if f != "png"))


@contextmanager
def figure_formats(formats: Sequence[str]) -> Iterator[None]:
    """Within the block, `save_figure` writes each figure in `formats` (PNG always)."""
    token = _formats.set(check_figure_formats(formats))
    try:
        yield
    finally:
        _formats.reset(token)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_dir: str | Path, name: str, note: str | None = None) -> Path:
    """Write `fig` as out_dir/name.png and in the block's other `figure_formats` (atomically) with `note`
    under it; close it."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="#444444", ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    else:
        fig.tight_layout()
    for suffix in _formats.get():
        with atomic_path(out_dir / f"{name}.{suffix}") as tmp:
            fig.savefig(tmp, format=suffix, dpi=110)
    plt.close(fig)
    return out_dir / f"{name}.png"


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most _MAX_CURVE_POINTS points of a curve, ends kept (a 10 M-row curve draws no better)."""
    if len(x) <= _MAX_CURVE_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, _MAX_CURVE_POINTS).astype(np.int64))
    return x[keep], y[keep]


def plot_roc_pr(y: np.ndarray, base_proba: np.ndarray, meta_proba: np.ndarray, out_dir: str | Path,
                weights: np.ndarray | None = None, note: str | None = None) -> list[Path]:
    """ROC and precision-recall per class (one panel each), base and meta on the same axis.

    ROC is drawn on a log false-positive-rate axis: splice sites are rare, so every useful operating point
    lies at FPR < 1e-2, where a linear axis presses both curves into the corner (AUC 0.999 vs 1.000 says
    nothing). The axis starts at the power of ten below one false positive; points at FPR 0 sit on it.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    from .metrics import average_precision, roc_auc

    plt = _pyplot()
    paths = []
    for kind in ("roc", "pr"):
        fig, axes = plt.subplots(1, len(LABELS), figsize=(4.2 * len(LABELS), 4.0))
        for code, (ax, label) in enumerate(zip(axes, LABELS)):
            y_bin = np.asarray(y) == code
            if y_bin.all() or not y_bin.any():
                ax.set_title(f"{label}: one class only")
                continue
            negatives = float(np.sum(~y_bin if weights is None else np.asarray(weights)[~y_bin]))
            floor = 10 ** np.floor(np.log10(1.0 / max(negatives, 1.0)))  # below one false positive
            for model, proba in (("base", base_proba), ("meta", meta_proba)):
                score = proba[:, code]
                if kind == "roc":
                    fpr, tpr, _ = roc_curve(y_bin, score, sample_weight=weights)
                    # FPR 0 (sites called before any false positive) is drawn at the axis floor.
                    x, yy = _thin(np.maximum(fpr, floor), tpr)
                    ax.step(x, yy, where="post", color=_COLORS[model],
                            label=f"{model} AUC {roc_auc(y_bin, score, weights):.4f}")
                else:
                    precision, recall, _ = precision_recall_curve(y_bin, score, sample_weight=weights)
                    x, yy = _thin(recall, precision)
                    ax.step(x, yy, where="post", color=_COLORS[model],
                            label=f"{model} AP {average_precision(y_bin, score, weights):.3f}")
            if kind == "roc":
                chance = np.logspace(np.log10(floor), 0, 50)
                ax.plot(chance, chance, ls=":", color="#bbbbbb", label="chance")
                ax.set_xscale("log")
                ax.set(xlabel="false positive rate (log scale)", ylabel="true positive rate", xlim=(floor, 1),
                       ylim=(0, 1.02))
            else:
                ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
            ax.set_title(label)
            ax.legend(loc="lower center" if kind == "roc" else "lower left", fontsize=8)  # where curves are not
        fig.suptitle("ROC curves (log false-positive rate)" if kind == "roc" else "Precision-recall curves")
        paths.append(save_figure(fig, out_dir, f"{kind}_curves", note))
    return paths


#: A reliability bin with fewer rows than this is drawn hollow: its observed frequency is noise.
MIN_BIN_ROWS = 30


def plot_reliability(reliability: Mapping[str, Mapping[str, pd.DataFrame]], out_dir: str | Path,
                     note: str | None = None) -> Path:
    """Reliability diagram per class before and after calibration, with the rows in each bin beneath.

    `reliability[class]["before"|"after"]` is a `metrics.reliability_bins` table. Bins with fewer than
    MIN_BIN_ROWS rows are hollow markers and the row counts are drawn under each panel, so a 3-row bin
    swinging from 0 to 1 is read as the noise it is, not as bad calibration.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(LABELS), figsize=(4.2 * len(LABELS), 5.6), sharex="col",
                             gridspec_kw={"height_ratios": [3, 1]})
    stages = (("before", "#ff7f0e"), ("after", "#1f77b4"))
    for top, bottom, label in zip(axes[0], axes[1], LABELS):
        top.plot([0, 1], [0, 1], ls=":", color="#bbbbbb", label="perfect")
        width = 1.0 / max(len(reliability[label]["after"]), 1)
        for offset, (stage, color) in zip((-0.2, 0.2), stages):
            bins = reliability[label][stage]
            used = bins["weight"] > 0
            dense = used & (bins["weight"] >= MIN_BIN_ROWS)
            top.plot(bins.loc[used, "mean_predicted"], bins.loc[used, "observed"], color=color, lw=1,
                     label=f"{stage} calibration")
            top.scatter(bins.loc[dense, "mean_predicted"], bins.loc[dense, "observed"], color=color, s=25, zorder=3)
            top.scatter(bins.loc[used & ~dense, "mean_predicted"], bins.loc[used & ~dense, "observed"], s=25,
                        facecolors="white", edgecolors=color, zorder=3)
            centers = (bins["bin"] + 0.5 + offset) * width
            bottom.bar(centers[used], bins.loc[used, "weight"], width=0.4 * width, color=color)
        top.scatter([], [], facecolors="white", edgecolors="#555555", label=f"hollow: bin of < {MIN_BIN_ROWS} rows")
        top.set(title=label, ylabel="observed frequency", xlim=(0, 1), ylim=(-0.02, 1.02))
        top.legend(loc="lower right", fontsize=7)  # below the diagonal: empty when calibration is good
        bottom.set_yscale("log")
        bottom.axhline(MIN_BIN_ROWS, color="#999999", ls=":", lw=0.8)
        bottom.set(xlabel="predicted probability", ylabel="rows in bin", xlim=(0, 1))
    fig.suptitle("Reliability diagram (meta-model); bars: rows per probability bin")
    return save_figure(fig, out_dir, "calibration", note)


def plot_learning_curves(curves: Sequence[tuple[str, Mapping[str, Any]]], out_dir: str | Path,
                         metric: str = "logloss", note: str | None = None) -> Path | None:
    """Train vs validation `metric` per boosting round, one panel per class, one line pair per fold;
    a marker at each early-stopping round. None when no curve has both series."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(LABELS), figsize=(4.2 * len(LABELS), 4.0))
    drawn = False
    cmap = plt.get_cmap("tab10")
    for ax, label in zip(axes, LABELS):
        for i, (fold, evals_result) in enumerate(curves):
            per_class = evals_result.get(label) or {}
            train = (per_class.get("train") or {}).get(metric)
            valid = (per_class.get("validation") or {}).get(metric)
            if not train or not valid:
                continue
            drawn = True
            color = cmap(i % 10)
            ax.plot(train, color=color, ls="--", lw=1, label=f"{fold} train")
            ax.plot(valid, color=color, lw=1.3, label=f"{fold} validation")
            at = best_iteration(evals_result, label)
            if at is not None and at < len(valid):
                ax.axvline(at, color=color, ls=":", lw=0.8)
                ax.plot([at], [valid[at]], marker="v", color=color)
        ax.set(title=label, xlabel="boosting round", ylabel=metric)
        if ax.lines:
            ax.legend(fontsize=7)
    if not drawn:
        plt.close(fig)
        return None
    fig.suptitle("Learning curves (dotted line: early-stopping round)")
    return save_figure(fig, out_dir, "learning_curves", note)


def plot_gene_f1_scatter(per_gene: pd.DataFrame, out_dir: str | Path, note: str | None = None) -> Path:
    """Per-gene F1, base (x) vs meta (y), per site type; points above the diagonal improved.

    Genes with the same pair of F1 values (common: small genes score 1.0, 0.5 or 0.667) are one marker
    whose area grows with the number of genes and which is labelled with that number, so no gene hides
    behind another.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(SITE_TYPES), figsize=(4.5 * len(SITE_TYPES), 4.6))
    groups = (("same", "#999999", lambda b, m: b == m), ("meta better", "#2ca02c", lambda b, m: m > b),
              ("meta worse", "#d62728", lambda b, m: m < b))
    for ax, t in zip(axes, SITE_TYPES):
        pairs = per_gene[[f"base_{t}_f1", f"meta_{t}_f1"]].dropna().round(3)
        pairs.columns = ["base", "meta"]
        for name, color, chosen in groups:
            part = pairs[chosen(pairs["base"], pairs["meta"])]
            stacked = part.groupby(["base", "meta"]).size().reset_index(name="genes")
            ax.scatter(stacked["base"], stacked["meta"], s=18 * stacked["genes"], color=color, alpha=0.7,
                       edgecolors="white", linewidths=0.5, label=f"{name} ({len(part)})")
            for _, point in stacked[stacked["genes"] > 1].iterrows():
                ax.annotate(str(int(point["genes"])), (point["base"], point["meta"]), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        ax.plot([0, 1], [0, 1], ls=":", color="#bbbbbb")
        ax.set(title=f"{t} F1 per gene ({len(pairs)} genes)", xlabel="base F1", ylabel="meta F1",
               xlim=(-0.03, 1.05), ylim=(-0.03, 1.05))
        ax.legend(loc="lower right", fontsize=8, title="marker area and label: genes at that point",
                  title_fontsize=7)
    return save_figure(fig, out_dir, "gene_f1_scatter", note)


def plot_feature_importance(importance: pd.DataFrame, out_dir: str | Path, top: int = 20,
                            note: str | None = None) -> Path:
    """Top features per class: gain, and mean |SHAP| where the table has it (feature_importance.csv)."""
    plt = _pyplot()
    measures = [m for m in ("gain", "mean_abs_shap") if f"{m}_{LABELS[0]}" in importance.columns]
    fig, axes = plt.subplots(len(measures), len(LABELS), figsize=(4.6 * len(LABELS), 0.25 * top * len(measures) + 1.5),
                             squeeze=False)
    for row, measure in enumerate(measures):
        for ax, label in zip(axes[row], LABELS):
            column = f"{measure}_{label}"
            best = importance.nlargest(top, column)[::-1]
            ax.barh(best["feature"], best[column], color="#1f77b4" if measure == "gain" else "#9467bd")
            ax.set_title(f"{label}: {'gain' if measure == 'gain' else 'mean |SHAP|'}", fontsize=9)
            ax.set_xlabel("total gain (loss reduction of the splits on the feature)" if measure == "gain"
                          else "mean |SHAP value| (log-odds)", fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
    return save_figure(fig, out_dir, "feature_importance", note)


def _shap_explanation(contributions: np.ndarray, X: np.ndarray, feature_names: Sequence[str]):
    """A `shap.Explanation` of one class from contributions (n, p+1): the last column is the bias."""
    import shap

    phi = np.asarray(contributions, dtype=np.float64)
    p = len(feature_names)
    return shap.Explanation(values=phi[:, :p], base_values=phi[:, p], data=np.asarray(X, dtype=np.float64),
                            feature_names=list(feature_names))


def _binned_abs_correlation(reference: np.ndarray, columns: np.ndarray, rows_per_bin: int) -> np.ndarray:
    """Per column, the sum over consecutive bins of `rows_per_bin` rows of |Pearson r| with `reference`;
    a bin where either side is constant (or NaN) adds nothing."""
    total = np.zeros(columns.shape[1])
    for start in range(0, len(reference), rows_per_bin):
        ref = reference[start:start + rows_per_bin]
        block = columns[start:start + rows_per_bin]
        ref_c = ref - ref.mean()
        block_c = block - block.mean(axis=0)
        varying = (ref.std() > 0) & (block.std(axis=0) > 0)
        if not varying.any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (ref_c @ np.where(varying, block_c, 0.0)) / np.sqrt((ref_c ** 2).sum() * (block_c ** 2).sum(axis=0))
        total[varying] += np.abs(r[varying])
    return total


def strongest_interaction(values: np.ndarray, data: np.ndarray, index: int) -> int:
    """The feature whose value best follows column `index`'s SHAP value among rows of similar `index` value:
    the colour of a dependence plot.

    shap's own `approximate_interactions` rule (rows sorted by the feature, bins of min(n/10, 50) rows, the
    sum of |r| over bins, of the value or of its NaN indicator), computed for every feature at once instead
    of one `np.corrcoef` per feature and bin (~0.25 s per plot at 2,000 rows x 142 features).
    """
    order = np.argsort(data[:, index], kind="stable")
    reference = np.asarray(values[order, index], dtype=np.float64)
    columns = np.asarray(data[order], dtype=np.float64)
    rows_per_bin = max(min(len(order) // 10, 50), 1)
    score = np.maximum(_binned_abs_correlation(reference, columns, rows_per_bin),
                       _binned_abs_correlation(reference, np.isnan(columns).astype(np.float64), rows_per_bin))
    score[index] = -1.0
    return int(np.argmax(score))


def plot_shap(contributions: np.ndarray, X: np.ndarray, feature_names: Sequence[str], label: str,
              out_dir: str | Path, top: int = 20, max_points: int = SHAP_MAX_POINTS, seed: int = 0,
              note: str | None = None) -> dict[str, Path]:
    """The `shap` package's figures of one class, from contributions the learners computed (on device
    where they run): a beeswarm of the `top` features, the dependence of the top feature's SHAP value on
    its value (coloured by its strongest interaction, `strongest_interaction`), and a waterfall of the
    sample's highest-scoring row for the class (the site the model is surest of).

    `contributions` is (n, p+1) for this class, in log-odds, the last column the bias; rows beyond
    `max_points` are a seeded sample (beeswarm and dependence; their note says so). Returns {figure name:
    PNG path}.
    """
    import shap

    plt = _pyplot()
    explanation = _shap_explanation(contributions, X, feature_names)
    site = int(np.argmax(explanation.values.sum(axis=1) + explanation.base_values))
    sampled_note = note
    if len(explanation.values) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(explanation.values), max_points, replace=False))
        explanation = explanation[rows]
        sampled_note = (f"{note}; " if note else "") + f"points: {max_points:,} of the {len(contributions):,} rows"
    top_feature = int(np.argmax(np.abs(explanation.values).mean(axis=0)))
    figures = {}

    shap.plots.beeswarm(explanation, max_display=top, show=False, plot_size=(7.5, 0.32 * min(top, len(
        feature_names)) + 1.6))
    plt.gca().set_title(f"SHAP summary: {label} (log-odds of {label} vs rest)", fontsize=9)
    figures[f"shap_beeswarm_{label}"] = save_figure(plt.gcf(), out_dir, f"shap_beeswarm_{label}", sampled_note)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    partner = strongest_interaction(explanation.values, explanation.data, top_feature)
    shap.plots.scatter(explanation[:, top_feature], color=explanation[:, partner], ax=ax, show=False)
    ax.set_title(f"SHAP dependence of {label} on its top feature, {feature_names[top_feature]}", fontsize=9)
    figures[f"shap_dependence_{label}"] = save_figure(fig, out_dir, f"shap_dependence_{label}", sampled_note)

    full = _shap_explanation(contributions, X, feature_names)
    shap.plots.waterfall(full[site], max_display=min(top, 12), show=False)
    plt.gcf().set_size_inches(7.5, 5.5)
    plt.gca().set_title(f"{label}: the sample's highest-scoring row (log-odds)", fontsize=9)
    figures[f"shap_waterfall_{label}"] = save_figure(plt.gcf(), out_dir, f"shap_waterfall_{label}", note)
    return figures
