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
import textwrap
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
#: CV columns that are counts (mean and spread in rows or sites); every other shown column is a rate.
_CV_COUNTS = frozenset({"delta_fp", "delta_fn", "test_rows", "test_genes"})
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


def _count(value: Any) -> str:
    """A count with thousands separators; weighted counts (estimates) rounded to whole sites."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):,.0f}"


def _cv_format(column: str, value: float) -> str:
    """One format per CV column: counts with one decimal (their fold mean), rates with four."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.1f}" if column in _CV_COUNTS else f"{value:.4f}"


def _shown_list(values: list, n: int = 30) -> str:
    return ", ".join(map(str, values[:n])) + (f" ... (+{len(values) - n} more)" if len(values) > n else "")


def _wrapped(values: list, indent: str = "  ") -> list[str]:
    """Every value, comma-separated and wrapped to the page width (a list never cut short)."""
    return textwrap.wrap(", ".join(map(str, values)), width=110, initial_indent=indent, subsequent_indent=indent)


def feature_counts(run_dir: Path, info: dict) -> tuple[int | None, int | None]:
    """(features in the dataset, features used after screening): run_info.json's n_features_dataset and
    n_features_used when present, else counted in feature_manifest.csv (one row per dataset feature)."""
    in_dataset, used = info.get("n_features_dataset"), info.get("n_features_used")
    manifest = _read_table(run_dir / "feature_manifest.csv")
    if manifest is not None and {"feature", "status"} <= set(manifest.columns):
        in_dataset = len(manifest) if in_dataset is None else in_dataset
        used = int((manifest["status"] == "used").sum()) if used is None else used
    if used is None:
        used = info.get("n_features", len(info["features_used"]) if info.get("features_used") else None)
    return in_dataset, used


def collect_warnings(info: dict, summary: dict | None) -> list[str]:
    """The run's warnings (run_info.json "warnings", written by training) then the held-out evaluation's
    (meta_evaluation_summary.json "warnings"), each once, in order."""
    found: list[str] = []
    for source in (info, summary or {}):
        values = source.get("warnings")
        for sentence in values if isinstance(values, list) else []:
            if str(sentence) not in found:
                found.append(str(sentence))
    return found


def _warnings_section(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    lines = [f"WARNINGS ({len(warnings)})", "-" * len(f"WARNINGS ({len(warnings)})")]
    for sentence in warnings:
        lines += textwrap.wrap(sentence, width=110, initial_indent="  ! ", subsequent_indent="    ")
    return lines + [""]


# ---- sections ------------------------------------------------------------------------------------------
def _features_phrase(counts: tuple[int | None, int | None]) -> str:
    in_dataset, used = counts
    if in_dataset is None:
        return f"{_num(used)} features used"
    return f"{_num(in_dataset)} features in the dataset, {_num(used)} used after screening"


def _folds_at_once(info: dict) -> str:
    """"3 at a time (2 cores: one fold more than cores)" from run_info's fold_concurrency; n/a before it."""
    concurrency = info.get("fold_concurrency")
    return f"{concurrency['folds_at_once']} at a time ({concurrency['reason']})" if concurrency else "n/a"


def _run_section(info: dict, counts: tuple[int | None, int | None]) -> list[str]:
    lines = ["Run", "---",
             f"Dataset: {info.get('dataset', 'n/a')} ({_num(info.get('n_genes'))} genes, "
             f"{_num(info.get('n_rows'))} rows; {_features_phrase(counts)})",
             f"Mode: {info.get('mode', 'n/a')}   Device: {info.get('device', 'n/a')}   Seed: {info.get('seed', 'n/a')}",
             f"Strategy: {info.get('strategy', 'n/a')}" + (f" ({info['strategy_reason']})"
                                                          if info.get("strategy_reason") else ""),
             f"CV folds fitted: {_folds_at_once(info)}",
             f"Calibration: {info.get('calibration', 'n/a')}" + (
                 f"; probabilities blended with the base model's logit at weight {info['base_blend']:g}"
                 if info.get("base_blend") else ""),
             f"Final model: {(info.get('final_rounds') or {}).get('rule', 'n/a')}", ""]
    used = list(info.get("features_used") or [])
    excluded = dict(info.get("features_excluded") or {})
    lines += ["Features", "--------", f"Used ({len(used)}):", *_wrapped(used), f"Excluded ({len(excluded)}):"]
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
    for column, mean, spread in _cv_rows(cv):
        lines.append(f"  {column:<26}{_cv_format(column, mean)} ± {_cv_format(column, spread)}")
    return lines + [""]


def _cv_rows(cv: pd.DataFrame) -> list[tuple[str, float, float]]:
    """(column, mean over folds, std over folds) of each shown CV column present."""
    rows = []
    for column in _CV_SHOWN:
        if column in cv.columns:
            values = pd.to_numeric(cv[column], errors="coerce")
            rows.append((column, float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0))
    return rows


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


def _gene_structure_lines(block: dict | None) -> list[str]:
    """The calls decoded by gene structure beside the plain ones (heldout.gene_structure_comparison)."""
    if not block:
        return []
    errors, structures = block["fp_fn"], block["structures"]
    scored_on = {"full_resolution": "every nucleotide", "rows": "the dataset rows"}.get(block.get("scored_on"),
                                                                                       "the headline rows")
    lines = [f"[gene-structure decoding] on {scored_on} of the test genes; "
             "violation and posterior cuts fitted on the out-of-fold rows: " + "; ".join(
                 f"{who} {s['violation']:g}, cuts donor {s['cuts'][0]:g} / acceptor {s['cuts'][1]:g}"
                 for who, s in structures.items())]
    lines.append("  FP+FN: " + "; ".join(f"{who} tuned {_num(errors[f'{who}_tuned'])} -> decoded "
                                         f"{_num(errors[f'{who}_decoded'])}" for who in structures))
    change = block.get("meta_decoded_vs_base_tuned")
    if change:
        lines.append(f"  meta decoded against base tuned: FP+FN {change['change']:+.1%} [{change['low']:+.1%}, "
                     f"{change['high']:+.1%}] (95 % gene bootstrap over {change['genes']} genes)")
    for t, counts in block["site_types"].items():
        lines.append(f"  {t}: " + "; ".join(
            f"{key.replace('_', ' ')} TP {_num(c['tp'])} FP {_num(c['fp'])} FN {_num(c['fn'])}"
            for key, c in counts.items()))
    return lines


def _benchmark_rows(benchmark: dict) -> list[tuple[str, dict, dict]]:
    """(figure, base aggregate, meta aggregate) of benchmark_summary.json's metrics (macro F1 first)."""
    metrics = benchmark.get("metrics") or {k: benchmark[k] for k in ("base_macro_f1", "meta_macro_f1")}
    figures = [k[len("meta_"):] for k in metrics if k.startswith("meta_")]
    return [(f, metrics[f"base_{f}"], metrics[f"meta_{f}"]) for f in figures if f"base_{f}" in metrics]


def _interval_text(agg: dict) -> str:
    text = f"{_num(agg['mean'])} ± {_num(agg['std'])}"
    return text + (f" [{_num(agg['low'])}, {_num(agg['high'])}]" if "low" in agg else "")


def _benchmark_section(benchmark: dict) -> list[str]:
    n = benchmark["n_splits"]
    lines = ["Benchmark (benchmark_summary.json, benchmark_splits.csv; each split under split_XX/)",
             "----------------------------------------------------------------------------------",
             f"{n} repeated gene holdouts; each figure on that split's held-out genes; mean ± std "
             f"[{benchmark.get('interval', 'interval')}] over splits; FP/FN/F1 per type at the tuned thresholds",
             f"  {'figure':<20} {'base':<36} meta"]
    for figure, base, meta in _benchmark_rows(benchmark):
        lines.append(f"  {figure:<20} {_interval_text(base):<36} {_interval_text(meta)}")
    if benchmark.get("model"):
        lines.append(f"Model: {benchmark['model']}")
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
    lines += _gene_structure_lines(summary.get("gene_structure"))
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
        # One line per top-level file; a folder's files counted (plots/: a PNG per figure, + figure_formats extras).
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


#: The original's name for the per-instance table of a multi-instance ensemble.
ENSEMBLE_FILE = "ensemble_cv_results.csv"
COMBINATION_RULE = ("the weighted mean of the instances' margins, each weighted by its validation skill "
                    "(1 - logloss / logloss of the class frequency, on genes no instance trained on; "
                    "normalised to sum to 1), then one calibrator per class fitted on out-of-fold predictions")


def ensemble_table(model_dir: str | Path) -> pd.DataFrame | None:
    """One row per instance of an ensemble model directory (None for other kinds): its genes, validation
    skill and share of the combined margin."""
    model_dir = Path(model_dir)
    manifest = _read_json(model_dir / "manifest.json")
    if not manifest or manifest.get("kind") != "ensemble":
        return None
    total = sum(i["weight"] for i in manifest["instances"])
    rows = []
    for k, instance in enumerate(manifest["instances"]):
        member = _read_json(model_dir / instance["path"] / "manifest.json") or {}
        rows.append({"instance": k, "n_genes": len(member.get("training_genes", [])),
                     "validation_skill": instance["weight"], "weight": instance["weight"] / total})
    return pd.DataFrame(rows)


def _ensemble_section(table: pd.DataFrame | None) -> list[str]:
    if table is None:
        return []
    genes = table["n_genes"]
    lines = [f"Ensemble model ({ENSEMBLE_FILE}; model/instances/)", "-------------------------------------------",
             f"{len(table)} instances, {genes.min()}-{genes.max()} genes each (median {genes.median():g}); "
             f"combination: {COMBINATION_RULE}"]
    lines += [f"  instance {r.instance:>3}: {r.n_genes} genes, validation skill {r.validation_skill:.4f}, "
              f"weight {r.weight:.3f}" for r in table.itertuples()]
    return lines + [""]


def statistics_lines(run_dir: Path, summary: dict | None, cv: pd.DataFrame | None,
                     benchmark: dict | None) -> list[str]:
    """Whether each meta - base difference is distinguishable from noise: held-out gene bootstrap
    (meta_evaluation_summary.json), paired tests across CV folds (gene_cv_metrics.csv) and benchmark splits."""
    from .statistics import fold_tests, summary_lines

    folds = fold_tests(cv) if cv is not None and len(cv) >= 2 else None
    return summary_lines((summary or {}).get("statistics"), folds, (benchmark or {}).get("tests"))


def _statistics_section(lines: list[str]) -> list[str]:
    if not lines:
        return []
    return ["Statistics: is the difference more than noise?", "-----------------------------------------------",
            *lines, ""]


def _importance_section(run_dir: Path) -> list[str]:
    from .importance import DIRECTORY, summary_lines

    lines = summary_lines(_read_json(run_dir / DIRECTORY / "importance_summary.json"))
    if not lines:
        return []
    return ["Feature importance beyond gain and SHAP", "---------------------------------------", *lines, ""]


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
    lines += _warnings_section(collect_warnings(info, summary))
    if info:
        lines += _run_section(info, feature_counts(run_dir, info))
    if splits:
        lines += _splits_section(splits)
    if cv is not None and len(cv):
        lines += _cv_section(cv)
    benchmark = _read_json(run_dir / "benchmark_summary.json")
    if benchmark:
        lines += _benchmark_section(benchmark)
    if summary:
        lines += _heldout_section(summary, per_gene)
    lines += _ensemble_section(ensemble_table(run_dir / "model"))
    lines += _statistics_section(statistics_lines(run_dir, summary, cv, benchmark))
    lines += _importance_section(run_dir)
    lines += _figures_section(run_dir, summary)
    lines += _artifacts_section(run_dir, info)
    return "\n".join(lines).rstrip() + "\n"


def write_training_summary(run_dir: str | Path) -> Path:
    """Render and write RUN/training_summary.txt; returns its path."""
    return write_text(Path(run_dir) / SUMMARY_TEXT, render_training_summary(run_dir))


# ---- report.html ---------------------------------------------------------------------------------------
_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th{background:#f6f8fa}
td.l,th.l{text-align:left}td.better{background:#e6f4ea}td.worse{background:#fce8e6}
.warn{background:#fff4e5;border:1px solid #f0b400;border-left:6px solid #f0b400;padding:.6em 1em;margin:1em 0}
.warn li{margin:.25em 0}.note{color:#555;font-size:13px}
.headline{border:1px solid #d0d7de;border-radius:6px;padding:.2em 1.2em 1em;margin:1em 0;background:#fbfcfd}
details{margin:.5em 0 1em}summary{cursor:pointer;color:#0550ae}
figure{margin:1.5em 0;border-top:1px solid #ddd;padding-top:1em}figure img{max-width:100%}
figcaption{color:#555;font-size:13px;margin-top:.3em}"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _html_table(header: list[str] | None, rows: list[list[Any]], left: int = 1,
                classes: list[list[str]] | None = None) -> str:
    """A table (no header row when `header` is None); the first `left` columns are left-aligned (labels),
    the rest right-aligned (numbers). `classes[i][j]` is an optional CSS class of cell (i, j) ("better",
    "worse")."""
    head = "".join(f'<th class="l">{_esc(h)}</th>' if j < left else f"<th>{_esc(h)}</th>"
                   for j, h in enumerate(header or []))
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, value in enumerate(row):
            css = " ".join(c for c in ("l" if j < left else "", classes[i][j] if classes else "") if c)
            cells.append(f'<td class="{css}">{_esc(value)}</td>' if css else f"<td>{_esc(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def _change_class(base: Any, meta: Any, higher_is_better: bool) -> str:
    """"better"/"worse" for the meta cell of a base-vs-meta pair; "" when equal or undefined."""
    try:
        b, m = float(base), float(meta)
    except (TypeError, ValueError):
        return ""
    if math.isnan(b) or math.isnan(m) or b == m:
        return ""
    return "better" if (m > b) == higher_is_better else "worse"


def _run_title(run_dir: Path, info: dict, summary: dict) -> str:
    """What the run is: dataset, mode, genes (and the directory, to tell runs apart)."""
    dataset = info.get("dataset") or summary.get("dataset")
    # The last two path parts: a dataset directory is often just "dataset" inside a named folder.
    parts = ["/".join(Path(dataset).parts[-2:]) if dataset else None,
             f"{info['mode']} mode" if info.get("mode") else ("evaluation" if summary else None),
             f"{_num(info['n_genes'])} genes" if info.get("n_genes") is not None else None,
             f"{summary['n_test_genes']} held out" if summary.get("n_test_genes") is not None else None]
    described = ", ".join(p for p in parts if p)
    return f"gpumeta report: {described} ({run_dir.resolve().name})" if described else \
        f"gpumeta report: {run_dir.resolve().name}"


def _rows_phrase(summary: dict) -> str:
    if summary.get("headline") == "full_resolution":
        return "every nucleotide of the held-out genes (full resolution)"
    if summary.get("rows_sampled"):
        return "SAMPLED rows of the held-out genes (easy negatives down-sampled; see the note)"
    return "every row of the dataset for the held-out genes"


def _headline_html(summary: dict) -> list[str]:
    """Base vs meta per site type on the headline rows: F1, FP, FN at 0.5 and at the tuned thresholds, AP."""
    block = summary.get(summary.get("headline", "rows"), {})
    if not block.get("site_types"):
        return []
    n_sites = {t: block["site_types"][t]["tuned"]["base"]["tp"] + block["site_types"][t]["tuned"]["base"]["fn"]
               for t in SITE_TYPES if t in block["site_types"]}
    # (column, value of one model, format, higher is better): the meta cell is coloured against the base cell.
    columns = (("F1 @0.5", lambda m, c: c["at_0.5"][m]["f1"], _num, True),
               ("FP @0.5", lambda m, c: c["at_0.5"][m]["fp"], _count, False),
               ("FN @0.5", lambda m, c: c["at_0.5"][m]["fn"], _count, False),
               ("tuned threshold", lambda m, c: c["tuned"][f"{m}_threshold"], lambda v: f"{v:.3g}", None),
               ("F1 @tuned", lambda m, c: c["tuned"][m]["f1"], _num, True),
               ("FP @tuned", lambda m, c: c["tuned"][m]["fp"], _count, False),
               ("FN @tuned", lambda m, c: c["tuned"][m]["fn"], _count, False),
               ("AP", lambda m, c: c["ap"].get(m, {}).get("ap"), _num, True),
               ("top-k", lambda m, c: c["top_k"].get(m), _num, True))
    rows, classes = [], []
    for t, per_type in block["site_types"].items():
        context = {**per_type, "ap": block.get("per_class", {}).get(t, {}), "top_k": block.get("top_k", {}).get(t, {})}
        values = {m: [value(m, context) for _, value, _, _ in columns] for m in ("base", "meta")}
        for model in ("base", "meta"):
            rows.append([t if model == "base" else "", model]
                        + [fmt(v) for v, (_, _, fmt, _) in zip(values[model], columns)])
            classes.append(["", ""] + ["" if model == "base" or high is None else _change_class(b, m, high)
                                       for b, m, (_, _, _, high) in zip(values["base"], values["meta"], columns)])
    header = ["site type", "model"] + [name for name, _, _, _ in columns]
    macro = block.get("macro_f1", {})
    sites = "; ".join(f"{_count(n)} true {t} sites" for t, n in n_sites.items())
    parts = ['<section class="headline"><h2>Headline: base vs meta on genes the model never trained on</h2>',
             f"<p><b>{summary.get('n_test_genes', block.get('n_genes'))} held-out genes</b>, {sites}, "
             f"{_count(block.get('n_rows'))} rows: {_esc(_rows_phrase(summary))}.</p>",
             _html_table(header, rows, left=2, classes=classes),
             f"<p>3-class macro F1 (argmax): base {_num(macro.get('base'))} &rarr; meta {_num(macro.get('meta'))}. "
             "Green: meta better than base; red: worse. Tuned thresholds were chosen on out-of-fold predictions of "
             "the training genes, each model its own.</p>"]
    if summary.get("rows_sampled") and summary.get("sample_note"):
        parts.append(f'<p class="note">Note on sampled rows: {_esc(summary["sample_note"])}.</p>')
    return parts + ["</section>"]


def _other_evaluations_html(summary: dict) -> list[str]:
    """The evaluations other than the headline (dataset rows, reweighted rows), folded."""
    titles = {"rows": "dataset rows" + (" (sampled)" if summary.get("rows_sampled") else ""),
              "reweighted": "dataset rows reweighted by 1 / inclusion_prob (estimate for every nucleotide)",
              "full_resolution": "every nucleotide"}
    parts = []
    for key, title in titles.items():
        if key == summary.get("headline") or key not in summary:
            continue
        lines = _evaluation_block(title, summary[key])
        parts.append(f"<details><summary>Also evaluated on {_esc(title)}</summary><pre>"
                     f"{_esc(chr(10).join(lines))}</pre></details>")
    return parts


def _cv_html(cv: pd.DataFrame) -> list[str]:
    rows = [[column, _cv_format(column, mean), _cv_format(column, spread)] for column, mean, spread in _cv_rows(cv)]
    folds = [[str(r.get("fold", i + 1))] + [_cv_format(c, float(r[c])) if pd.notna(r[c]) else "n/a"
                                            for c, _, _ in _cv_rows(cv)] for i, r in cv.iterrows()]
    return ["<h2>Cross-validation</h2>",
            f"<p>{len(cv)} folds; every figure on the fold's test genes, never trained on in that fold. Meta unless "
            "prefixed base_; base_f1/meta_f1, delta_fp/fn, auc_*, ap_* are splice vs not at 0.5 "
            f"({CV_FILE}).</p>",
            _html_table(["metric", "mean", "std"], rows),
            "<details><summary>Per fold</summary>"
            + _html_table(["fold"] + [c for c, _, _ in _cv_rows(cv)], folds) + "</details>"]


def _gene_rows(per_gene: pd.DataFrame) -> list[list[Any]]:
    out = []
    for _, g in per_gene.iterrows():
        out.append([g["gene_id"], _count(g.get(f"n_{SITE_TYPES[0]}")), _count(g.get(f"n_{SITE_TYPES[1]}"))]
                   + [f"{_num(g[f'base_{t}_f1'], 3)} → {_num(g[f'meta_{t}_f1'], 3)}" for t in SITE_TYPES]
                   + [f"{_count(g['base_fp'])} → {_count(g['meta_fp'])}",
                      f"{_count(g['base_fn'])} → {_count(g['meta_fn'])}", _num(g["_delta"], 3)])
    return out


_GENE_HEADER = ["gene", "donors", "acceptors", "donor F1 base → meta", "acceptor F1 base → meta",
                "FP base → meta", "FN base → meta", "Δ F1 (sum)"]
_GENES_LISTED = 500


def _genes_html(per_gene: pd.DataFrame, source: str) -> list[str]:
    delta = sum(per_gene[f"delta_{t}_f1"].fillna(0.0) for t in SITE_TYPES)
    table = per_gene.assign(_delta=delta).sort_values(["_delta", "gene_id"])
    worse = table[table["_delta"] < 0]
    better = int((delta > 0).sum())
    parts = ["<h2>Per held-out gene</h2>",
             f"<p>At the tuned thresholds, on {_esc(source.replace('_', ' '))}: <b>{len(worse)} of {len(table)} "
             f"genes worse</b> (summed donor + acceptor F1 change), {better} better, "
             f"{len(table) - better - len(worse)} unchanged ({PER_GENE_FILE}).</p>"]
    if len(worse):
        parts.append("<h3>Genes where the meta-model got worse, worst first</h3>"
                     + _html_table(_GENE_HEADER, _gene_rows(worse.head(_WORSE_SHOWN))))
        if len(worse) > _WORSE_SHOWN:
            parts.append(f'<p class="note">{len(worse) - _WORSE_SHOWN} more in {PER_GENE_FILE}.</p>')
    listed = table.head(_GENES_LISTED)
    parts.append(f"<details><summary>All {len(table)} held-out genes, worst first"
                 + (f" (first {_GENES_LISTED}; the rest in {PER_GENE_FILE})" if len(table) > _GENES_LISTED else "")
                 + "</summary>" + _html_table(_GENE_HEADER, _gene_rows(listed)) + "</details>")
    return parts


def _splits_html(splits: dict) -> list[str]:
    rows = []
    for key, value in splits.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):  # folds
            for fold in value:
                rows.append([f"{key[:-1] if key.endswith('s') else key} {fold.get('fold', '')}"]
                            + [len(fold[part]) if part in fold else "" for part in ("train", "validation", "test")])
        elif isinstance(value, dict):  # final: {train, validation}
            rows.append([key] + [len(value[part]) if part in value else "" for part in ("train", "validation", "test")])
    top = [[key, len(value)] for key, value in splits.items() if isinstance(value, list) and
           (not value or not isinstance(value[0], dict))]
    parts = ["<h2>Gene splits</h2>", "<p>Genes per set (splits.json); a gene is in exactly one set of each fit.</p>"]
    if top:
        parts.append(_html_table(["set", "genes"], top))
    if rows:
        parts.append(_html_table(["fit", "train genes", "validation genes", "test genes"], rows))
    return parts


def _features_html(run_dir: Path, info: dict) -> list[str]:
    counts = feature_counts(run_dir, info)
    manifest = _read_table(run_dir / "feature_manifest.csv")
    parts = ["<h2>Run and features</h2>"]
    facts = [["dataset", info.get("dataset", "n/a")], ["genes", _num(info.get("n_genes"))],
             ["rows", _num(info.get("n_rows"))], ["features", _features_phrase(counts)],
             ["mode", info.get("mode", "n/a")], ["device", info.get("device", "n/a")],
             ["strategy", (info.get("strategy") or "n/a")
              + (f" ({info['strategy_reason']})" if info.get("strategy_reason") else "")],
             ["CV folds fitted", _folds_at_once(info)],
             ["calibration", info.get("calibration", "n/a")], ["seed", info.get("seed", "n/a")]]
    facts += [[f"param {key}", value] for key, value in (info.get("params") or {}).items()]
    parts.append(_html_table(None, facts, left=2))
    if manifest is not None and "feature" in manifest.columns:
        columns = [c for c in ("feature", "status", "reason", "logit_scale", "target_spearman") if c in manifest]
        rows = [[("" if pd.isna(v) else _num(v, 3) if isinstance(v, float) else v) for v in r]
                for r in manifest[columns].itertuples(index=False)]
        title = f"All {len(manifest)} features of the dataset: used or excluded, and why (feature_manifest.csv)"
        parts.append(f"<details><summary>{_esc(title)}</summary>{_html_table(columns, rows, left=3)}</details>")
    elif info.get("features_used") or info.get("features_excluded"):
        rows = [[f, "used", ""] for f in info.get("features_used") or []]
        rows += [[f, "excluded", why] for f, why in (info.get("features_excluded") or {}).items()]
        parts.append(f"<details><summary>All {len(rows)} features: used or excluded</summary>"
                     f"{_html_table(['feature', 'status', 'reason'], rows, left=3)}</details>")
    return parts


def _diagnostics_html(summary: dict) -> list[str]:
    parts = []
    calibration = summary.get("calibration")
    if calibration:
        rows = [[label, _num(c["brier_before"]), _num(c["brier_after"]), _num(c["ece_before"]), _num(c["ece_after"])]
                for label, c in calibration.items()]
        parts += ["<h3>Calibration (headline rows)</h3>",
                  _html_table(["class", "Brier before", "Brier after", "ECE before", "ECE after"], rows)]
    gaps = summary.get("overfitting")
    if gaps:
        rows = [[g["fold"], g["class"], g["best_iteration"], _num(g.get("relative_gap"), 3),
                 "FLAGGED" if g.get("flagged") else ""] for g in gaps]
        flagged = sum(bool(g.get("flagged")) for g in gaps)
        parts += [f"<h3>Overfitting: {flagged} of {len(gaps)} fold/class learning curves flagged</h3>",
                  "<details><summary>Train/validation gap at the early-stopping round</summary>"
                  + _html_table(["fit", "class", "best round", "relative gap", ""], rows, left=2) + "</details>"]
    return (["<h2>Diagnostics</h2>"] + parts) if parts else []


def _benchmark_html(benchmark: dict) -> list[str]:
    rows = [[figure, _interval_text(base), _interval_text(meta)] for figure, base, meta in _benchmark_rows(benchmark)]
    return ["<h2>Benchmark</h2>",
            f"<p>{benchmark.get('n_splits')} repeated gene holdouts, each on its own held-out genes "
            f"(benchmark_summary.json): mean ± std [{_esc(benchmark.get('interval', 'interval'))}]; the sections "
            "of this page are those of the last split.</p>",
            _html_table(["figure", "base", "meta"], rows),
            f"<p class=\"note\">{_esc(benchmark.get('model', ''))}</p>"]


#: Figures in reading order: how well (PR, ROC, per gene), how trustworthy (calibration, learning curves),
#: then why (importance, SHAP); any other figure after them, by name.
_FIGURE_ORDER = ("pr_curves", "roc_curves", "gene_f1_scatter", "calibration", "learning_curves",
                 "feature_importance", "shap_beeswarm")


def _figure_rank(png: Path) -> tuple[int, str]:
    ranks = [i for i, prefix in enumerate(_FIGURE_ORDER) if png.stem.startswith(prefix)]
    return (ranks[0] if ranks else len(_FIGURE_ORDER), png.stem)


def _figures_html(run_dir: Path, summary: dict) -> list[str]:
    pngs = sorted((run_dir / "plots").glob("*.png"), key=_figure_rank) if (run_dir / "plots").is_dir() else []
    if not pngs:
        return []
    described = summary.get("figures", {})
    # The sampling note is printed on each figure it concerns; the captions do not repeat it.
    parts = ["<h2>Figures</h2>", '<p class="note">Each caption says which genes and rows the figure is computed '
             "on; PNG and PDF in plots/.</p>"]
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f'<figure id="{_esc(png.stem)}"><img alt="{_esc(png.stem)}" '
                     f'src="data:image/png;base64,{data}"><figcaption><b>{_esc(png.name)}</b>: '
                     f"{_esc(described.get(png.name, ''))}</figcaption></figure>")
    return parts


def write_report_html(run_dir: str | Path) -> Path:
    """RUN/report.html, one page that opens from the run directory with no server and no network.

    In reading order: warnings, the headline (base vs meta per site type on the held-out genes), tables
    (per-gene changes, cross-validation, splits, run and features, diagnostics), then every figure of plots/
    (PNG embedded as base64). The plain-text summary stays its own file (training_summary.txt), linked.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GpumetaError(f"{run_dir}: not a directory; give a run directory written by gpumeta train or evaluate")
    info = _read_json(run_dir / RUN_INFO) or {}
    summary = _read_json(run_dir / SUMMARY_FILE) or {}
    cv = _read_table(run_dir / CV_FILE)
    per_gene = _read_table(run_dir / PER_GENE_FILE, sep="\t")
    splits = _read_json(run_dir / SPLITS)
    benchmark = _read_json(run_dir / "benchmark_summary.json")
    title = _run_title(run_dir, info, summary)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{_esc(title)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>{_esc(title)}</h1>",
             f'<p class="sub">Run directory {_esc(run_dir.resolve())}'
             + (f'; plain-text summary: <a href="{SUMMARY_TEXT}">{SUMMARY_TEXT}</a>'
                if (run_dir / SUMMARY_TEXT).is_file() else "") + "</p>"]
    warnings = collect_warnings(info, summary)
    if warnings:
        parts.append(f'<div class="warn"><b>{len(warnings)} warning(s)</b><ul>'
                     + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul></div>")
    parts += _headline_html(summary)
    structure = _gene_structure_lines(summary.get("gene_structure"))
    if structure:
        parts.append(f"<details open><summary>Calls decoded by gene structure</summary><pre>"
                     f"{_esc(chr(10).join(structure))}</pre></details>")
    parts += _other_evaluations_html(summary)
    if benchmark:
        parts += _benchmark_html(benchmark)
    if per_gene is not None and len(per_gene):
        parts += _genes_html(per_gene, summary.get("per_gene_source", summary.get("headline", "rows")))
    if cv is not None and len(cv):
        parts += _cv_html(cv)
    if splits:
        parts += _splits_html(splits)
    if info:
        parts += _features_html(run_dir, info)
    parts += _diagnostics_html(summary)
    ensemble = ensemble_table(run_dir / "model")
    if ensemble is not None:
        parts += ["<h2>Ensemble model</h2>", f"<p>{len(ensemble)} instances; combination: {_esc(COMBINATION_RULE)}"
                  f" ({ENSEMBLE_FILE}).</p>",
                  _html_table(["instance", "genes", "validation skill", "weight"],
                              [[r.instance, r.n_genes, _num(r.validation_skill), _num(r.weight, 3)]
                               for r in ensemble.itertuples()])]
    for title, lines in (("Statistics: is the difference more than noise?",
                          statistics_lines(run_dir, summary, cv, benchmark)),
                         ("Feature importance beyond gain and SHAP", _importance_section(run_dir)[2:])):
        if lines:
            parts += [f"<h2>{_esc(title)}</h2>", "<ul>" + "".join(f"<li>{_esc(line.strip())}</li>"
                                                                for line in lines if line.strip()) + "</ul>"]
    parts += _figures_html(run_dir, summary)
    parts.append("</body></html>")
    return write_text(run_dir / REPORT_HTML, "\n".join(parts) + "\n")
