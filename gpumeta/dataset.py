"""Load and validate datasets of the contract (docs/ARCHITECTURE.md §4).

Accepted layouts: ``DIR/master/*.parquet`` (the original MetaSpliceAI and gpumeta builder layout), a
directory of Parquet files, or one Parquet file. One streaming pass over the files both checks and loads,
so `validate_dataset` (which reports every problem) and `load_dataset` (which stops at the first) apply
exactly the same rules. Input files are only ever opened for reading.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .backend import Backend, device_errors, get_backend
from .errors import GpumetaError, shown
from .schema import (
    BASE_SCORE_COLUMNS,
    GENE_COLUMN,
    LABEL_COLUMN,
    LABELS,
    REQUIRED_COLUMNS,
    is_feature_column,
    label_code,
)

#: Rows per block when work reads a matrix in memory a block at a time (index arrays, never a copy of all rows).
BLOCK_ROWS = 1 << 16
#: Feature bytes per block read from Parquet for a dataset loaded without its matrix: each block is one
#: filtered read (row groups whose gene range misses the block are skipped; the rest are decoded whole), so
#: blocks are about a built file's size, yet a small share of a driver's memory at any dataset size.
PARQUET_BLOCK_BYTES = 1 << 27

#: Metadata kept on the host beside the matrix (free text such as `sequence` is left on disk).
_META_KEEP = ("gene_id", "transcript_id", "position", "absolute_position", "chrom", "strand",
              "gene_start", "gene_end", "pred_type", "sampling_stratum", "inclusion_prob")


def find_parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a dataset path, in a stable order."""
    path = Path(path)
    if not path.exists():
        raise GpumetaError(f"{path}: no such file or directory; give a dataset directory (DIR/master/*.parquet) "
                           "or a Parquet file")
    if path.is_file():
        return [path]
    root = path / "master" if (path / "master").is_dir() else path
    files = sorted(p for p in root.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise GpumetaError(f"{root}: holds no *.parquet files; a dataset is DIR/master/*.parquet, "
                           "a directory of Parquet files, or one Parquet file")
    return files


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def index_columns(schema: pa.Schema) -> set[str]:
    """Columns that hold a pandas index (``__index_level_0__`` or a named index): metadata, never features."""
    pandas_meta = schema.pandas_metadata or {}
    named = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}  # a RangeIndex is a dict
    return named | {name for name in schema.names if name.startswith("__index_level_")}


def feature_columns(schema: pa.Schema) -> list[str]:
    """The columns a model learns from: every column the contract does not reserve, in file order."""
    index = index_columns(schema)
    return [name for name in schema.names if is_feature_column(name) and name not in index]


@dataclass(frozen=True)
class DatasetShape:
    """A dataset's size from its Parquet footers alone (nothing loaded): enough to plan how to train."""

    path: Path
    files: list[Path]
    n_rows: int
    feature_names: list[str]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def dataset_shape(path: str | Path) -> DatasetShape:
    """Rows and feature columns of a dataset, read from the Parquet footers (milliseconds at any size)."""
    files = find_parquet_files(path)
    try:
        schema = pq.read_schema(files[0])
        n_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except Exception as exc:  # pyarrow raises several types for corrupt or foreign files
        raise GpumetaError(f"{path}: not a readable Parquet dataset ({str(exc).splitlines()[0] if str(exc) else ''})"
                           "; run `gpumeta validate` on it") from None
    return DatasetShape(Path(path), files, int(n_rows), feature_columns(schema))


@dataclass
class _Scan:
    """What the streaming pass learned; `problems` holds one line per problem."""

    files: list[Path]
    labelled: bool = True
    schema: pa.Schema | None = None
    problems: list[str] = field(default_factory=list)
    class_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(LABELS), dtype=np.int64))
    n_rows: int = 0


def _read(file: Path, scan: _Scan, genes: Sequence[str] | None = None) -> pa.Table | None:
    try:
        filters = None if genes is None else [(GENE_COLUMN, "in", list(genes))]
        # Schema metadata is dropped: pandas' index metadata must not steer later conversions (cuDF, pandas).
        return pq.read_table(file, filters=filters).replace_schema_metadata(None)
    except Exception as exc:  # pyarrow raises several types for corrupt or foreign files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        scan.problems.append(f"{file}: not a readable Parquet file ({reason}); re-create or remove it")
        return None


def _check_schema(file: Path, schema: pa.Schema, scan: _Scan) -> bool:
    """Contract checks on one file's schema; False when the file's data cannot be checked further."""
    ok = True
    required = [c for c in REQUIRED_COLUMNS if scan.labelled or c != LABEL_COLUMN]
    missing = [c for c in required if c not in schema.names]
    if missing:
        scan.problems.append(f"{file}: missing required column(s) {shown(missing, quote=True)}; a dataset needs "
                             f"{', '.join(required)}")
        ok = False
    for name in feature_columns(schema):
        if not _is_numeric(schema.field(name).type):
            scan.problems.append(f"{file}: feature column {name!r} has type {schema.field(name).type}, not a "
                                 "number; drop or encode it")
            ok = False
    if scan.schema is None:
        scan.schema = schema
    elif schema.names != scan.schema.names:
        first = scan.files[0]
        extra = [c for c in schema.names if c not in scan.schema.names]
        lacking = [c for c in scan.schema.names if c not in schema.names]
        detail = "; ".join(filter(None, [f"extra {shown(extra, quote=True)}" if extra else "",
                                         f"lacks {shown(lacking, quote=True)}" if lacking else "",
                                         "same columns in another order" if not (extra or lacking) else ""]))
        scan.problems.append(f"{file}: columns differ from {first.name} ({detail}); every batch needs one schema")
        ok = False
    else:
        for name in schema.names:
            a, b = schema.field(name).type, scan.schema.field(name).type
            if _is_numeric(a) != _is_numeric(b) or (not _is_numeric(a) and a != b):
                scan.problems.append(f"{file}: column {name!r} is {a} here but {b} in {scan.files[0].name}; "
                                     "every batch needs one schema")
                ok = False
    return ok


def _label_codes(file: Path, column: pa.ChunkedArray, scan: _Scan) -> np.ndarray | None:
    """Labels as 0/1/2 (neither/donor/acceptor); names, upper case and 0/1/2 are all accepted."""
    if column.null_count:
        scan.problems.append(f"{file}: column {LABEL_COLUMN!r} has {column.null_count} null value(s); every row "
                             f"needs one of {', '.join(LABELS)}")
        return None
    uniques = pc.unique(column).to_pylist()
    mapping = {u: label_code(u) for u in uniques}
    unknown = [u for u, code in mapping.items() if code is None]
    if unknown:
        scan.problems.append(f"{file}: column {LABEL_COLUMN!r} has unknown label value(s) "
                             f"{shown(unknown, quote=True)}; use {', '.join(LABELS)} (or 0/1/2)")
        return None
    values = column.to_pandas()
    return values.map(mapping).to_numpy(dtype=np.int8)


def _check_values(file: Path, table: pa.Table, features: Sequence[str], scan: _Scan) -> None:
    if table.column(GENE_COLUMN).null_count:
        scan.problems.append(f"{file}: column {GENE_COLUMN!r} has {table.column(GENE_COLUMN).null_count} null "
                             "value(s); every row needs its gene")
    for name in features:
        col = table.column(name)
        if col.null_count:
            scan.problems.append(f"{file}: column {name!r} has {col.null_count} null/NaN value(s); fill or drop them")
            continue
        if pa.types.is_floating(col.type):
            bad = pc.sum(pc.invert(pc.is_finite(col))).as_py() or 0
            if bad:
                scan.problems.append(f"{file}: column {name!r} has {bad} NaN/inf value(s); fill or drop them")
    for name in BASE_SCORE_COLUMNS:
        col = table.column(name)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            lo, hi = pc.min_max(col).values()
            if lo.as_py() is not None and (lo.as_py() < 0 or hi.as_py() > 1):
                scan.problems.append(f"{file}: column {name!r} holds values outside [0, 1] ({lo.as_py()} .. "
                                     f"{hi.as_py()}); base scores must be probabilities")


def _scan_files(files: list[Path], on_table=None, stop_at_first: bool = False, labelled: bool = True,
                genes: Sequence[str] | None = None) -> _Scan:
    """Check every file against the contract; hand each clean table to `on_table(file, table, labels)`.

    Unlabelled data (`labelled=False`, for prediction) may lack `splice_type`; its labels are then -1.
    `genes` reads only those genes' rows (row groups without them are skipped).
    """
    scan = _Scan(files, labelled)
    for file in files:
        try:
            meta = pq.ParquetFile(file).metadata
        except Exception:
            _read(file, scan)  # records the reason
            if stop_at_first:
                break
            continue
        if meta.num_rows == 0:
            scan.problems.append(f"{file}: has no rows; remove the empty file")
        before = len(scan.problems)
        schema = pq.read_schema(file)
        if _check_schema(file, schema, scan) and meta.num_rows:
            table = _read(file, scan, genes)
            if table is not None and table.num_rows:
                labels = (_label_codes(file, table.column(LABEL_COLUMN), scan)
                          if LABEL_COLUMN in table.column_names
                          else np.full(table.num_rows, -1, dtype=np.int8))
                _check_values(file, table, feature_columns(schema), scan)
                if labels is not None:
                    scan.class_counts += np.bincount(labels[labels >= 0], minlength=len(LABELS))
                if len(scan.problems) == before:
                    scan.n_rows += table.num_rows
                    if on_table is not None:
                        on_table(file, table, labels)
                del table
                # Arrow's allocator keeps freed pages for reuse; hand each file's back so that reading a
                # dataset costs one file of memory beside the matrix, not the whole dataset again.
                pa.default_memory_pool().release_unused()
        if stop_at_first and scan.problems:
            break
    if labelled and genes is None and not scan.problems and scan.class_counts[1:].sum() == 0:
        scan.problems.append(f"{files[0].parent}: no donor or acceptor row in the dataset; a meta-model needs "
                             "splice sites to learn from and to be judged on: add genes that have some")
    return scan


@dataclass
class ValidationReport:
    path: Path
    files: list[Path]
    problems: list[str]
    n_rows: int
    class_counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(path: str | Path) -> ValidationReport:
    """Check a dataset against the contract and report every problem (one line each); reads only."""
    files = find_parquet_files(path)
    scan = _scan_files(files)
    return ValidationReport(Path(path), files, scan.problems, scan.n_rows,
                            dict(zip(LABELS, scan.class_counts.tolist())))


@dataclass
class MetaDataset:
    """A loaded dataset: feature matrix on the backend, labels/genes/base scores/metadata on the host.

    Genes are held as integer codes (`gene_codes`, into the sorted `gene_names`) made once at load, so every
    "rows of these genes" is a table lookup over integers, never a comparison of strings per row.
    `X` is None for a dataset loaded without its matrix (`load_dataset(..., with_matrix=False)`).
    """

    path: Path
    backend: Backend
    X: object
    feature_names: list[str]
    y: np.ndarray
    gene_codes: np.ndarray
    gene_names: np.ndarray
    base_proba: np.ndarray
    meta: pd.DataFrame
    is_sampled: bool
    fingerprint: str
    card: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def gene_ids(self) -> np.ndarray:
        """The gene of every row (host strings)."""
        return self.gene_names[self.gene_codes]

    def rows_per_gene(self) -> dict[str, int]:
        """Rows of every gene present, by gene id."""
        counts = np.bincount(self.gene_codes, minlength=len(self.gene_names))
        present = np.flatnonzero(counts)
        return dict(zip(self.gene_names[present].tolist(), counts[present].tolist()))

    @property
    def genes(self) -> np.ndarray:
        """The genes present, sorted."""
        counts = np.bincount(self.gene_codes, minlength=len(self.gene_names))
        return self.gene_names[counts > 0]

    @property
    def weights(self) -> np.ndarray | None:
        """Inverse inclusion probabilities, so sampled rows stand for the nucleotides they represent."""
        if "inclusion_prob" not in self.meta:
            return None
        return (1.0 / self.meta["inclusion_prob"].to_numpy(dtype=np.float64)).astype(np.float32)

    def subset(self, rows) -> MetaDataset:
        rows = np.asarray(rows)
        index = np.flatnonzero(rows) if rows.dtype == bool else rows
        return replace(self, X=None if self.X is None else self.X[self.backend.asarray(index)], y=self.y[index],
                       gene_codes=self.gene_codes[index], base_proba=self.base_proba[index],
                       meta=self.meta.iloc[index].reset_index(drop=True))

    def gene_mask(self, genes: Iterable[str]) -> np.ndarray:
        """A boolean table over `gene_names`: True for the given genes (unknown ones are ignored)."""
        codes = pd.Index(self.gene_names).get_indexer(list(genes))
        table = np.zeros(len(self.gene_names), dtype=bool)
        table[codes[codes >= 0]] = True
        return table

    def rows_of(self, genes: Iterable[str]) -> np.ndarray:
        """Row indices (host, sorted) of the given genes: one pass over the integer gene codes."""
        return np.flatnonzero(self.gene_mask(genes)[self.gene_codes])

    def feature_index(self, features: Sequence[str] | None) -> np.ndarray | None:
        """Column positions of `features` in this dataset's matrix; None when they are its columns in order.
        Names what is missing (a model trained on features this dataset lacks)."""
        if features is None or list(features) == self.feature_names:
            return None
        position = {f: j for j, f in enumerate(self.feature_names)}
        missing = [f for f in features if f not in position]
        if missing:
            raise GpumetaError(f"{self.path}: lacks feature column(s) {shown(missing)} that the model was trained "
                               "on; build the dataset with the model's feature options")
        return np.asarray([position[f] for f in features], dtype=np.int64)

    def matrix_of(self, genes: Iterable[str], features: Sequence[str] | None = None):
        """The feature matrix of these genes' rows, in `rows_of(genes)` order and `features` order (default:
        the dataset's): sliced from X, or read from the Parquet files when the dataset was loaded without its
        matrix (`with_matrix=False`; its rows must then be whole genes, as every gene-wise selection keeps)."""
        genes = list(genes)
        if self.X is not None:
            return self._columns(self.X[self.backend.asarray(self.rows_of(genes))], features)
        self.feature_index(features)  # names missing columns before any file is read
        part = load_dataset(self.path, self.backend, features=self.feature_names if features is None else features,
                            genes=genes)
        if part.n_rows != len(self.rows_of(genes)):
            raise GpumetaError(f"{self.path}: holds {part.n_rows:,} rows of {len(genes)} gene(s) where this "
                               f"selection has {len(self.rows_of(genes)):,}; a dataset without its matrix can "
                               "only be narrowed by whole genes")
        return part.X

    def blocks(self, genes: Iterable[str], features: Sequence[str] | None = None
               ) -> Iterator[tuple[np.ndarray, object]]:
        """(rows, matrix) blocks covering the rows of `genes`, so work over many rows never copies all of them.

        Rows are sorted within a block. From a matrix in memory: `BLOCK_ROWS` rows at a time, in row order.
        Without one: whole genes read from Parquet, about `PARQUET_BLOCK_BYTES` a block, genes in order of their
        first row (blocks then cover rows in order whenever each gene's rows are contiguous, as built datasets'
        are; `map_blocks` puts any other layout back in row order).
        """
        genes = list(genes)
        if self.X is not None:
            index = self.feature_index(features)
            rows = self.rows_of(genes)
            for start in range(0, len(rows), BLOCK_ROWS):
                part = rows[start:start + BLOCK_ROWS]
                yield part, self._columns(self.X[self.backend.asarray(part)], features, index)
            return
        codes = self.gene_codes[self.rows_of(genes)]
        present, first, counts = np.unique(codes, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        n_features = len(self.feature_names if features is None else features)
        limit = max(1, PARQUET_BLOCK_BYTES // (4 * max(1, n_features)))
        group: list[int] = []
        size = 0
        for code, count in zip(present[order].tolist(), counts[order].tolist()):
            if group and size + count > limit:
                yield self._read_block(group, features)
                group, size = [], 0
            group.append(code)
            size += count
        if group:
            yield self._read_block(group, features)

    def _read_block(self, codes: list[int], features):
        names = self.gene_names[codes].tolist()
        return self.rows_of(names), self.matrix_of(names, features)

    def map_blocks(self, genes: Iterable[str], fn, features: Sequence[str] | None = None) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
        """(rows, fn of their matrix) over the rows of `genes`, a block at a time (`blocks`), in row order:
        `fn` maps a (n, p) matrix to a host array of n rows (e.g. a model's margins)."""
        parts = [(rows, fn(block)) for rows, block in self.blocks(genes, features)]
        if not parts:
            width = len(self.feature_names if features is None else features)
            return np.empty(0, dtype=np.int64), fn(self.backend.empty((0, width), dtype=np.float32))
        rows = np.concatenate([r for r, _ in parts])
        values = np.concatenate([v for _, v in parts])
        order = np.argsort(rows, kind="stable")
        return rows[order], values[order]

    def take(self, rows: np.ndarray, features: Sequence[str] | None = None):
        """The matrix of these rows (sorted row indices), in that order: sliced from X, or gathered block by block
        from Parquet (only the blocks of these rows' genes are read, and only these rows kept)."""
        rows = np.asarray(rows)
        if self.X is not None:
            return self._columns(self.X[self.backend.asarray(rows)], features)
        genes = self.gene_names[np.unique(self.gene_codes[rows])].tolist()
        picked, blocks = [], []
        for block_rows, block in self.blocks(genes, features):
            keep = np.flatnonzero(np.isin(block_rows, rows, assume_unique=True))
            picked.append(block_rows[keep])
            blocks.append(block[self.backend.asarray(keep)])
        order = np.argsort(np.concatenate(picked), kind="stable")
        return self.backend.xp.concatenate(blocks)[self.backend.asarray(order)]

    def _columns(self, matrix, features, index: np.ndarray | None = None):
        """`matrix` (this dataset's columns) in `features` order."""
        index = self.feature_index(features) if index is None else index
        return matrix if index is None else matrix[:, self.backend.asarray(index)]

    def with_features(self, features: Sequence[str], in_place: bool = False) -> MetaDataset:
        """The same rows with only `features`, in that order (no copy when nothing changes).

        `in_place` narrows this dataset itself: on a host matrix the columns are compacted within its buffer and
        the buffer is shrunk (realloc), so the dropped columns' memory goes back at once and no second matrix
        is allocated; a device matrix is copied and the old one released. Without `in_place` the result
        shares this dataset's matrix: a `ColumnSelection` that selects the columns a block of rows at a time.
        """
        features = list(features)
        if features == self.feature_names:
            return self
        if self.X is None:
            return replace(self, feature_names=features)
        index = self.feature_index(features)
        if not in_place:
            return replace(self, X=ColumnSelection.of(self.X, index, self.backend), feature_names=features)
        self.feature_names = features
        if isinstance(self.X, ColumnSelection):
            self.X = ColumnSelection.of(self.X, index, self.backend)
        elif not (isinstance(self.X, np.ndarray) and self.X.flags.c_contiguous and self.X.flags.owndata):
            # A device array (CuPy has no in-place resize) or a view: a copy, and the old buffer goes back to
            # its allocator (the device pool) as this was its last reference.
            self.X = self.X[:, self.backend.asarray(index)]
        else:
            X, self.X = self.X, None  # the only reference left is X's, so numpy lets the buffer shrink
            n, q = X.shape[0], len(index)
            _compact_columns(X, index)
            try:
                X.resize((n, q), refcheck=True)  # realloc to n * q values: the tail goes back to the system
            except ValueError:  # a caller still holds a view of the buffer: it stays whole, X is its head
                X = X.reshape(-1)[:n * q].reshape(n, q)
            self.X = X
        return self

    def without_matrix(self) -> MetaDataset:
        """The same rows' labels, genes, base scores and metadata, without the matrix (nothing copied)."""
        return replace(self, X=None)

    def select_genes(self, genes: Iterable[str]) -> MetaDataset:
        return self.subset(self.rows_of(genes))

    def gene_coordinates(self) -> pd.DataFrame | None:
        """One row per gene (gene_id, chrom, gene_start, gene_end) when the dataset has coordinates."""
        cols = ["gene_id", "chrom", "gene_start", "gene_end"]
        if not all(c in self.meta for c in cols):
            return None
        return self.meta[cols].drop_duplicates("gene_id").reset_index(drop=True)


class ColumnSelection:
    """Columns `index` of a matrix, materialised a block of rows at a time: `view[rows]` is
    `X[rows][:, index]`. Lets several column subsets of one matrix (the splits of a benchmark, each screened on
    its own genes) train without a copy of the matrix each; everything that reads a training matrix indexes
    rows (`X[rows]`, learners' row chunks) and asks its `shape`."""

    def __init__(self, X, index, backend: Backend):
        self.X, self.index, self.backend = X, np.asarray(index, dtype=np.int64), backend
        self._device_index = backend.asarray(self.index)

    @classmethod
    def of(cls, X, index, backend: Backend) -> ColumnSelection:
        """A selection of X, or of the matrix X itself selects from (never a selection of a selection)."""
        if isinstance(X, ColumnSelection):
            return cls(X.X, X.index[index], backend)
        return cls(X, index, backend)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.X.shape[0]), len(self.index)

    @property
    def dtype(self):
        return self.X.dtype

    def __getitem__(self, rows):
        return self.X[rows][:, self._device_index]


def _compact_columns(X, index, block_rows: int = 1 << 15) -> None:
    """Write X[:, index] over the head of X's own buffer, block by block: no second matrix is ever allocated.

    Row i of the result starts at i * len(index) <= i * X.shape[1], so writing block after block never
    overwrites rows not yet read (each block is copied out before its space is reused).
    """
    n, q = X.shape[0], len(index)
    flat = X.reshape(-1)
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        block = X[start:stop].take(index, axis=1)  # C-ordered, so the flat write below copies nothing more
        flat[start * q:stop * q] = block.reshape(-1)
        del block  # before the next block is made: one block's memory at a time


def _fingerprint(files: list[Path]) -> str:
    """Cheap content identity: names, sizes and Parquet footers (row counts, schema, statistics)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
        h.update(pq.ParquetFile(f).metadata.to_dict().__repr__().encode())
    return h.hexdigest()[:16]


def _read_card(path: Path) -> dict:
    card = (path if path.is_dir() else path.parent) / "dataset_card.json"
    try:
        return json.loads(card.read_text()) if card.is_file() else {}
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{card}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or remove it") from None


def load_dataset(path: str | Path, device: str | Backend = "auto",
                 features: Sequence[str] | None = None, labelled: bool = True,
                 genes: Iterable[str] | None = None, with_matrix: bool = True) -> MetaDataset:
    """Load a dataset of the contract; raises GpumetaError on the first problem (see `validate_dataset`).

    `features` picks and orders the feature columns (a trained model passes its own list); columns it names
    that the dataset lacks are an error naming them. `labelled=False` accepts new data without
    `splice_type` (labels -1), for prediction. `genes` loads only those genes' rows (a multi-instance task
    reads its own share from Parquet); `with_matrix=False` loads labels, genes and metadata but no matrix
    (X is None), for planning work over data larger than one device.
    """
    backend = device if isinstance(device, Backend) else get_backend(device)
    path = Path(path)
    files = find_parquet_files(path)
    try:
        schema = pq.read_schema(files[0])
        total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except Exception:
        schema, total = None, None  # an unreadable file: the scan below names it
    if features is None and schema is not None:
        features = feature_columns(schema)
    elif schema is not None:
        missing = [c for c in features if c not in schema.names]
        if missing:
            raise GpumetaError(f"{path}: lacks feature column(s) {shown(missing, quote=True)} that the model was "
                               "trained on; rebuild the dataset with the same feature options")
    features = list(features or [])
    genes = None if genes is None else sorted(set(genes))

    if genes is not None and with_matrix and total is not None:
        # A gene filter's row count from one read of the gene column (row groups outside the genes skipped), so
        # the matrix is allocated once and filled file by file: stacking per-file blocks would hold it twice.
        try:
            total = sum(pq.read_table(f, columns=[GENE_COLUMN], filters=[(GENE_COLUMN, "in", genes)]).num_rows
                        for f in files)
        except Exception:
            total = None  # the scan below names the problem
    preallocate = with_matrix and total is not None  # else per-file blocks, stacked at the end
    with device_errors(f"loading {path} ({total or 0:,} rows x {len(features)} features)"):
        X = backend.empty((total, len(features)), dtype=np.float32) if preallocate else None
    labels, metas, blocks = [], [], []
    offset = 0

    def take(file: Path, table: pa.Table, codes: np.ndarray) -> None:
        nonlocal offset
        if preallocate:
            backend.matrix_from_arrow(table, features, out=X[offset:offset + table.num_rows])
        elif with_matrix:
            blocks.append(backend.matrix_from_arrow(table, features))
        offset += table.num_rows
        labels.append(codes)
        keep = [c for c in (*_META_KEEP, *BASE_SCORE_COLUMNS) if c in table.column_names]
        meta = table.select(keep)
        metas.append(meta.set_column(keep.index(GENE_COLUMN), GENE_COLUMN, meta.column(GENE_COLUMN).cast(pa.string())))

    with device_errors(f"loading {path}"):
        scan = _scan_files(files, on_table=take, stop_at_first=True, labelled=labelled, genes=genes)
        if scan.problems:
            raise GpumetaError(scan.problems[0] + ("; run `gpumeta validate` for every problem"
                                                   if len(files) > 1 else ""))
        if not metas:
            raise GpumetaError(f"{path}: holds none of the {len(genes or [])} requested gene(s) "
                               f"({shown(genes or [], quote=True)}); pick genes of this dataset")
        if blocks:
            X = blocks[0] if len(blocks) == 1 else backend.xp.concatenate(blocks)
            del blocks[:]
    meta_table = pa.concat_tables(metas)
    base_proba = np.column_stack([meta_table.column(c).to_numpy().astype(np.float32) for c in BASE_SCORE_COLUMNS])
    # Categorical strings: a few repeated values per column (chrom, strand, pred_type, gene_id) cost one
    # code per row instead of one Python string per row.
    meta = meta_table.drop_columns(list(BASE_SCORE_COLUMNS)).to_pandas(strings_to_categorical=True)
    # Gene codes index the sorted gene names, so code order is gene order (partitions, splits rely on it).
    gene_codes, gene_names = pd.factorize(meta[GENE_COLUMN], sort=True)
    card = _read_card(path)
    # The original builder always down-sampled negatives; only a card that says otherwise means full rows.
    is_sampled = not bool(card.get("all_positions", False))
    return MetaDataset(path=path, backend=backend, X=X, feature_names=features,
                       y=np.concatenate(labels), gene_codes=gene_codes.astype(np.int32),
                       gene_names=np.asarray(gene_names, dtype=object),
                       base_proba=base_proba, meta=meta, is_sampled=is_sampled,
                       fingerprint=_fingerprint(files), card=card)
