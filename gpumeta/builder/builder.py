"""`build_dataset`: annotation + genome + base-model predictions -> a batched, resumable dataset.

Layout written under OUT:
  batches/batch_00001.parquet   one file per `batch_size` genes, each written atomically, then
  batches/batch_00001.json      its manifest rows and counts (written after it: together they mark it done)
  build_state.json              parameters, input checksums and the batch plan, for resume
  master/                       hard links (or copies) of the finished batches: the dataset
  gene_manifest.csv             gene_id, chrom, strand, gene_start, gene_end, n_rows, file
  dataset_card.json             inputs (sha256), parameters, counts; written last: a build is complete
                                when it exists
Every input check runs before the first write. A rerun with the same inputs and parameters skips the
finished batches; different ones are refused (use overwrite=True to start over).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from .. import __version__
from ..atomic import atomic_dir, atomic_path, remove_outputs, resume_state, write_csv, write_json
from ..backend import get_backend
from ..errors import GpumetaError, shown
from ..schema import LABELS
from .annotation import gene_sites, read_annotation
from .fasta import Genome
from .gene_structure import gene_structure, overlap_counts
from .labelling import PRED_TYPES
from .params import BuildParams
from .predictions import Predictions, gene_tracks
from .rows import GeneSummary, assemble, gene_rows, output_schema
from .sampling import STRATA
from .sequence import gene_sequence
from .subset import base_model_errors, choose_genes

STATE_FILE = "build_state.json"
CARD_FILE = "dataset_card.json"
MANIFEST_FILE = "gene_manifest.csv"
#: Everything a build owns under OUT (what overwrite removes; nothing else is touched).
OWNED = ("batches", "master", "predictions", STATE_FILE, CARD_FILE, MANIFEST_FILE)
BASE_MODELS = ("spliceai",)
log = logging.getLogger("gpumeta")

PRED_TYPE_DEFINITION = (
    "per stream (donor, acceptor): called = prob >= threshold; calls and true sites within +-window nt "
    "matched one to one; TP = matched site, FN = unmatched site, FP = call with no true site of that type "
    "within +-window, TN = the rest (calls beside a matched site included). Row (nucleotide): the stream of "
    "its own type for a true site; for a neither row FP if either stream is FP there, else TN.")


@dataclass
class BuildResult:
    out_dir: Path
    master_dir: Path
    batch_files: list[Path]
    manifest: Path
    card: Path
    n_genes: int
    n_rows: int
    counts: dict = field(default_factory=dict)
    resumed_batches: int = 0
    seconds: float = 0.0


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint_inputs(fasta: Path, annotation: Path, predictions: Predictions) -> dict:
    return {
        "fasta": {"path": str(fasta), "sha256": sha256_file(fasta)},
        "annotation": {"path": str(annotation), "sha256": sha256_file(annotation)},
        "predictions": {"path": str(predictions.path),
                        "files": {str(f.relative_to(predictions.path) if predictions.path.is_dir() else f.name):
                                  sha256_file(f) for f in predictions.files}},
    }


def build_dataset(fasta, annotation, out_dir, predictions=None, base_model: str | None = None,
                  device: str = "cpu", overwrite: bool = False,
                  on_batch: Callable[[int, int, Path], None] | None = None,
                  on_gene: Callable[[int, int], None] | None = None, **params) -> BuildResult:
    """Build a dataset; see the module docstring for the layout and `BuildParams` for `params`.

    `predictions` is a directory (or file) of prediction Parquet; or `base_model="spliceai"` runs the
    released SpliceAI models into OUT/predictions first. `on_batch(k, n_batches, path)` is called after
    batch k (1-based) is complete (progress display; tests use it to interrupt a build); `on_gene(k, n)`
    after the base model scored gene k of n. Both are first called with k = 0 (path None) as their stage
    starts, so a display shows the stage while its first item runs.

    `device` defaults to "cpu": per gene the builder makes about 200 small device->host copies (labels,
    sampling, Arrow columns), so on small genes a GPU spends its time in transfers. "cuda" gives the same
    dataset (tests/test_build.py) but its speed is unmeasured; docs/BUILD.md has the measured CPU rate.
    """
    started = time.perf_counter()
    build_params = BuildParams.from_kwargs(**params)
    backend = get_backend(device)
    out_dir = Path(out_dir)
    if (predictions is None) == (base_model is None):
        raise GpumetaError("pass exactly one of --predictions DIR or --base-model spliceai")
    if base_model is not None and base_model not in BASE_MODELS:
        raise GpumetaError(f"--base-model {base_model!r} is not supported: use one of {', '.join(BASE_MODELS)}")
    fasta, annotation = Path(fasta), Path(annotation)
    genome = Genome(fasta, build_params.chrom_alias)
    genes = read_annotation(annotation)
    log.info("build: annotation %s: %d genes; FASTA %s: %d sequences; device %s", annotation, len(genes), fasta,
             len(genome.lengths), backend.name)

    if base_model is not None:
        candidates = _select_genes(genes, build_params.genes, None, annotation)
        if build_params.n_genes is not None and build_params.subset_policy == "random":
            # error_total needs the predictions of every candidate; a random draw does not.
            candidates = choose_genes(candidates, build_params.n_genes, "random", build_params.seed)
        _check_genome(genome, genes, candidates, annotation)
        if overwrite:  # only once the inputs passed their checks
            remove_outputs(out_dir, OWNED)
            overwrite = False
        inputs = {"fasta": sha256_file(fasta), "annotation": sha256_file(annotation)}
        _refuse_foreign_state(out_dir, build_params, inputs)
        from .spliceai_runner import predict_genes

        predictions = predict_genes(genome, [genes[g] for g in candidates], out_dir / "predictions",
                                    batch_size=build_params.batch_size, fingerprint=inputs, on_gene=on_gene)
    source = Predictions(predictions)
    predicted = source.check(genes)
    selected = _select_genes(genes, build_params.genes, predicted, annotation)
    log.info("build: predictions %s: %d genes, checked", source.path, len(predicted))
    if build_params.n_genes is not None:
        selected = choose_genes(selected, build_params.n_genes, build_params.subset_policy, build_params.seed,
                                lambda: _error_counts(source, genes, selected, build_params))
        log.info("build: --n-genes %d by %s: %s", build_params.n_genes, build_params.subset_policy,
                 shown(selected))
    _check_genome(genome, genes, selected, annotation)
    if overwrite:
        remove_outputs(out_dir, OWNED)

    inputs = _fingerprint_inputs(fasta, annotation, source)
    ordered = sorted(selected, key=lambda g: (genes[g].chrom, genes[g].start, g))
    plan = build_params.plan_batches(ordered, [genes[g].length for g in ordered])
    state = {"format": 1, "parameters": build_params.fingerprint(), "inputs": inputs, "batches": plan,
             "base_model": base_model}
    log.info("build: %d genes in %d batch(es), %s", len(ordered), len(plan),
             f"up to {build_params.batch_rows:,} nt each" if build_params.batch_rows else
             f"{build_params.batch_size} genes each")
    resumed = resume_state(out_dir, STATE_FILE, state, ("parameters", "inputs", "batches", "base_model"),
                           ("batches", "master"), "a build")
    if resumed is None:
        write_json(out_dir / STATE_FILE, state)

    overlaps = overlap_counts(genes.values())
    batch_dir = out_dir / "batches"
    batch_files, n_resumed = [], 0
    if on_batch is not None:
        on_batch(0, len(plan), None)
    for number, batch in enumerate(plan, start=1):
        path = batch_dir / f"batch_{number:05d}.parquet"
        if path.exists() and path.with_suffix(".json").exists():
            n_resumed += 1
            log.info("build: batch %d/%d already written (resumed)", number, len(plan))
        else:
            batch_started = time.perf_counter()
            rows = _write_batch(path, batch, genes, genome, source, overlaps, build_params, backend)
            seconds = time.perf_counter() - batch_started
            nucleotides = sum(genes[g].length for g in batch)
            log.info("build: batch %d/%d: %d genes, %s nt, %s rows in %.1f s (%s nt/s)", number, len(plan),
                     len(batch), f"{nucleotides:,}", f"{rows:,}", seconds, f"{nucleotides / max(seconds, 1e-9):,.0f}")
        batch_files.append(path)
        if on_batch is not None:
            on_batch(number, len(plan), path)
    return _finish(out_dir, batch_files, state, build_params, n_resumed, time.perf_counter() - started,
                   len(genes) - len(selected))


def _check_genome(genome: Genome, genes: dict, selected: list[str], annotation: Path) -> None:
    """The genes to build lie on chromosomes the FASTA has, within their lengths."""
    genome.check_chroms({genes[g].chrom for g in selected}, f"annotation {annotation}")
    genome.check_spans([genes[g] for g in selected], f"annotation {annotation}")


def _error_counts(source: Predictions, genes: dict, selected: list[str], params: BuildParams) -> dict[str, int]:
    """Base-model FP + FN per gene (for --subset-policy error_total), read a batch of genes at a time."""
    counts = {}
    for lo in range(0, len(selected), params.batch_size):
        frames = source.load(selected[lo: lo + params.batch_size])
        for gene_id, frame in frames.items():
            counts[gene_id] = base_model_errors(genes[gene_id], frame, params.threshold, params.window,
                                                params.site_convention)
    return counts


def _select_genes(genes: dict, wanted, predicted, annotation: Path) -> list[str]:
    """Genes to build: `wanted` (or every predicted gene / every annotated gene), all of them available."""
    available = set(predicted) if predicted is not None else set(genes)
    if wanted is None:
        return sorted(available)
    missing = [g for g in wanted if g not in available]
    if missing:
        where = "the predictions" if predicted is not None else f"annotation {annotation}"
        raise GpumetaError(f"gene {missing[0]} ({len(missing)} of {len(wanted)} requested) is not in {where}; "
                           "check the --genes list (or --gene-ids-file), or predict those genes")
    return list(wanted)


def _refuse_foreign_state(out_dir: Path, params: BuildParams, inputs: dict) -> None:
    """Before running a base model into OUT: refuse when OUT holds a build of something else."""
    state_path = out_dir / STATE_FILE
    if not state_path.exists():
        _refuse_unknown_contents(out_dir)
        return
    old = json.loads(state_path.read_text())
    if old.get("parameters") != params.fingerprint() or any(
            old.get("inputs", {}).get(k, {}).get("sha256") != v for k, v in inputs.items()):
        raise GpumetaError(f"{out_dir} holds a build with other inputs or parameters; pass --overwrite to start "
                           "over, or choose another output directory")


def _refuse_unknown_contents(out_dir: Path) -> None:
    # predictions/ alone is an interrupted base-model run: predict_genes checks its own run.json.
    if out_dir.exists() and any(p.name in OWNED and p.name != "predictions" for p in out_dir.iterdir()):
        raise GpumetaError(f"{out_dir} holds a partial output without {STATE_FILE}; pass --overwrite to start over")



def _write_batch(path: Path, batch: list[str], genes: dict, genome: Genome, source: Predictions,
                 overlaps: dict, params: BuildParams, backend) -> int:
    frames = source.load(batch)
    schema = output_schema(params)
    manifest, summaries = [], {}
    file_name = f"master/{path.name}"
    with atomic_path(path) as tmp:
        # Dictionary encoding only where it pays (strings): tried on every float column it halves speed.
        strings = [f.name for f in schema if f.type == "string"]
        with pq.ParquetWriter(tmp, schema, use_dictionary=strings) as writer:
            buffered, n_buffered = [], 0
            for gene_id in batch:
                gene = genes[gene_id]
                sites = gene_sites(gene, params.site_convention)
                summary = GeneSummary()
                codes = gene_sequence(genome, gene, params.flank)
                structure = gene_structure(gene, sites, overlaps[gene_id])
                for block in gene_rows(gene, sites, gene_tracks(gene, frames[gene_id]), codes, params.flank,
                                       structure, params, backend, summary):
                    buffered.append(block)
                    n_buffered += block["n_rows"]
                    if n_buffered >= params.chunk_rows:
                        writer.write_table(assemble(buffered, params))
                        buffered, n_buffered = [], 0
                summaries[gene_id] = summary
                manifest.append({"gene_id": gene_id, "chrom": gene.chrom, "strand": gene.strand,
                                 "gene_start": gene.start, "gene_end": gene.end, "n_rows": summary.n_rows,
                                 "file": file_name})
            if buffered:
                writer.write_table(assemble(buffered, params))
    counts = _sum_counts(summaries.values())
    write_json(path.with_suffix(".json"), {
        "manifest": manifest, "counts": counts, "nucleotides": sum(genes[g].length for g in batch)})
    return counts["rows"]


def _sum_counts(summaries) -> dict:
    out = {"rows": 0, "splice_type": dict.fromkeys(LABELS, 0), "pred_type": dict.fromkeys(PRED_TYPES, 0),
           "sampling_stratum": dict.fromkeys(STRATA, 0),
           "streams": {t: dict.fromkeys(PRED_TYPES, 0) for t in ("donor", "acceptor")}}
    for s in summaries:
        out["rows"] += s.n_rows
        for key in ("splice_type", "pred_type", "sampling_stratum"):
            for k, v in getattr(s, key).items():
                out[key][k] += v
        for t, counts in s.streams.items():
            for k, v in counts.items():
                out["streams"][t][k] += v
    return out


def _merge_counts(parts: list[dict]) -> dict:
    total = _sum_counts([])
    for part in parts:
        total["rows"] += part["rows"]
        for key in ("splice_type", "pred_type", "sampling_stratum"):
            for k, v in part[key].items():
                total[key][k] += v
        for t, counts in part["streams"].items():
            for k, v in counts.items():
                total["streams"][t][k] += v
    return total


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def _finish(out_dir: Path, batch_files: list[Path], state: dict, params: BuildParams, n_resumed: int,
            seconds: float, n_unbuilt: int) -> BuildResult:
    import pandas as pd

    metas = [json.loads(p.with_suffix(".json").read_text()) for p in batch_files]
    with atomic_dir(out_dir / "master") as tmp:
        for path in batch_files:
            _link_or_copy(path, tmp / path.name)
    manifest = pd.DataFrame([row for m in metas for row in m["manifest"]],
                            columns=["gene_id", "chrom", "strand", "gene_start", "gene_end", "n_rows", "file"])
    write_csv(out_dir / MANIFEST_FILE, manifest)
    counts = _merge_counts([m["counts"] for m in metas])
    counts.update({"genes": len(manifest), "nucleotides": sum(m["nucleotides"] for m in metas),
                   "annotated_genes_not_built": n_unbuilt})
    card = {
        "format": "gpumeta-dataset/1", "created_by": f"gpumeta {__version__} build",
        # Top-level all_positions: readers (gpumeta.dataset) treat a dataset as sampled unless it says so.
        "all_positions": params.all_positions,
        "inputs": state["inputs"], "base_model": state["base_model"], "parameters": state["parameters"],
        "counts": counts, "columns": output_schema(params).names, "pred_type_definition": PRED_TYPE_DEFINITION,
        "batches": [f"master/{p.name}" for p in batch_files],
    }
    write_json(out_dir / CARD_FILE, card)
    return BuildResult(out_dir, out_dir / "master", [out_dir / "master" / p.name for p in batch_files],
                       out_dir / MANIFEST_FILE, out_dir / CARD_FILE, len(manifest), counts["rows"], counts,
                       n_resumed, seconds)
