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


def predict(model: str | Path, dataset: str | Path, out: str | Path, device: str = "auto",
            overwrite: bool = False) -> pd.DataFrame:
    """Probabilities (prob_neither, prob_donor, prob_acceptor) and the label at the model's tuned thresholds,
    beside the dataset's identifying columns; written atomically to `out` (Parquet) and returned.

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
    if (data.y >= 0).all():
        frame["splice_type"] = np.asarray(LABELS, dtype=object)[data.y]
    write_parquet(out, frame)
    return frame
