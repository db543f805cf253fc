"""Which genes to build: a gene-id file (`--gene-ids-file`), and N of them by a policy (`--n-genes`).

Policies (`--subset-policy`), as the original MetaSpliceAI builder names them:
  error_total  the N genes with the most base-model errors, FP + FN summed over the donor and acceptor
               streams at the build's threshold and window (the labelling of `labelling.py`); ties go to
               the smaller gene id. Needs the predictions of every candidate gene.
  random       N genes drawn uniformly without replacement, seeded by --seed (the same seed, the same genes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backend import get_backend
from ..errors import GpumetaError, shown
from .annotation import gene_sites
from .labelling import label_stream
from .predictions import gene_tracks
from .rows import site_indices

_ID_COLUMNS = ("gene_id", "gene", "gene_name", "id")


def read_gene_ids(path: str | Path, column: str | None = None, option: str = "--gene-ids-file") -> list[str]:
    """Gene ids from a TSV/CSV (`column`, or the first of gene_id/gene/gene_name/id) or a one-per-line file.

    `option` names the CLI option in messages."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise GpumetaError(f"{option} {path} does not exist: pass a file listing one gene id per line, "
                           "or a TSV/CSV with a gene column")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    separator = next((sep for sep in ("\t", ",") if lines and sep in lines[0]), None)
    if separator is None and column is None:
        ids = lines
    else:
        table = pd.read_csv(path, sep=separator or "\t", dtype=str, keep_default_na=False, comment="#")
        if column is None:
            found = [c for c in _ID_COLUMNS if c in table.columns]
            if not found:
                raise GpumetaError(f"{option} {path}: no column named {' or '.join(_ID_COLUMNS)} (it has "
                                   f"{shown(table.columns)}); name the column with --gene-col")
            column = found[0]
        if column not in table.columns:
            raise GpumetaError(f"{option} {path}: no column {column!r} (it has {shown(table.columns)}); "
                               "fix --gene-col")
        ids = [g.strip() for g in table[column] if g.strip()]
    if not ids:
        raise GpumetaError(f"{option} {path} lists no gene ids")
    return list(dict.fromkeys(ids))


def base_model_errors(gene, frame, threshold: float, window: int, site_convention: str) -> int:
    """FP + FN of the base model on one gene (donor and acceptor streams), from its prediction rows."""
    cpu = get_backend("cpu")
    sites = gene_sites(gene, site_convention)
    donor, acceptor, _ = gene_tracks(gene, frame)
    total = 0
    for site_type, prob in (("donor", donor), ("acceptor", acceptor)):
        counts = label_stream(prob, site_indices(gene, sites.positions(site_type)), threshold, window, cpu).counts
        total += counts["FP"] + counts["FN"]
    return total


def choose_genes(candidates: list[str], n_genes: int, policy: str, seed: int, errors=None) -> list[str]:
    """`n_genes` of `candidates` by `policy`; `errors()` gives {gene_id: FP + FN} (only error_total calls it)."""
    if n_genes > len(candidates):
        raise GpumetaError(f"--n-genes {n_genes} but only {len(candidates)} gene(s) can be built; lower --n-genes "
                           "or drop it to build them all")
    ordered = sorted(candidates)
    if policy == "random":
        picked = np.random.default_rng(seed).choice(len(ordered), size=n_genes, replace=False)
        return sorted(ordered[i] for i in picked)
    counts = errors()
    return sorted(sorted(ordered, key=lambda g: (-counts[g], g))[:n_genes])
