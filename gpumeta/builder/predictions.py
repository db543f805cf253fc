"""Base-model predictions: per-nucleotide Parquet files, checked in full before anything is built.

Format (one row per nucleotide of each gene body): gene_id, chrom, strand, position (1-based genomic),
donor_prob, acceptor_prob, neither_prob. Checks, each one line naming the file, gene, column and value:
every file readable Parquet with every column, of a usable type (text ids, integer positions, numeric
probabilities), no missing values; probabilities finite and in [0, 1]; every gene also in the annotation
with the same chromosome and strand; each gene body covered exactly once (no position outside
gene_start..gene_end, none duplicated, none missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

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


#: What each column must hold: (arrow type test, description for the message).
_COLUMN_TYPES = {
    "gene_id": ("string", "text (gene ids)"), "chrom": ("string", "text (chromosome names)"),
    "strand": ("string", "text (+ or -)"), "position": ("integer", "integers (1-based genomic positions)"),
    **{name: ("number", "numbers (probabilities in [0, 1])") for name in PROB_COLUMNS},
}


def _type_ok(arrow_type, kind: str) -> bool:
    import pyarrow.types as pt

    if pt.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if kind == "string":
        return pt.is_string(arrow_type) or pt.is_large_string(arrow_type)
    if kind == "integer":
        return pt.is_integer(arrow_type)
    return pt.is_integer(arrow_type) or pt.is_floating(arrow_type)


class Predictions:
    """A directory (or file) of prediction Parquet, read per batch of genes."""

    def __init__(self, path: str | Path):
        import pyarrow.dataset as ds

        self.path = Path(path)
        self.files = prediction_files(path)
        for file in self.files:
            self._check_schema(file)
        try:
            self._dataset = ds.dataset([str(f) for f in self.files], format="parquet")
            # The same files with the text keys read as dictionaries, for the passes over every row
            # (coverage, value checks): a tenth of the time of a Python-visible string per row.
            keys_as_codes = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(
                dictionary_columns=["gene_id", "chrom", "strand"]))
            self._coded = ds.dataset([str(f) for f in self.files], format=keys_as_codes)
        except Exception as exc:
            raise GpumetaError(f"predictions {self.path}: cannot read as Parquet ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc

    @staticmethod
    def _check_schema(file: Path) -> None:
        """Every column present, of the type its contents need (each file: a dataset takes the first's)."""
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(file)
        except Exception as exc:
            raise GpumetaError(f"predictions {file}: not a readable Parquet file ({type(exc).__name__}); "
                               "rewrite it, or remove it from the predictions directory") from exc
        missing = [c for c in PREDICTION_COLUMNS if c not in schema.names]
        if missing:
            raise GpumetaError(f"predictions {file}: column {missing[0]!r} is missing; "
                               f"expected {', '.join(PREDICTION_COLUMNS)}")
        for name, (kind, holds) in _COLUMN_TYPES.items():
            arrow_type = schema.field(name).type
            if not _type_ok(arrow_type, kind):
                raise GpumetaError(f"predictions {file}: column {name!r} has type {arrow_type}; it must hold "
                                   f"{holds}: rewrite the file with that type")

    def gene_ids(self) -> list[str]:
        return sorted(self.coverage()["gene_id"])

    def coverage(self) -> pd.DataFrame:
        """One row per (gene, chrom, strand): position count, distinct count, min and max (cached)."""
        if not hasattr(self, "_coverage_table"):
            self._coverage_table = position_coverage(
                self._coded.to_table(columns=["gene_id", "chrom", "strand", "position"]))
        return self._coverage_table

    def rows_of(self, gene_ids) -> pa.Table:
        """gene_id, position and the three probabilities of every row of `gene_ids` (in no set order).

        Only the Parquet row groups that hold those genes are read, and a row group read for one batch of
        genes stays decoded, its rows grouped by gene, while the next batch needs it: batches in genome
        order read each row group about once where files or row groups follow the genes (the SpliceAI
        runner writes a file per batch; a large file has row groups of up to 1 Mi rows), so a genome
        batch by batch costs one pass, not one per batch. Memory: the row groups of one batch.
        """
        wanted = list(dict.fromkeys(gene_ids))
        needed = [key for key, genes in enumerate(self._row_group_genes()) if not genes.isdisjoint(wanted)]
        self._decoded = {key: self._decoded.get(key) or self._decode(key) for key in needed}
        parts = []
        for table, spans in self._decoded.values():
            for gene in wanted:
                if gene in spans:
                    start, stop = spans[gene]
                    parts.append(table.slice(start, stop - start))
        columns = ["gene_id", "position", *PROB_COLUMNS]
        if not parts:
            return pa.table({c: pa.array([], self._dataset.schema.field(c).type) for c in columns})
        return pa.concat_tables(parts)

    def _row_group_genes(self) -> list[set[str]]:
        """Per row group (files in order): the gene ids it holds (one pass over gene_id, cached)."""
        import pyarrow.compute as pc

        if not hasattr(self, "_genes_per_row_group"):
            self._row_groups, self._genes_per_row_group, self._decoded = [], [], {}
            for file in self._coded.get_fragments():
                for row_group in file.split_by_row_group():
                    ids = row_group.to_table(columns=["gene_id"]).column("gene_id").combine_chunks()
                    present = (ids.dictionary.take(pc.unique(ids.indices)) if pa.types.is_dictionary(ids.type)
                               else pc.unique(ids))
                    self._row_groups.append(row_group)
                    self._genes_per_row_group.append(set(present.to_pylist()))
        return self._genes_per_row_group

    def _decode(self, key: int) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
        """One row group's rows sorted by gene (stable), and each gene's (start, stop) in them."""
        table = self._row_groups[key].to_table(columns=["gene_id", "position", *PROB_COLUMNS])
        genes, codes = _sorted_codes(table.column("gene_id"))
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(genes) + 1))
        table = table.take(order).set_column(0, "gene_id", table.column("gene_id").take(order).cast(pa.string()))
        return table, {g: (int(bounds[k]), int(bounds[k + 1])) for k, g in enumerate(genes)}

    def _where(self, gene_id: str) -> str:
        """ "predictions FILE: gene G" naming the first file holding the gene (only called for a message)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        for file in self.files:
            if pc.any(pc.equal(pq.read_table(file, columns=["gene_id"])["gene_id"], gene_id)).as_py():
                return f"predictions {file}: gene {gene_id}"
        return f"predictions {self.path}: gene {gene_id}"

    def check(self, genes: dict[str, Gene]) -> list[str]:
        """Run every check against the annotation; return the predicted gene ids (sorted)."""
        self.check_values()
        cov = self.coverage()
        by_gene = cov.groupby("gene_id").size()
        if (by_gene > 1).any():
            gene_id = by_gene[by_gene > 1].index[0]
            raise GpumetaError(f"{self._where(gene_id)} appears with several "
                               "chromosomes/strands; one gene must have one chrom and strand")
        for row in cov.itertuples(index=False):
            gene, where = genes.get(row.gene_id), self._where
            if gene is None:
                raise GpumetaError(f"{where(row.gene_id)} is not in the annotation; use the annotation the "
                                   "predictions were made with, or drop that gene")
            if (row.chrom, row.strand) != (gene.chrom, gene.strand):
                raise GpumetaError(f"{where(row.gene_id)} is on {row.chrom}{row.strand} there but "
                                   f"{gene.chrom}{gene.strand} in the annotation; use matching inputs")
            body = f"its body {gene.chrom}:{gene.start}-{gene.end}"
            if row.position_min < gene.start or row.position_max > gene.end:
                outside = row.position_min if row.position_min < gene.start else row.position_max
                raise GpumetaError(f"{where(row.gene_id)} has position {outside} outside {body}; predictions "
                                   "must cover the gene body exactly once (the annotation's gene start..end)")
            if row.position_count != row.position_count_distinct:
                positions, counts = np.unique(self._positions(row.gene_id), return_counts=True)
                raise GpumetaError(f"{where(row.gene_id)} has position {positions[counts > 1][0]} "
                                   f"{counts[counts > 1][0]} times ({row.position_count - row.position_count_distinct}"
                                   " duplicate row(s)); predictions must cover every position exactly once")
            if row.position_count_distinct != gene.length:
                missing = np.setdiff1d(np.arange(gene.start, gene.end + 1), self._positions(row.gene_id))
                raise GpumetaError(f"{where(row.gene_id)} lacks {len(missing)} of the {gene.length} positions of "
                                   f"{body} (first {missing[0]}); predictions must cover every position of the "
                                   "gene body")
        return sorted(cov["gene_id"])

    def _positions(self, gene_id: str) -> np.ndarray:
        import pyarrow.dataset as ds

        table = self._dataset.to_table(columns=["position"], filter=ds.field("gene_id") == gene_id)
        return table["position"].to_numpy()

    def check_values(self) -> None:
        """No missing key values; probabilities finite and in [0, 1]."""
        import pyarrow.compute as pc

        for fragment in self._coded.get_fragments():
            file = fragment.path
            for batch in fragment.to_batches(columns=list(PREDICTION_COLUMNS)):
                if batch.num_rows == 0:
                    continue
                for name in PREDICTION_COLUMNS:
                    col = batch.column(name)
                    if col.null_count:
                        raise GpumetaError(f"predictions {file}: column {name} has {col.null_count} missing "
                                           "value(s); every row needs gene_id, chrom, strand, position and the "
                                           "three probabilities")
                for name in PROB_COLUMNS:
                    col = batch.column(name)
                    finite = pc.is_finite(col) if pa.types.is_floating(col.type) else None
                    if finite is not None and not pc.all(finite).as_py():
                        value = pc.filter(col, pc.invert(finite))[0].as_py()
                        raise GpumetaError(f"predictions {file}: column {name} has value {value}; every probability "
                                           "must be a finite number in [0, 1]")
                    lo, hi = pc.min_max(col).values()
                    if lo.as_py() < 0 or hi.as_py() > 1:
                        bad = lo.as_py() if lo.as_py() < 0 else hi.as_py()
                        raise GpumetaError(f"predictions {file}: column {name} has value {bad} outside [0, 1]; "
                                           "pass probabilities, not logits or percentages")

    def load(self, gene_ids) -> dict[str, pd.DataFrame]:
        """Rows of the given genes, sorted by position, one frame per gene."""
        table = self.rows_of(gene_ids).sort_by([("gene_id", "ascending"), ("position", "ascending")])
        frame = table.to_pandas()
        return {gene_id: part for gene_id, part in frame.groupby("gene_id", sort=False)}


def position_coverage(table: pa.Table) -> pd.DataFrame:
    """Per (gene_id, chrom, strand) of `table`: position_count, position_count_distinct, position_min and
    position_max, in order of those keys. Rows with a missing key are left out (`check_values` names them).

    One sort of integer keys (group, position): Arrow's hash `count_distinct` took 0.34 of 0.38 s at 0.9 M
    rows, this about a fifth of that, and the whole pass is run on every prediction row before any work.
    """
    import pyarrow.compute as pc

    keys = ("gene_id", "chrom", "strand")
    valid = pc.and_(pc.and_(pc.is_valid(table["gene_id"]), pc.is_valid(table["chrom"])),
                    pc.and_(pc.is_valid(table["strand"]), pc.is_valid(table["position"])))
    if table.num_rows and not pc.all(valid).as_py():
        table = table.filter(valid)
    names, group = [], np.zeros(table.num_rows, dtype=np.int64)
    for key in keys:  # group code = mixed-radix number of the three keys' codes, each key's values sorted
        values, codes = _sorted_codes(table[key])
        group = group * len(values) + codes
        names.append(values)
    position = table["position"].to_numpy().astype(np.int64)
    columns = ["gene_id", "chrom", "strand", "position_count", "position_count_distinct", "position_min",
               "position_max"]
    if not len(position):
        return pd.DataFrame({c: pd.Series(dtype=object if c in keys else np.int64) for c in columns})
    lowest = int(position.min())
    span = int(position.max()) - lowest + 1
    if int(group.max()) >= np.iinfo(np.int64).max // span:  # the packed key would overflow: sort two keys
        order = np.lexsort((position, group))
        group, position = group[order], position[order]
        same = np.r_[False, (group[1:] == group[:-1]) & (position[1:] == position[:-1])]
    else:
        packed = np.sort(group * span + (position - lowest))
        group, position = packed // span, packed % span + lowest
        same = np.r_[False, packed[1:] == packed[:-1]]
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    count = np.diff(np.r_[first, len(group)])
    code, frame = group[first], {}
    for key, values in zip(keys[::-1], names[::-1]):
        code, index = np.divmod(code, len(values))
        frame[key] = values[index]
    return pd.DataFrame({"gene_id": frame["gene_id"], "chrom": frame["chrom"], "strand": frame["strand"],
                         "position_count": count, "position_count_distinct": count - np.add.reduceat(same, first),
                         "position_min": position[first], "position_max": position[np.r_[first[1:], len(group)] - 1]})


def _sorted_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values sorted, each row's index into them) of a string or dictionary column."""
    import pyarrow.compute as pc

    array = column.combine_chunks()  # one dictionary for every chunk
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    values = array.dictionary.cast(pa.string()).to_numpy(zero_copy_only=False)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return values[order], rank[array.indices.to_numpy()]


def gene_tracks(gene: Gene, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(donor, acceptor, neither) float32 arrays over the gene body in transcript order."""
    step = 1 if gene.strand == "+" else -1
    return tuple(frame[c].to_numpy(np.float32)[::step].copy() for c in ("donor_prob", "acceptor_prob",
                                                                         "neither_prob"))
