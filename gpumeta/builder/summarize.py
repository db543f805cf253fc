"""`summarize`: what a dataset holds — genes, rows, class balance, TP/FP/FN/TN, strata and nulls.

One streaming pass, one file at a time; only reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..dataset import feature_columns, find_parquet_files

_COUNTED = ("splice_type", "pred_type", "sampling_stratum")


def summarize(dataset: str | Path) -> dict:
    """A JSON-able summary of a dataset (any layout `gpumeta validate` accepts)."""
    files = find_parquet_files(dataset)
    genes: set = set()
    rows = 0
    counts: dict[str, dict[str, int]] = {c: {} for c in _COUNTED}
    nulls: dict[str, int] = {}
    non_finite: dict[str, int] = {}
    schema = None
    for path in files:
        table = pq.read_table(path)
        schema = schema or table.schema
        rows += table.num_rows
        if "gene_id" in table.column_names:
            genes.update(pc.unique(table.column("gene_id")).to_pylist())
        for name in _COUNTED:
            if name in table.column_names:
                for item in pc.value_counts(table.column(name)).to_pylist():
                    key = str(item["values"])
                    counts[name][key] = counts[name].get(key, 0) + int(item["counts"])
        for name in table.column_names:
            column = table.column(name)
            if column.null_count:
                nulls[name] = nulls.get(name, 0) + column.null_count
            if pa.types.is_floating(column.type):
                bad = int(np.count_nonzero(~np.isfinite(column.to_numpy(zero_copy_only=False))))
                if bad:
                    non_finite[name] = non_finite.get(name, 0) + bad
    return {
        "path": str(dataset), "files": len(files), "genes": len(genes), "rows": rows,
        "columns": len(schema.names) if schema is not None else 0,
        "feature_columns": len(feature_columns(schema)) if schema is not None else 0,
        **{name: dict(sorted(c.items())) for name, c in counts.items() if c},
        "nulls": nulls, "non_finite": non_finite,
    }


def summary_table(summary: dict):
    """A rich Table of a summary (counts with their share of rows)."""
    from rich.table import Table

    table = Table(title=f"dataset {summary['path']}", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("share", justify="right")
    for key in ("files", "genes", "rows", "columns", "feature_columns"):
        table.add_row(key, f"{summary[key]:,}", "")
    rows = max(summary["rows"], 1)
    for name in _COUNTED:
        for value, count in summary.get(name, {}).items():
            table.add_row(f"{name} {value}", f"{count:,}", f"{100 * count / rows:.2f} %")
    for name, count in summary["nulls"].items():
        table.add_row(f"nulls in {name}", f"{count:,}", f"{100 * count / rows:.2f} %")
    for name, count in summary["non_finite"].items():
        table.add_row(f"NaN/inf in {name}", f"{count:,}", f"{100 * count / rows:.2f} %")
    if not summary["nulls"] and not summary["non_finite"]:
        table.add_row("nulls / NaN / inf", "none", "")
    return table
