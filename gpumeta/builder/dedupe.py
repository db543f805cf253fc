"""`dedupe`: drop duplicate rows of one site (same gene_id + absolute_position by default).

Duplicates come from concatenated builds or from datasets with one row per transcript or per stream
(the original builder). The first occurrence in file order is kept. The input is never modified unless
`inplace=True`, which swaps the new files in atomically (the whole master/ directory of a built
dataset, or the one file). Keys are read first for every file (a few columns), so the whole dataset is
never in memory at once.
"""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..atomic import atomic_dir, atomic_path, write_csv, write_json
from ..dataset import find_parquet_files
from ..errors import GpumetaError

_COUNTED = ("splice_type", "pred_type", "sampling_stratum")


@dataclass
class DedupeResult:
    out: Path
    files: list[Path]
    key: list[str]
    rows_in: int
    rows_out: int

    @property
    def removed(self) -> int:
        return self.rows_in - self.rows_out


def default_key(columns) -> list[str]:
    if "absolute_position" in columns:
        return ["gene_id", "absolute_position"]
    return ["gene_id", "position"]


def _keep_masks(files: list[Path], key: list[str] | None) -> tuple[list[str], list[np.ndarray]]:
    columns = pq.read_schema(files[0]).names
    key = list(key) if key else default_key(columns)
    for path in files:
        names = pq.read_schema(path).names
        missing = [c for c in key if c not in names]
        if missing:
            raise GpumetaError(f"{path}: key column {missing[0]!r} is missing; pass --key with columns it has")
    frames = [pq.read_table(p, columns=key).to_pandas() for p in files]
    duplicated = pd.concat(frames, ignore_index=True).duplicated(keep="first").to_numpy()
    bounds = np.cumsum([0] + [len(f) for f in frames])
    return key, [~duplicated[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def dedupe(dataset: str | Path, out: str | Path | None = None, inplace: bool = False,
           key: list[str] | None = None) -> DedupeResult:
    """Write `dataset` without duplicate rows to `out` (a dataset directory), or in place."""
    dataset = Path(dataset)
    if inplace == (out is not None):
        raise GpumetaError("pass exactly one of --out NEW or --inplace")
    files = find_parquet_files(dataset)
    if out is not None and Path(out).resolve() == dataset.resolve():
        raise GpumetaError(f"--out {out} is the input dataset; use --inplace to replace it")
    key, masks = _keep_masks(files, key)
    rows_in = sum(len(m) for m in masks)
    rows_out = int(sum(m.sum() for m in masks))
    built = dataset.is_dir() and (dataset / "master").is_dir()

    if inplace and dataset.is_file():
        with atomic_path(dataset) as tmp:
            _write_filtered(files[0], masks[0], tmp)
        return DedupeResult(dataset, [dataset], key, rows_in, rows_out)

    target = dataset if inplace else Path(out)
    if not inplace and target.exists() and any(target.iterdir()):
        raise GpumetaError(f"--out {target} exists and is not empty; choose a new directory")
    data_dir = target / "master" if (built or not inplace) else target
    kept_rows: list[pd.DataFrame] = []
    with atomic_dir(data_dir) as tmp:
        if inplace and not built:
            # A plain directory of Parquet files: keep its other files beside the new ones.
            for item in dataset.iterdir():
                if item.is_file() and item.suffix != ".parquet":
                    shutil.copy2(item, tmp / item.name)
        for path, mask in zip(files, masks):
            _write_filtered(path, mask, tmp / path.name)
            kept_rows.append(_kept_summary(path, mask))
    written = sorted(data_dir.glob("*.parquet"))
    if built:
        _write_sidecars(dataset, target, key, rows_in, rows_out, pd.concat(kept_rows, ignore_index=True))
    return DedupeResult(target, written, key, rows_in, rows_out)


def _write_filtered(source: Path, mask: np.ndarray, dest: Path) -> None:
    import pyarrow as pa

    table = pq.read_table(source)
    pq.write_table(table.filter(pa.array(mask)), dest)


def _kept_summary(path: Path, mask: np.ndarray) -> pd.DataFrame:
    names = pq.read_schema(path).names
    columns = [c for c in ("gene_id", *_COUNTED) if c in names]
    return pq.read_table(path, columns=columns).to_pandas()[mask]


def _write_sidecars(source: Path, target: Path, key: list[str], rows_in: int, rows_out: int,
                    kept: pd.DataFrame) -> None:
    """gene_manifest.csv (n_rows recounted) and dataset_card.json (counts + a dedupe note) of a built dataset."""
    manifest_path = source / "gene_manifest.csv"
    if manifest_path.exists() and "gene_id" in kept:
        manifest = pd.read_csv(manifest_path, dtype={"gene_id": str})
        manifest["n_rows"] = manifest["gene_id"].map(kept["gene_id"].value_counts()).fillna(0).astype(int)
        write_csv(target / "gene_manifest.csv", manifest)
    card_path = source / "dataset_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    counts = card.setdefault("counts", {})
    counts["rows"] = rows_out
    for name in _COUNTED:
        if name in kept:
            counts[name] = {str(k): int(v) for k, v in kept[name].value_counts().sort_index().items()}
    card["dedupe"] = {"key": key, "rows_before": rows_in, "rows_removed": rows_in - rows_out}
    write_json(target / "dataset_card.json", card)
