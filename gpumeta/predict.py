"""`gpumeta.predict`: apply any saved model to a dataset and write its probabilities as Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_parquet
from .dataset import load_dataset
from .errors import GpumetaError
from .model import decide, load_model
from .schema import LABELS
from .structure import gene_positions


def predict(model: str | Path, dataset: str | Path, out: str | Path, device: str = "auto",
            overwrite: bool = False) -> pd.DataFrame:
    """Probabilities (prob_neither, prob_donor, prob_acceptor) and the label at the model's tuned thresholds,
    beside the dataset's identifying columns; written atomically to `out` (Parquet) and returned. A model with
    a gene structure (train's default) adds its decoded calls where the rows can be placed in their genes:
    the posteriors decoded_donor / decoded_acceptor and decoded_type (gpumeta.structure; on the builder's
    sampled rows every candidate the base model scores at its hard-negative threshold or above is present).

    An existing `out` is replaced only with `overwrite` (the rule `train` follows for its run directory).
    """
    if Path(out).exists() and not overwrite:
        raise GpumetaError(f"{out}: already exists; use --overwrite to replace it, or choose another --out")
    meta_model = load_model(model, device)
    data = load_dataset(dataset, meta_model.backend, features=meta_model.feature_names, labelled=False)
    proba = meta_model.predict_proba(meta_model.matrix(data))
    frame = data.meta.copy()
    for k, label in enumerate(LABELS):
        frame[f"prob_{label}"] = proba[:, k].astype(np.float32)
    frame["predicted_type"] = np.asarray(LABELS, dtype=object)[decide(proba, meta_model.thresholds)]
    positions, _ = gene_positions(data.gene_codes, data.meta) if "meta" in meta_model.gene_structure else (None, "")
    if positions is not None:
        decoded, posterior = meta_model.decoded_calls(data.gene_codes, positions, proba)
        frame["decoded_donor"] = posterior[:, LABELS.index("donor")].astype(np.float32)
        frame["decoded_acceptor"] = posterior[:, LABELS.index("acceptor")].astype(np.float32)
        frame["decoded_type"] = np.asarray(LABELS, dtype=object)[decoded]
    if (data.y >= 0).all():
        frame["splice_type"] = np.asarray(LABELS, dtype=object)[data.y]
    write_parquet(out, frame)
    return frame
