"""Why the meta-model decides as it does: SHAP values and gain, per class.

SHAP values come from ``model.contributions(X)``, in log-odds of each class's one-vs-rest model (for
xgboost: exact TreeSHAP, ``pred_contribs=True``, GPUTreeShap when the model runs on cuda). They are
computed on a seeded sample of genes (every row of each sampled gene, capped at `max_rows` rows), so the
cost is bounded and the sample is reproducible. Every learner computes its own contributions (see
`gpumeta.learners`: native TreeSHAP, LightGBM/CatBoost contributions, exact linear SHAP), on its device;
the `shap` package only draws them (`plots.plot_shap`: beeswarm, dependence, waterfall per class).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import write_csv
from ..schema import LABELS
from . import drawing, plots

#: Row cap of the SHAP sample: exact TreeSHAP costs O(rows × trees × leaves × depth²) (scripts/bench_shap.py).
#: Mean |SHAP| per feature settles long before 20,000 rows: on the issue-10 benchmark model (300 synthetic
#: genes, 142 features, 60 held-out genes) 5,000 rows rank the top 30 features of each class as 20,000 do
#: (Spearman 0.999-1.000, the same top 10; 2,000 rows: 0.997-0.998) for 0.7 s of TreeSHAP instead of 2.8 s.
DEFAULT_MAX_SHAP_ROWS = 5_000


@dataclass(frozen=True)
class ShapSample:
    """SHAP values of a gene sample: `contributions` (3, n, p+1) in LABELS order, last column the bias;
    `X` the host feature matrix (n, p) of the same rows; `genes` the sampled genes."""

    contributions: np.ndarray
    X: np.ndarray
    feature_names: list[str]
    genes: list[str]


def sample_genes(genes, n: int, seed: int = 0) -> np.ndarray:
    """`n` genes drawn without replacement with a seeded generator (all of them when n >= len), sorted."""
    genes = np.sort(np.asarray(genes))
    if n >= len(genes):
        return genes
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(genes, size=n, replace=False))


def compute_shap(model, dataset, shap_genes: int = 200, seed: int = 0,
                 max_rows: int = DEFAULT_MAX_SHAP_ROWS, genes=None) -> ShapSample:
    """SHAP values of the rows of a seeded sample of `shap_genes` of `genes` (default: the dataset's genes);
    only the sample's rows are read (`MetaDataset.take`), from the matrix or from Parquet."""
    genes = sample_genes(dataset.genes if genes is None else genes, shap_genes, seed)
    rows = dataset.rows_of(genes)
    if len(rows) > max_rows:
        rng = np.random.default_rng(seed)
        rows = rows[np.sort(rng.choice(len(rows), size=max_rows, replace=False))]
    X = dataset.take(rows, model.feature_names)
    contributions = np.asarray(model.contributions(X))
    return ShapSample(contributions=contributions, X=dataset.backend.to_host(X),
                      feature_names=list(model.feature_names), genes=[str(g) for g in genes])


def shap_importance(contributions: np.ndarray, feature_names: list[str]) -> pd.DataFrame:
    """Mean |SHAP| per feature per class (bias column dropped), sorted by the mean over classes."""
    p = len(feature_names)
    table = pd.DataFrame({"feature": feature_names})
    for code, label in enumerate(LABELS):
        table[f"mean_abs_shap_{label}"] = np.abs(contributions[code][:, :p]).mean(axis=0)
    order = table[[f"mean_abs_shap_{label}" for label in LABELS]].mean(axis=1).sort_values(ascending=False)
    return table.loc[order.index].reset_index(drop=True)


def importance_table(model, shap_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gain per class (features a learner never used get 0) beside mean |SHAP| when given."""
    gain = model.feature_importance().reindex(list(model.feature_names)).fillna(0.0)
    table = pd.DataFrame({"feature": list(model.feature_names)})
    for label in LABELS:
        table[f"gain_{label}"] = gain[label].to_numpy(dtype=np.float64)
    if shap_table is not None:
        table = table.merge(shap_table, on="feature", how="left")
    order = table[[f"gain_{label}" for label in LABELS]].mean(axis=1).sort_values(ascending=False)
    return table.loc[order.index].reset_index(drop=True)


def explain_model(model, dataset, out_dir: str | Path, plots_dir: str | Path | None = None,
                  shap_genes: int = 200, seed: int = 0, skip_shap: bool = False,
                  max_rows: int = DEFAULT_MAX_SHAP_ROWS, note: str | None = None, genes=None) -> dict[str, Any]:
    """Write shap_importance.csv (unless skip_shap) and feature_importance.csv into out_dir, and the
    importance and SHAP figures (beeswarm, dependence, waterfall per class) into plots_dir when given; SHAP
    on a sample of `genes` (default: the dataset's). Returns what was computed on what.

    The figures are queued (`drawing.draw`): inside a `drawing` block they exist once the caller has waited
    (`drawing.wait_all`) or the block has ended, and the caller computes meanwhile."""
    out_dir = Path(out_dir)
    info: dict[str, Any] = {"shap": None}
    shap_table = None
    if not skip_shap:
        sample = compute_shap(model, dataset, shap_genes=shap_genes, seed=seed, max_rows=max_rows, genes=genes)
        shap_table = shap_importance(sample.contributions, sample.feature_names)
        write_csv(out_dir / "shap_importance.csv", shap_table)
        info["shap"] = {"n_genes": len(sample.genes), "n_rows": int(sample.X.shape[0]), "seed": seed,
                        "genes": sample.genes}
        if plots_dir is not None:
            shap_note = (f"SHAP on {len(sample.genes)} held-out genes ({sample.X.shape[0]} rows, seed {seed})"
                         + (f"; {note}" if note else ""))
            for code, label in enumerate(LABELS):
                drawing.draw(plots.plot_shap, sample.contributions[code], sample.X, sample.feature_names, label,
                             plots_dir, seed=seed, note=shap_note)
    table = importance_table(model, shap_table)
    write_csv(out_dir / "feature_importance.csv", table)
    if plots_dir is not None:
        drawing.draw(plots.plot_feature_importance, table, plots_dir, note="gain: over the training rows"
                     + ("; mean |SHAP|: on the SHAP gene sample" if shap_table is not None else ""))
    return info
