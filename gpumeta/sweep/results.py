"""A sweep's results: one table (Parquet + CSV), a comparison figure and one HTML page.

Every figure in the table is on each cell's held-out genes (genes its model never trained on); the page says
whether those are sampled rows or every nucleotide, as the cells' run directories do.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ..atomic import write_csv, write_parquet, write_text
from ..model import SITE_TYPES

#: Columns that say what a cell is and how it ended; they lead the table.
ID_COLUMNS = ["cell_id", "status", "error", "attempts", "dataset", "algorithm", "params", "seed", "device"]
#: What one configuration (dataset, device, algorithm, parameter set) is compared on, mean over seeds.
CONFIG_COLUMNS = ["dataset", "device", "algorithm", "params"]
SUMMARY_METRICS = ["macro_f1_base", "macro_f1_meta",
                   *(f"{t}_{m}_{who}" for t in SITE_TYPES for m in ("fp", "fn") for who in ("base", "meta")),
                   "fit_s", "peak_host_mb"]
FIGURE = "comparison"


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: cells, mean of each summary metric over its seeds, and the std of meta
    macro F1 (seed-to-seed spread: what a difference between configurations has to beat)."""
    done = table[table["status"] == "complete"]
    if done.empty:
        return pd.DataFrame(columns=[*CONFIG_COLUMNS, "cells", *SUMMARY_METRICS, "macro_f1_meta_std"])
    grouped = done.groupby(CONFIG_COLUMNS, sort=False)
    summary = grouped[SUMMARY_METRICS].mean()
    summary.insert(0, "cells", grouped.size())
    summary["macro_f1_meta_std"] = grouped["macro_f1_meta"].std(ddof=1)
    return summary.reset_index()


def _label(row) -> str:
    return " · ".join(str(row[c]) for c in CONFIG_COLUMNS)


def plot_comparison(table: pd.DataFrame, out_dir: Path) -> Path | None:
    """Held-out macro F1 (base and meta, one point per seed) and fit time per configuration."""
    from ..evaluate.plots import save_figure

    done = table[table["status"] == "complete"]
    if done.empty:
        return None
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys(done.apply(_label, axis=1)))
    position = {label: i for i, label in enumerate(labels)}
    x = done.apply(_label, axis=1).map(position).to_numpy(dtype=float)
    fig = Figure(figsize=(max(6.0, 1.2 * len(labels) + 3), 4.2))
    f1_ax, time_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for x_cell, base, meta in zip(x, done["macro_f1_base"], done["macro_f1_meta"]):  # pair each seed's points
        f1_ax.plot([x_cell - 0.12, x_cell + 0.12], [base, meta], color="#cccccc", linewidth=0.8, zorder=0)
    for who, offset, color in (("base", -0.12, "tab:gray"), ("meta", 0.12, "tab:blue")):
        f1_ax.scatter(x + offset, done[f"macro_f1_{who}"], s=22, color=color, label=who, alpha=0.8)
    time_ax.scatter(x, done["fit_s"], s=22, color="tab:blue")
    for ax, title in ((f1_ax, "held-out macro F1 (one point per seed)"), (time_ax, "fit time (s, in the learner)")):
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    f1_ax.legend(fontsize=8)
    where = "sampled rows" if done["rows_sampled"].any() else "every nucleotide"
    note = f"each cell on its own held-out genes ({where}); configuration = dataset · device · algorithm · params"
    return save_figure(fig, out_dir, FIGURE, note=note)


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="t")


def render_html(table: pd.DataFrame, summary: pd.DataFrame, figure: Path | None, title: str) -> str:
    failed = table[table["status"] != "complete"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em;max-width:80em} table.t{border-collapse:collapse;font-size:12px}"
             " .t td,.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{(table['status'] == 'complete').sum()} of {len(table)} cells complete, {len(failed)} failed. "
             "Every metric is on the cell's held-out genes; FP/FN at the thresholds tuned on training genes "
             "(out-of-fold).</p>", "<h2>Configurations (mean over seeds)</h2>", _html_table(summary)]
    if figure is not None:
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        parts.append(f"<figure><img style='max-width:100%' src='data:image/png;base64,{data}'></figure>")
    if len(failed):
        parts += ["<h2>Failed cells</h2>", _html_table(failed[["cell_id", *CONFIG_COLUMNS, "seed", "attempts",
                                                               "error"]])]
    shown = [c for c in [*ID_COLUMNS, *SUMMARY_METRICS, "peak_device_mb", "n_test_genes"] if c in table]
    parts += ["<h2>Every cell</h2>", _html_table(table[shown]), "<p>Run directories: cells/&lt;cell_id&gt;/ "
              "(each a normal gpumeta run: report.html, training_summary.txt).</p></body></html>"]
    return "\n".join(parts)


def write_results(out_dir: Path, table: pd.DataFrame, spec) -> pd.DataFrame:
    """results.parquet/.csv, comparison.png and report.html in out_dir; returns the ordered table."""
    table = table[[c for c in ID_COLUMNS if c in table] + [c for c in table if c not in ID_COLUMNS]]
    write_parquet(out_dir / "results.parquet", table)
    write_csv(out_dir / "results.csv", table)
    figure = plot_comparison(table, out_dir)
    title = f"gpumeta sweep {spec.path.name}: " + " × ".join(f"{n} {k}" for k, n in spec.shape.items())
    write_text(out_dir / "report.html", render_html(table, summarize(table), figure, title))
    return table


def read_results(out_dir: str | Path) -> pd.DataFrame:
    """A sweep's results table (what notebooks/03_sweep_results.ipynb starts from)."""
    from ..errors import GpumetaError

    path = Path(out_dir) / "results.parquet"
    if not path.is_file():
        raise GpumetaError(f"{path}: no results table; run `gpumeta sweep SPEC --out-dir {out_dir}` first")
    return pd.read_parquet(path)
