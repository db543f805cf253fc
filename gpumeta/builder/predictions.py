"""Base-model predictions: per-nucleotide Parquet files, checked in full before anything is built.

Format (one row per nucleotide of each gene body): gene_id, chrom, strand, position (1-based genomic),
donor_prob, acceptor_prob, neither_prob. Checks, each one line naming the gene/column/value: every
column present; every gene also in the annotation with the same chromosome and strand; each gene body
covered exactly once (every position gene_start..gene_end, no duplicates, nothing outside);
probabilities finite and in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GpumetaError
from .annotation import Gene

PREDICTION_COLUMNS: tuple[str, ...] = ("gene_id", "chrom", "strand", "position",
                                       "donor_prob", "acceptor_prob", "neither_prob")
PROB_COLUMNS: tuple[str, ...] = ("donor_prob", "acceptor_prob", "neither_prob")


def prediction_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else []
    if not files:
        raise GpumetaError(f"predictions {path}: no .parquet files found; pass a directory of prediction Parquet "
                           "files (gene_id, chrom, strand, position, donor_prob, acceptor_prob, neither_prob)")
    return files


class Predictions:
    """A directory (or file) of prediction Parquet, read per batch of genes."""

    def __init__(self, path: str | Path):
        import pyarrow.dataset as ds

        self.path = Path(path)
        self.files = prediction_files(path)
        try:
            self._dataset = ds.dataset([str(f) for f in self.files], format="parquet")
        except Exception as exc:
            raise GpumetaError(f"predictions {self.path}: cannot read as Parquet ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
        missing = [c for c in PREDICTION_COLUMNS if c not in self._dataset.schema.names]
        if missing:
            raise GpumetaError(f"predictions {self.path}: column {missing[0]!r} is missing; "
                               f"expected {', '.join(PREDICTION_COLUMNS)}")

    def gene_ids(self) -> list[str]:
        return sorted(self._coverage()["gene_id"])

    def _coverage(self) -> pd.DataFrame:
        if not hasattr(self, "_coverage_table"):
            table = self._dataset.to_table(columns=["gene_id", "chrom", "strand", "position"])
            self._coverage_table = table.group_by(["gene_id", "chrom", "strand"]).aggregate(
                [("position", "count"), ("position", "count_distinct"), ("position", "min"),
                 ("position", "max")]).to_pandas()
        return self._coverage_table

    def check(self, genes: dict[str, Gene]) -> list[str]:
        """Run every check against the annotation; return the predicted gene ids (sorted)."""
        self._check_probabilities()
        cov = self._coverage()
        by_gene = cov.groupby("gene_id").size()
        if (by_gene > 1).any():
            gene_id = by_gene[by_gene > 1].index[0]
            raise GpumetaError(f"predictions {self.path}: gene {gene_id} appears with several chromosomes/strands; "
                               "one gene must have one chrom and strand")
        for row in cov.itertuples(index=False):
            gene = genes.get(row.gene_id)
            if gene is None:
                raise GpumetaError(f"predictions {self.path}: gene {row.gene_id} is not in the annotation; "
                                   "use the annotation the predictions were made with, or drop that gene")
            if (row.chrom, row.strand) != (gene.chrom, gene.strand):
                raise GpumetaError(f"predictions {self.path}: gene {row.gene_id} is on {row.chrom}{row.strand} there "
                                   f"but {gene.chrom}{gene.strand} in the annotation; use matching inputs")
            counts = (row.position_count, row.position_count_distinct, row.position_min, row.position_max)
            if counts != (gene.length, gene.length, gene.start, gene.end):
                raise GpumetaError(
                    f"predictions {self.path}: gene {row.gene_id} has {row.position_count_distinct} distinct of "
                    f"{row.position_count} positions in {row.position_min}..{row.position_max}, but its body is "
                    f"{gene.start}..{gene.end} ({gene.length} nt); predictions must cover every position of the "
                    "gene body exactly once")
        return sorted(cov["gene_id"])

    def _check_probabilities(self) -> None:
        import pyarrow.compute as pc

        for batch in self._dataset.to_batches(columns=list(PROB_COLUMNS)):
            for name in PROB_COLUMNS:
                col = batch.column(name)
                if col.null_count or not pc.all(pc.is_finite(col)).as_py():
                    raise GpumetaError(f"predictions {self.path}: column {name} has null/NaN/inf values; "
                                       "every probability must be a finite number in [0, 1]")
                lo, hi = pc.min_max(col).values()
                if lo.as_py() < 0 or hi.as_py() > 1:
                    bad = lo.as_py() if lo.as_py() < 0 else hi.as_py()
                    raise GpumetaError(f"predictions {self.path}: column {name} has value {bad} outside [0, 1]; "
                                       "pass probabilities, not logits or percentages")

    def load(self, gene_ids) -> dict[str, pd.DataFrame]:
        """Rows of the given genes, sorted by position, one frame per gene."""
        import pyarrow.dataset as ds

        table = self._dataset.to_table(columns=["gene_id", "position", *PROB_COLUMNS],
                                       filter=ds.field("gene_id").isin(list(gene_ids)))
        table = table.sort_by([("gene_id", "ascending"), ("position", "ascending")])
        frame = table.to_pandas()
        return {gene_id: part for gene_id, part in frame.groupby("gene_id", sort=False)}


def gene_tracks(gene: Gene, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(donor, acceptor, neither) float32 arrays over the gene body in transcript order."""
    step = 1 if gene.strand == "+" else -1
    return tuple(frame[c].to_numpy(np.float32)[::step].copy() for c in ("donor_prob", "acceptor_prob",
                                                                         "neither_prob"))
