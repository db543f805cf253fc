"""Global feature screening: computed once, on training genes only, and used by every fold and instance.

Drops zero-variance columns and near-duplicates (|Pearson| above a bound, keeping the first in column
order), applies the user's exclude list, and runs the leakage guard: a feature that alone tracks the binary
target (splice vs not) almost perfectly is reported, and dropped only with `auto_exclude_leaky`. The base
scores are never dropped: they are the model's main input and the baseline it is judged against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..errors import GpumetaError
from ..schema import BASE_SCORE_COLUMNS, is_probability_feature
from .config import ScreeningParams


@dataclass
class ScreeningResult:
    features: list[str]
    logit_features: list[str]
    table: pd.DataFrame  # feature, status (used/excluded/flagged), reason, target_pearson, target_spearman

    @property
    def excluded(self) -> dict[str, str]:
        rows = self.table[self.table["status"] == "excluded"]
        return dict(zip(rows["feature"], rows["reason"]))


def read_exclude_file(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise GpumetaError(f"{path}: exclude file not found; give an existing file with one feature name per line "
                           "(a missing file would silently exclude nothing)")
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def _column_ranges(dataset, genes) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the minimum and maximum over these genes' rows, a block at a time (`MetaDataset.blocks`)."""
    xp = dataset.backend.xp
    lo = np.full(len(dataset.feature_names), np.inf)
    hi = np.full(len(dataset.feature_names), -np.inf)
    for _rows, block in dataset.blocks(genes):
        lo = np.minimum(lo, dataset.backend.to_host(xp.min(block, axis=0)))
        hi = np.maximum(hi, dataset.backend.to_host(xp.max(block, axis=0)))
    return lo, hi


def _corr_with(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column with `target`, accumulated in float64 without copying the matrix."""
    t = (target - target.mean()).astype(matrix.dtype)
    mean = matrix.mean(axis=0, dtype=np.float64)
    cov = (t @ matrix).astype(np.float64)  # the centred target sums to zero, so the column means drop out
    var = np.einsum("ij,ij->j", matrix, matrix, dtype=np.float64) - len(matrix) * mean ** 2
    denom = np.sqrt(np.clip(var, 0, None) * float(t.astype(np.float64) @ t.astype(np.float64)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov / denom, 0.0)


def screen_features(dataset, train_genes, params: ScreeningParams, seed: int) -> ScreeningResult:
    """Screen the dataset's features on a seeded sample of the training genes."""
    names = list(dataset.feature_names)
    reasons: dict[str, str] = {}
    lo, hi = _column_ranges(dataset, train_genes)
    for j, name in enumerate(names):
        if lo[j] == hi[j] and name not in BASE_SCORE_COLUMNS:
            reasons[name] = "zero variance"

    if params.exclude_file:
        for name in read_exclude_file(params.exclude_file):
            if name in names and name not in BASE_SCORE_COLUMNS:
                reasons.setdefault(name, f"listed in {Path(params.exclude_file).name}")

    rng = np.random.default_rng(seed)
    genes = np.asarray(sorted(train_genes), dtype=object)
    sample_genes = rng.choice(genes, size=min(params.sample_genes, len(genes)), replace=False)
    rows = dataset.rows_of(sample_genes)
    if len(rows) > params.sample_rows:
        rows = np.sort(rng.choice(rows, size=params.sample_rows, replace=False))
    sample = dataset.backend.to_host(dataset.take(rows))
    target = (dataset.y[rows] > 0).astype(np.float32)

    pearson = _corr_with(sample, target)
    ranks = np.empty_like(sample)
    for j in range(sample.shape[1]):  # column by column: one extra sample-sized array, not several
        ranks[:, j] = rankdata(sample[:, j])
    spearman = _corr_with(ranks, rankdata(target).astype(np.float32))
    del ranks

    flagged: dict[str, str] = {}
    for j, name in enumerate(names):
        strength = max(abs(pearson[j]), abs(spearman[j]))
        if strength >= params.leakage_corr and name not in reasons:
            why = f"leakage guard: |rho| = {strength:.3f} with splice-vs-not"
            if params.auto_exclude_leaky and name not in BASE_SCORE_COLUMNS:
                reasons[name] = why
            else:
                flagged[name] = why

    kept = [j for j, n in enumerate(names) if n not in reasons]
    std = sample[:, kept].std(axis=0)
    live = [j for j, s in zip(kept, std) if s > 0]
    if len(live) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.corrcoef(sample[:, live], rowvar=False))
        np.fill_diagonal(corr, 0.0)
        dropped: set[int] = set()
        for a in range(len(live)):
            if a in dropped:
                continue
            for b in np.flatnonzero(corr[a, a + 1:] > params.duplicate_corr) + a + 1:
                name = names[live[b]]
                if b not in dropped and name not in BASE_SCORE_COLUMNS:
                    dropped.add(int(b))
                    reasons[name] = f"near duplicate of {names[live[a]]} (|r| = {corr[a, b]:.3f})"

    features = [n for n in names if n not in reasons]
    logit = [n for j, n in enumerate(names) if n in features and is_probability_feature(n)
             and lo[j] >= 0 and hi[j] <= 1]
    table = pd.DataFrame({
        "feature": names,
        "status": ["excluded" if n in reasons else ("flagged" if n in flagged else "used") for n in names],
        "reason": [reasons.get(n, flagged.get(n, "")) for n in names],
        "logit_scale": [n in logit for n in names],
        "target_pearson": np.round(pearson, 6),
        "target_spearman": np.round(spearman, 6),
    })
    return ScreeningResult(features=features, logit_features=logit, table=table)
