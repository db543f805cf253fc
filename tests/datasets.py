"""Small learnable datasets in the original MetaSpliceAI layout, made in tests (no synth dependency).

The base model errs in a way one feature (`motif`) can explain: called sites that are not sites, and
weak true sites the base model misses, both carry the motif; a meta-model learns to fix them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpumeta.atomic import write_parquet


def make_dataset(out: Path, n_genes: int = 60, rows_per_gene: int = 150, seed: int = 0,
                 genes_per_batch: int = 25, extra_columns: dict | None = None, site_rate: float = 0.08,
                 gene_prefix: str = "ENSG") -> Path:
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(n_genes):
        n = rows_per_gene
        y = rng.choice([0, 1, 2], n, p=[1 - 2 * site_rate, site_rate, site_rate])
        err = rng.random(n) < 0.2
        d = np.where(y == 1, 0.85, 0.01) * rng.random(n) ** 0.3
        a = np.where(y == 2, 0.85, 0.01) * rng.random(n) ** 0.3
        d = np.where(err & (y == 0), 0.7, np.where(err & (y == 1), 0.2, d))
        a = np.where(err & (y == 2), 0.2, a)
        rest = np.clip(1 - d - a, 0, 1)
        total = d + a + rest
        frames.append(pd.DataFrame({
            "gene_id": f"{gene_prefix}{g:05d}", "transcript_id": "", "chrom": "1", "strand": "+-"[g % 2],
            "gene_start": g * 1000, "gene_end": g * 1000 + 900, "position": np.arange(n),
            "splice_type": np.array(["neither", "donor", "acceptor"])[y],
            "pred_type": "TN",
            "donor_score": d / total, "acceptor_score": a / total, "neither_score": rest / total,
            "motif": err.astype(float) + rng.normal(0, 0.3, n),
            "3mer_ACG": rng.integers(0, 4, n), "3mer_GTA": rng.integers(0, 4, n),
            "gene_length": 900,
        }))
    table = pd.concat(frames, ignore_index=True)
    for name, values in (extra_columns or {}).items():
        table[name] = values
    genes = table["gene_id"].unique()
    for i, start in enumerate(range(0, n_genes, genes_per_batch)):
        part = table[table["gene_id"].isin(genes[start:start + genes_per_batch])]
        write_parquet(out / "master" / f"batch_{i + 1:05d}.parquet", part)
    return out


#: Quick training settings for tests: small boosters, 3 folds, essentials of the diagnostics only.
FAST = {"n_folds": 3, "booster": {"n_estimators": 40, "early_stopping_rounds": 10}, "shap_genes": 10,
        "skip_shap": True, "minimal_diagnostics": True}
