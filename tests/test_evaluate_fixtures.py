"""Real data for the evaluation tests: a Parquet dataset with a planted error signal, and a real MetaModel.

The dataset: per gene, true donors and acceptors with high base scores, easy negatives with low scores,
and base-model donor false positives (neither rows, and most acceptors, with a donor score like true
donors'). The feature `planted_fp_flag` is 1 exactly on those false positives (plus 1 % noise flips), so a
meta-model learns to fix them with it: SHAP and gain must both rank it first for the donor class.
Importable helpers only (no tests here); named test_evaluate_* to sit among the evaluation tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpumeta.atomic import write_json, write_parquet
from gpumeta.dataset import load_dataset
from gpumeta.evaluate.metrics import best_f1_threshold
from gpumeta.learners import get_algorithm
from gpumeta.model import MetaModel

ROWS_PER_GENE = 120


def make_frame(n_genes: int, seed: int, gene_prefix: str = "G") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(n_genes):
        n = ROWS_PER_GENE
        kind = rng.choice(["donor", "acceptor", "easy", "fp"], size=n, p=[0.16, 0.16, 0.08, 0.60])
        label = np.where(kind == "fp", "neither", np.where(kind == "easy", "neither", kind))
        # Base donor false positives: the "fp" rows and most acceptors get a donor score like true donors.
        donor_fp = (kind == "fp") | ((kind == "acceptor") & (rng.random(n) < 0.8))
        donor = np.where((kind == "donor") | donor_fp, rng.uniform(0.55, 0.99, n), rng.uniform(0, 0.05, n))
        acceptor = np.where(kind == "acceptor", rng.uniform(0.3, 0.99, n), rng.uniform(0, 0.05, n))
        total = donor + acceptor
        donor, acceptor = np.where(total > 1, donor / total, donor), np.where(total > 1, acceptor / total, acceptor)
        neither = np.clip(1.0 - donor - acceptor, 0.0, 1.0)
        flag = donor_fp.astype(np.float32)
        flip = rng.random(n) < 0.01
        flag[flip] = 1.0 - flag[flip]
        frames.append(pd.DataFrame({
            "gene_id": f"{gene_prefix}{g:03d}", "position": np.arange(n), "splice_type": label,
            "neither_score": neither.astype(np.float32), "donor_score": donor.astype(np.float32),
            "acceptor_score": acceptor.astype(np.float32), "planted_fp_flag": flag,
            "noise_a": rng.normal(size=n).astype(np.float32), "noise_b": rng.random(n).astype(np.float32),
            "inclusion_prob": np.where(kind == "easy", 0.25, 1.0),
        }))
    return pd.concat(frames, ignore_index=True)


def write_dataset(directory: Path, frame: pd.DataFrame, all_positions: bool = False) -> Path:
    write_parquet(directory / "master" / "batch_00001.parquet", frame)
    if all_positions:
        write_json(directory / "dataset_card.json", {"all_positions": True})
    return directory


def train_model(dataset, training_genes: list[str], rounds: int = 40) -> MetaModel:
    """Three real one-vs-rest boosters on the training genes, validation on a few of them."""
    train_rows = np.isin(dataset.gene_ids, training_genes)
    valid_genes = training_genes[: max(1, len(training_genes) // 5)]
    valid_rows = np.isin(dataset.gene_ids, valid_genes)
    fit_rows = train_rows & ~valid_rows
    X = np.asarray(dataset.X)
    learner = get_algorithm("xgboost", {"n_estimators": rounds, "early_stopping_rounds": 10, "max_depth": 3,
                                        "learning_rate": 0.3, "subsample": 1.0, "colsample_bytree": 1.0})
    learners = learner.fit_one_vs_rest(dataset.backend, X, dataset.y, np.flatnonzero(fit_rows),
                                       np.flatnonzero(valid_rows), [], seed=0, nthread=1)
    model = MetaModel(learners=learners, feature_names=list(dataset.feature_names), logit_features=[],
                      algorithm=learner.name, algorithm_params=learner.get_params(),
                      training_genes=list(training_genes), backend=dataset.backend)
    train = dataset.subset(train_rows)
    meta = model.predict_proba(X[train_rows])
    model.thresholds = {t: best_f1_threshold(train.y == k, meta[:, k]) for k, t in ((1, "donor"), (2, "acceptor"))}
    model.base_thresholds = {t: best_f1_threshold(train.y == k, train.base_proba[:, k])
                             for k, t in ((1, "donor"), (2, "acceptor"))}
    return model


def build_case(tmp: Path, n_genes: int = 40, n_train: int = 30):
    """(dataset, model, test_genes) on a fresh dataset under tmp."""
    dataset = load_dataset(write_dataset(tmp / "ds", make_frame(n_genes, seed=1)), device="cpu")
    genes = [str(g) for g in dataset.genes]
    model = train_model(dataset, genes[:n_train])
    return dataset, model, genes[n_train:]
