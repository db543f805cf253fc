"""Scoring one batch of regions, column by column over the whole batch.

A batch is held as arrays concatenated region after region, each region in genomic order: rows
`offsets[k]:offsets[k + 1]` are region k, row `offsets[k] + i` its position `start + i`. Base scores come
from the predictions in one read and one sort; selective mode picks the re-scored nucleotides with array
code, so a nucleotide that keeps its base score costs a few array operations and no Python. Only the
features are made region by region (each region has its own sequence, padding and gene structure, and
`builder.rows.features_at` is the one definition build and annotate share); their rows go into one
feature matrix of up to `chunk_rows` rows, predicted in one call when full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..builder.annotation import Gene, gene_sites
from ..builder.sequence import gene_sequence
from ..gating import rescore_mask
from ..progress import Timings
from ..schema import LABELS
from .features import features_at, region_structure

#: Prediction columns (builder.predictions.PROB_COLUMNS) in LABELS order: neither, donor, acceptor.
_LABEL_COLUMNS = tuple(f"{label}_prob" for label in LABELS)


@dataclass
class BatchScores:
    """Base and meta probabilities (n, 3) in LABELS order, float32, of a batch of regions concatenated in
    genomic order (region k is rows offsets[k]:offsets[k + 1]), and which rows the meta-model re-scored."""

    genes: list[Gene]
    offsets: np.ndarray
    base: np.ndarray
    meta: np.ndarray
    rescored: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def region_of_rows(self) -> np.ndarray:
        """Index of each row's region."""
        return np.repeat(np.arange(len(self.genes), dtype=np.int32), self.lengths)

    def positions(self) -> np.ndarray:
        """1-based genomic position of each row."""
        starts = np.array([g.start for g in self.genes], dtype=np.int64)
        return np.repeat(starts - self.offsets[:-1], self.lengths) + np.arange(self.offsets[-1], dtype=np.int64)

    def per_region(self, values: np.ndarray) -> np.ndarray:
        """Sum of `values` (one per row) over each region's rows."""
        return np.add.reduceat(values.astype(np.int64), self.offsets[:-1])


def base_scores(table: pa.Table, genes: list[Gene]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, base probabilities (n, 3) float32 in LABELS order) of `genes` from their prediction rows
    (`Predictions.rows_of`, any order), in the batch layout. `regions.check_coverage` has made sure each
    gene's rows are exactly its body, once each."""
    import pyarrow.compute as pc

    ids = [g.gene_id for g in genes]
    rank = pc.index_in(table.column("gene_id"), value_set=pa.array(ids, pa.string()))
    # One sort by (region, position): positions are below 2**32, so both fit one int64 key.
    key = (rank.to_numpy().astype(np.int64) << 32) | table.column("position").to_numpy().astype(np.int64)
    order = np.argsort(key, kind="stable")
    base = np.empty((len(order), len(LABELS)), dtype=np.float32)
    for k, name in enumerate(_LABEL_COLUMNS):
        base[:, k] = table.column(name).to_numpy().astype(np.float32, copy=False)[order]
    offsets = np.concatenate([[0], np.cumsum([g.length for g in genes])]).astype(np.int64)
    return offsets, base


def score_batch(model, genes: list[Gene], offsets: np.ndarray, base: np.ndarray, genome, params,
                floor: float | None, overlaps: dict, backend, timings: Timings | None = None) -> BatchScores:
    """Meta probabilities of a batch (see `base_scores` for the layout); `floor=None` re-scores every
    nucleotide, else those `rescore_mask` picks. `timings` collects seconds of features and prediction."""
    timings = timings or Timings()
    xp = backend.xp
    rows = _FeatureRows(model, params.chunk_rows, backend, base.copy(), timings)
    rescored = np.zeros(len(base), dtype=bool)
    for k, gene in enumerate(genes):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        step = 1 if gene.strand == "+" else -1  # genomic -> transcript order
        # (donor, acceptor, neither) in transcript order, as the builder's `gene_tracks` gives them.
        tracks = tuple(backend.asarray(np.ascontiguousarray(base[lo:hi, LABELS.index(c)][::step]))
                       for c in ("donor", "acceptor", "neither"))
        if floor is None:
            idx = xp.arange(gene.length)
        else:
            idx = xp.nonzero(rescore_mask(tracks[0], tracks[1], floor, params.context_width, xp))[0]
        if not int(idx.shape[0]):
            continue
        host_idx = backend.to_host(idx)
        target = lo + host_idx if step == 1 else hi - 1 - host_idx  # transcript index -> batch row
        rescored[target] = True
        with timings.measure("features"):
            codes = backend.asarray(gene_sequence(genome, gene, params.flank))
            structure = region_structure(gene, params, overlaps.get(gene.gene_id))
            track_cache: dict = {}
        for start in range(0, len(target), params.chunk_rows):
            part = idx[start: start + params.chunk_rows]
            with timings.measure("features"):
                cols = features_at(tracks, codes, part, gene.length, structure, params, backend, track_cache)
            rows.add(cols, target[start: start + params.chunk_rows])
    return BatchScores(genes, offsets, base, rows.finish(), rescored)


class _FeatureRows:
    """Feature rows of many regions in one (size, features) matrix on the backend's device; when it is
    full, one prediction call writes its rows' probabilities into `meta` (one call per chunk rather
    than per region: each call's thread start-up costs more than a small region's rows)."""

    def __init__(self, model, size: int, backend, meta: np.ndarray, timings: Timings):
        self.model, self.size, self.backend, self.meta, self.timings = model, size, backend, meta, timings
        self.X = None
        self.target = np.empty(size, dtype=np.int64)
        self.n = 0

    def add(self, cols: dict, target: np.ndarray) -> None:
        if self.X is None:
            self.X = self.backend.empty((self.size, len(self.model.feature_names)), dtype=np.float32)
        done = 0
        while done < len(target):
            take = min(len(target) - done, self.size - self.n)
            with self.timings.measure("features"):
                # Columns stacked (contiguous copies), then one transposing copy: 3x faster than writing
                # each column into the row-major matrix with a stride.
                block = self.backend.xp.stack([cols[name][done: done + take] for name in self.model.feature_names])
                self.X[self.n: self.n + take] = block.T
            self.target[self.n: self.n + take] = target[done: done + take]
            self.n, done = self.n + take, done + take
            if self.n == self.size:
                self._predict()

    def _predict(self) -> None:
        if self.n:
            with self.timings.measure("predict"):
                self.meta[self.target[: self.n]] = self.model.predict_proba(self.X[: self.n])
            self.n = 0

    def finish(self) -> np.ndarray:
        self._predict()
        return self.meta


def annotated_types(scores: BatchScores, convention: str) -> np.ndarray:
    """Truth codes (LABELS) of every row of the batch; a nucleotide that is both is a donor, as the
    builder labels it."""
    y = np.zeros(len(scores.base), dtype=np.int8)
    for gene, lo in zip(scores.genes, scores.offsets[:-1].tolist()):
        sites = gene_sites(gene, convention)
        y[lo + sites.acceptor - gene.start] = LABELS.index("acceptor")
        y[lo + sites.donor - gene.start] = LABELS.index("donor")
    return y
