"""training_summary.txt and report.html, rendered from the FILES of a run directory.

Nothing here sees a model or a dataset: both documents are built from what the run wrote (run_info.json,
gene_cv_metrics.csv, meta_evaluation_summary.json, base_vs_meta_performance.tsv, splits.json, plots/), so
they can be re-rendered any time and never disagree with the files. Every file is optional: a minimal run
(or an `evaluate` output directory) gets the sections its files support.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_text
from ..errors import GpumetaError
from ..schema import LABELS
from .heldout import PER_GENE_FILE, SUMMARY_FILE
from .metrics import SITE_TYPES

SUMMARY_TEXT = "training_summary.txt"
REPORT_HTML = "report.html"
CV_FILE = "gene_cv_metrics.csv"
RUN_INFO = "run_info.json"
SPLITS = "splits.json"
_WORSE_SHOWN = 25
_CV_SHOWN = ("test_macro_f1", "base_macro_f1", "test_macro_avg_precision", "donor_f1", "acceptor_f1",
             "top_k_accuracy", "base_top_k_accuracy", "base_f1", "meta_f1", "delta_fp", "delta_fn",
             "auc_base", "auc_meta", "ap_base", "ap_meta")


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); rerun the step that "
                           "wrote it") from None


def _read_table(path: Path, sep: str = ",") -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise GpumetaError(f"{path}: unreadable table ({exc}); rerun the step that wrote it") from None


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def _shown_list(values: list, n: int = 30) -> str:
    return ", ".join(map(str, values[:n])) + (f" ... (+{len(values) - n} more)" if len(values) > n else "")


# ---- sections ------------------------------------------------------------------------------------------
def _run_section(info: dict) -> list[str]:
    lines = ["Run", "---",
             f"Dataset: {info.get('dataset', 'n/a')} ({_num(info.get('n_genes'))} genes, "
             f"{_num(info.get('n_rows'))} rows, {_num(info.get('n_features'))} features)",
             f"Mode: {info.get('mode', 'n/a')}   Device: {info.get('device', 'n/a')}   Seed: {info.get('seed', 'n/a')}",
             f"Strategy: {info.get('strategy', 'n/a')}" + (f" ({info['strategy_reason']})"
                                                          if info.get("strategy_reason") else ""),
             f"Calibration: {info.get('calibration', 'n/a')}", ""]
    used = list(info.get("features_used") or [])
    excluded = dict(info.get("features_excluded") or {})
    lines += ["Features", "--------", f"Used ({len(used)}): {_shown_list(used)}",
              f"Excluded ({len(excluded)}):"]
    lines += [f"  {feature}: {reason}" for feature, reason in excluded.items()] or ["  none"]
    params = info.get("params") or {}
    if params:
        lines += ["", "Parameters", "----------"]
        lines += [f"  {key}: {value}" for key, value in params.items()]
    return lines + [""]


def _cv_section(cv: pd.DataFrame) -> list[str]:
    lines = ["Cross-validation (gene_cv_metrics.csv)", "--------------------------------------",
             f"{len(cv)} folds; every figure on its fold's TEST genes (never trained on in that fold); "
             "mean ± std over folds. Meta unless prefixed base_; base_f1/meta_f1 etc. are splice vs not at 0.5."]
    for column in _CV_SHOWN:
        if column in cv.columns:
            values = pd.to_numeric(cv[column], errors="coerce")
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            lines.append(f"  {column:<26}{_num(values.mean())} ± {_num(spread)}")
    return lines + [""]


def _evaluation_block(name: str, block: dict) -> list[str]:
    lines = [f"[{name}] {_num(block.get('n_rows'))} rows, {_num(block.get('n_genes'))} genes"
             + ("; weighted by 1 / inclusion_prob (estimate for every nucleotide)" if block.get("weighted") else "")]
    macro = block.get("macro_f1", {})
    lines.append(f"  3-class macro F1 (argmax): base {_num(macro.get('base'))} -> meta {_num(macro.get('meta'))}")
    for t in SITE_TYPES:
        per_type = block.get("site_types", {}).get(t, {})
        for key, title in (("tuned", "tuned thresholds"), ("at_0.5", "threshold 0.5")):
            c = per_type.get(key)
            if not c:
                continue
            b, m = c["base"], c["meta"]
            lines.append(f"  {t} at {title} (base {c['base_threshold']:.3g}, meta {c['meta_threshold']:.3g}): "
                         f"F1 {_num(b['f1'])} -> {_num(m['f1'])}; TP {_num(b['tp'])} -> {_num(m['tp'])}; "
                         f"FP {_num(b['fp'])} -> {_num(m['fp'])}; FN {_num(b['fn'])} -> {_num(m['fn'])}; "
                         f"errors fixed {_num(c['errors_fixed'])}, introduced {_num(c['errors_introduced'])}")
        top_k = block.get("top_k", {}).get(t)
        if top_k:
            lines.append(f"  {t} top-k accuracy (gene mean): base {_num(top_k.get('base'))} "
                         f"-> meta {_num(top_k.get('meta'))}")
    for label in LABELS:
        per_class = block.get("per_class", {}).get(label)
        if per_class:
            lines.append(f"  {label}: AP {_num(per_class['base']['ap'])} -> {_num(per_class['meta']['ap'])}, "
                         f"ROC AUC {_num(per_class['base']['roc_auc'])} -> {_num(per_class['meta']['roc_auc'])}")
    return lines


def _benchmark_section(benchmark: dict) -> list[str]:
    n = benchmark["n_splits"]
    lines = ["Benchmark (benchmark_summary.json, benchmark_splits.csv; each split under split_XX/)",
             "----------------------------------------------------------------------------------",
             f"{n} repeated gene holdouts; each figure on that split's held-out genes; mean ± std over splits"]
    for key in ("base_macro_f1", "meta_macro_f1"):
        lines.append(f"  {key:<16} {_num(benchmark[key]['mean'])} ± {_num(benchmark[key]['std'])}")
    lines.append("The sections below are those of the last split.")
    return lines + [""]


def _heldout_section(summary: dict, per_gene: pd.DataFrame | None) -> list[str]:
    genes = summary.get("test_genes", [])
    headline = summary.get("headline", "rows")
    lines = ["Held-out evaluation (meta_evaluation_summary.json)", "--------------------------------------------------",
             f"On {len(genes)} test genes the model never trained on: {_shown_list(genes, 10)}",
             "Headline: " + ("EVERY NUCLEOTIDE of the test genes (full resolution)" if headline == "full_resolution"
                             else "the dataset's rows of the test genes")]
    order = ["full_resolution", "rows", "reweighted"] if headline == "full_resolution" else ["rows", "reweighted"]
    titles = {"full_resolution": "full resolution (headline)", "rows": "dataset rows"
              + (" (sampled)" if summary.get("rows_sampled") else ""), "reweighted": "dataset rows, reweighted"}
    for key in order:
        if key in summary:
            if key == "rows" and summary.get("rows_sampled"):
                # The sampling note belongs to the sampled rows, not to a full-resolution headline above them.
                lines.append(f"NOTE: {summary.get('sample_note')}")
            lines += _evaluation_block(titles[key], summary[key])
    calibration = summary.get("calibration")
    if calibration:
        lines.append("  calibration (headline rows): " + "; ".join(
            f"{label} Brier {_num(c['brier_before'])} -> {_num(c['brier_after'])}, "
            f"ECE {_num(c['ece_before'])} -> {_num(c['ece_after'])}" for label, c in calibration.items()))
    flagged = [g for g in summary.get("overfitting") or [] if g.get("flagged")]
    if summary.get("overfitting") is not None:
        lines.append(f"  overfitting: {len(flagged)} of {len(summary['overfitting'])} fold/class curves flagged"
                     + "".join(f"; {g['fold']} {g['class']} relative gap {_num(g['relative_gap'], 2)}"
                               for g in flagged))
    lines.append("")
    if per_gene is not None and len(per_gene):
        lines += _gene_changes_section(per_gene, summary.get("per_gene_source", headline))
    return lines


def _gene_changes_section(per_gene: pd.DataFrame, source: str) -> list[str]:
    delta = sum(per_gene[f"delta_{t}_f1"].fillna(0.0) for t in SITE_TYPES)
    worse = per_gene.assign(_delta=delta).query("_delta < 0").sort_values("_delta")
    better = int((delta > 0).sum())
    lines = [f"Genes where the meta-model got WORSE ({len(worse)} of {len(per_gene)}; summed donor + acceptor F1 "
             f"change at the tuned thresholds, {source.replace('_', ' ')}), worst first:"]
    for _, g in worse.head(_WORSE_SHOWN).iterrows():
        lines.append(f"  {g['gene_id']}: " + "; ".join(
            f"{t} F1 {_num(g[f'base_{t}_f1'], 3)} -> {_num(g[f'meta_{t}_f1'], 3)}" for t in SITE_TYPES)
            + f"; FP {_num(g['base_fp'])} -> {_num(g['meta_fp'])}; FN {_num(g['base_fn'])} -> {_num(g['meta_fn'])}")
    if len(worse) > _WORSE_SHOWN:
        lines.append(f"  ... {len(worse) - _WORSE_SHOWN} more in {PER_GENE_FILE}")
    lines.append(f"Genes that improved: {better}; unchanged: {len(per_gene) - better - len(worse)}")
    return lines + [""]


def _figures_section(run_dir: Path, summary: dict | None) -> list[str]:
    described = (summary or {}).get("figures", {})
    pngs = sorted((run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    if not pngs:
        return []
    lines = ["Figures (plots/; PNG and PDF) and the genes each is computed on", "-" * 62]
    for png in pngs:
        lines.append(f"  plots/{png.name}: {described.get(png.name, 'see the run log')}")
    if summary and summary.get("rows_sampled") and any("sampled" in d for d in described.values()):
        lines.append(f"  NOTE (figures on sampled rows): {summary.get('sample_note')}")
    return lines + [""]


def _artifacts_section(run_dir: Path, info: dict) -> list[str]:
    lines = []
    artifacts = info.get("artifacts")
    present = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir() if not p.name.startswith("."))
    lines += ["Artifacts", "---------"]
    if isinstance(artifacts, dict):
        lines += [f"  {key}: {value}" for key, value in artifacts.items()]
    elif isinstance(artifacts, list):
        # One line per top-level file; a folder's files counted (plots/ holds a PNG and PDF per figure).
        folders: dict[str, int] = {}
        for value in map(str, artifacts):
            head, sep, _ = value.partition("/")
            if sep:
                folders[head] = folders.get(head, 0) + 1
            else:
                lines.append(f"  {value}")
        lines += [f"  {folder}/ ({count} files)" for folder, count in folders.items()]
    if not artifacts:
        lines.append(f"  in this directory: {', '.join(present)}")
    if info.get("test_genes_file"):
        lines.append(f"  test genes: {info['test_genes_file']}")
    timings = info.get("timings") or {}
    if timings:
        lines += ["", "Timings (s)", "-----------"]
        lines += [f"  {step}: {_num(seconds, 1)}" for step, seconds in timings.items()]
    return lines + [""]


def _splits_section(splits: dict) -> list[str]:
    parts = []
    for key, value in splits.items():
        if isinstance(value, dict):  # e.g. final: {train: [...], validation: [...]}
            parts.append(f"{key}: " + ", ".join(f"{k} {len(v) if isinstance(v, list) else v}"
                                                 for k, v in value.items()))
        elif isinstance(value, list) and value and isinstance(value[0], dict):  # e.g. folds: [{...}, ...]
            parts.append(f"{key}: {len(value)}")
        elif isinstance(value, list):
            parts.append(f"{key}: {len(value)} genes")
        elif value is not None:
            parts.append(f"{key}: {value}")
    return ["Gene splits (splits.json): " + "; ".join(parts), ""]


def render_training_summary(run_dir: str | Path) -> str:
    """The text of training_summary.txt for a run directory (sections for the files present)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GpumetaError(f"{run_dir}: not a directory; give a run directory written by gpumeta train or evaluate")
    info = _read_json(run_dir / RUN_INFO) or {}
    summary = _read_json(run_dir / SUMMARY_FILE)
    cv = _read_table(run_dir / CV_FILE)
    per_gene = _read_table(run_dir / PER_GENE_FILE, sep="\t")
    splits = _read_json(run_dir / SPLITS)
    lines = ["gpumeta training summary", "========================", f"Run directory: {run_dir.resolve()}", ""]
    if info:
        lines += _run_section(info)
    if splits:
        lines += _splits_section(splits)
    if cv is not None and len(cv):
        lines += _cv_section(cv)
    benchmark = _read_json(run_dir / "benchmark_summary.json")
    if benchmark:
        lines += _benchmark_section(benchmark)
    if summary:
        lines += _heldout_section(summary, per_gene)
    lines += _figures_section(run_dir, summary)
    lines += _artifacts_section(run_dir, info)
    return "\n".join(lines).rstrip() + "\n"


def write_training_summary(run_dir: str | Path) -> Path:
    """Render and write RUN/training_summary.txt; returns its path."""
    return write_text(Path(run_dir) / SUMMARY_TEXT, render_training_summary(run_dir))


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
pre{background:#f6f8fa;padding:1em;white-space:pre-wrap;font-size:12px;line-height:1.35}
figure{margin:1.5em 0;border-top:1px solid #ddd;padding-top:1em}figure img{max-width:100%}
figcaption{color:#555;font-size:13px;margin-top:.3em}"""


def write_report_html(run_dir: str | Path) -> Path:
    """RUN/report.html: the summary and every figure of plots/ (PNG embedded as base64), one file that
    opens from the run directory with no server and no network."""
    run_dir = Path(run_dir)
    text_file = run_dir / SUMMARY_TEXT
    text = text_file.read_text() if text_file.is_file() else render_training_summary(run_dir)
    summary = _read_json(run_dir / SUMMARY_FILE) or {}
    described = summary.get("figures", {})
    note = summary.get("sample_note") if summary.get("rows_sampled") else None
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>gpumeta report: {html.escape(run_dir.resolve().name)}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>gpumeta report: {html.escape(run_dir.resolve().name)}</h1>",
             "<h2>Summary</h2>", f"<pre>{html.escape(text)}</pre>"]
    pngs = sorted((run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    if pngs:
        parts.append("<h2>Figures</h2>")
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        caption = described.get(png.name, "")
        if note and "sampled" in caption:
            caption += f" (NOTE: {note})"
        parts.append(f'<figure id="{html.escape(png.stem)}"><img alt="{html.escape(png.stem)}" '
                     f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(png.name)}</b>: '
                     f"{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return write_text(run_dir / REPORT_HTML, "\n".join(parts) + "\n")
