"""`annotate`: a model + a genome + regions + base-model scores -> meta-corrected scores of every nucleotide.

Layout written under OUT:
  nucleotides/part_00001.parquet  one row per nucleotide of each region of the batch: chrom, position,
                                  strand, gene_id, base_/meta_ neither|donor|acceptor, rescored (and
                                  annotated_type with an annotation); written atomically per batch
  batches/part_00001.json         the batch's per-gene summary and site calls (written after its Parquet:
                                  together they mark the batch done; a rerun skips it)
  annotate_state.json             inputs, options and batch plan, for resume
  site_calls.tsv                  per gene, every nucleotide called by either model: base call beside meta call
  meta_sites.bed, base_sites.bed  site calls at the model's tuned thresholds (BED6 + gene_id)
  gene_summary.tsv                per gene: nucleotides, re-scored, sites called by base and meta, changes
  tracks/                         bedGraph and bigWig of meta and base donor/acceptor scores per strand
  evaluation.json, evaluation_per_gene.tsv   with an annotation: base vs meta on genes the model did not train on
  annotate_card.json              inputs, recipe, options, counts; written last: the run is complete when it exists

Selective mode (default) re-scores only nucleotides where max(donor, acceptor) base score >= `floor` (the
recipe's hard-negative threshold by default) and those within the recipe's context width of one; every
other nucleotide keeps its base scores. `all_positions=True` re-scores every nucleotide.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import __version__
from ..atomic import atomic_path, remove_outputs, resume_state, write_csv, write_json, write_text
from ..backend import get_backend
from ..builder.annotation import Gene, gene_sites, read_annotation
from ..builder.builder import sha256_file
from ..builder.fasta import Genome
from ..builder.gene_structure import overlap_counts
from ..builder.predictions import Predictions, gene_tracks
from ..builder.sequence import gene_sequence
from ..errors import GpumetaError
from ..model import decide, load_model
from ..progress import Timings
from ..schema import LABELS
from . import regions as region_io
from .features import NEED_ANNOTATION, chunks, feature_matrix, features_at, region_structure
from .recipe import recipe_params
from .tracks import write_tracks

STATE_FILE = "annotate_state.json"
CARD_FILE = "annotate_card.json"
#: Everything annotate owns under OUT (what overwrite removes; nothing else is touched).
OWNED = ("nucleotides", "batches", "predictions", "tracks", STATE_FILE, CARD_FILE, "site_calls.tsv",
         "meta_sites.bed", "base_sites.bed", "gene_summary.tsv", "evaluation.json", "evaluation_per_gene.tsv")
BASE_MODELS = ("spliceai",)
_CALL_NAMES = np.asarray(LABELS, dtype=object)


@dataclass
class AnnotateResult:
    out_dir: Path
    card: Path
    n_genes: int
    n_nucleotides: int
    n_rescored: int
    calls: dict
    evaluation: dict | None = None
    resumed_batches: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


@dataclass
class RegionScores:
    """One region's probabilities in genomic order: base and meta (n, 3) in LABELS order, and which
    nucleotides the meta-model re-scored."""

    base: np.ndarray
    meta: np.ndarray
    rescored: np.ndarray


def rescore_mask(donor: np.ndarray, acceptor: np.ndarray, floor: float, context: int, xp):
    """Nucleotides the base model is unsure of (max(donor, acceptor) >= floor) and those within +-context."""
    unsure = xp.maximum(donor, acceptor) >= floor
    if context <= 0:
        return unsure
    # A dilation by +-context: a nucleotide is kept when any unsure one lies within the window.
    counts = xp.cumsum(xp.concatenate([xp.zeros(context + 1, dtype=xp.int64), unsure.astype(xp.int64),
                                       xp.zeros(context, dtype=xp.int64)]))
    return (counts[2 * context + 1:] - counts[: -2 * context - 1]) > 0


def score_regions(model, genes: list[Gene], frames: dict, genome: Genome, params, floor: float | None,
                  overlaps: dict, backend, timings: Timings | None = None) -> list[RegionScores]:
    """Base and meta probabilities of each region; `floor=None` re-scores every nucleotide.

    Feature rows of consecutive regions are predicted together, up to `params.chunk_rows` at a time: one
    xgboost call per chunk rather than per region (on a busy machine each call's thread start-up costs
    more than a few thousand rows). `timings` collects seconds spent on features and on prediction.
    """
    timings = timings or Timings()
    xp = backend.xp
    metas, rescored, bases = [], [], []
    pending: list[tuple[int, np.ndarray, object]] = []

    def predict_pending() -> None:
        if not pending:
            return
        X = pending[0][2] if len(pending) == 1 else xp.concatenate([x for _, _, x in pending])
        with timings.measure("predict"):
            proba = model.predict_proba(X).astype(np.float32)
        lo = 0
        for k, idx, _ in pending:
            metas[k][idx] = proba[lo: lo + len(idx)]
            lo += len(idx)
        pending.clear()

    for k, gene in enumerate(genes):
        host = gene_tracks(gene, frames[gene.gene_id])  # transcript order
        tracks = tuple(backend.asarray(t) for t in host)
        if floor is None:
            idx = xp.arange(gene.length)
        else:
            idx = xp.nonzero(rescore_mask(tracks[0], tracks[1], floor, params.context_width, xp))[0]
        bases.append(np.stack([host[2], host[0], host[1]], axis=1))  # LABELS order: neither, donor, acceptor
        metas.append(bases[-1].copy())
        rescored.append(np.zeros(gene.length, dtype=bool))
        rescored[-1][backend.to_host(idx)] = True
        if not int(idx.shape[0]):
            continue
        codes = backend.asarray(gene_sequence(genome, gene, params.flank))
        structure = region_structure(gene, params, overlaps.get(gene.gene_id))
        kmer_cache: dict = {}
        for part in chunks(idx, params.chunk_rows):
            with timings.measure("features"):
                cols = features_at(tracks, codes, part, gene.length, structure, params, backend, kmer_cache)
                pending.append((k, backend.to_host(part), feature_matrix(cols, model.feature_names,
                                                                         int(part.shape[0]), backend)))
            if sum(len(i) for _, i, _ in pending) >= params.chunk_rows:
                predict_pending()
    predict_pending()
    out = []
    for gene, base, meta, mask in zip(genes, bases, metas, rescored):
        step = -1 if gene.strand == "-" else 1  # transcript order -> genomic order
        out.append(RegionScores(np.ascontiguousarray(base[::step]), np.ascontiguousarray(meta[::step]),
                                np.ascontiguousarray(mask[::step])))
    return out


def annotated_types(gene: Gene, convention: str) -> np.ndarray:
    """Truth codes (LABELS) per nucleotide in genomic order; a nucleotide that is both is a donor, as the
    builder labels it."""
    sites = gene_sites(gene, convention)
    y = np.zeros(gene.length, dtype=np.int8)
    y[sites.acceptor - gene.start] = LABELS.index("acceptor")
    y[sites.donor - gene.start] = LABELS.index("donor")
    return y


def annotate(model, fasta, out_dir, *, annotation=None, regions=None, genes: list[str] | None = None,
             predictions=None, base_model: str | None = None, all_positions: bool = False,
             floor: float | None = None, batch_size: int = 50, chunk_rows: int | None = None,
             device: str = "auto", overwrite: bool = False,
             on_batch: Callable[[int, int, Path], None] | None = None) -> AnnotateResult:
    """Score every nucleotide of the chosen regions; see the module docstring for what is written.

    Regions: genes of `annotation` (GTF/GFF3; enables evaluation), a BED of `regions`, or only `genes`
    (coordinates from the predictions); `genes` also narrows either file. Base scores: `predictions`
    (Parquet as for `gpumeta build`) or `base_model="spliceai"`. `on_batch(k, n, path)` runs after batch k.
    """
    started, timings = time.perf_counter(), Timings()
    if (predictions is None) == (base_model is None):
        raise GpumetaError("pass exactly one of --predictions DIR or --base-model spliceai")
    if base_model is not None and base_model not in BASE_MODELS:
        raise GpumetaError(f"--base-model {base_model!r} is not supported: use one of {', '.join(BASE_MODELS)}")
    if annotation is not None and regions is not None:
        raise GpumetaError("pass --annotation or --regions, not both (an annotation's genes are its regions)")
    if annotation is None and regions is None and (genes is None or predictions is None):
        raise GpumetaError("say which regions to score: --annotation GTF, --regions BED, or --genes with "
                           "--predictions (coordinates from the predictions)")
    if floor is not None and all_positions:
        raise GpumetaError("--floor chooses what selective mode re-scores; drop it with --all-positions")
    if floor is not None and not 0 <= floor <= 1:
        raise GpumetaError(f"--floor {floor} is not a probability: give a value in [0, 1]")
    if batch_size < 1:
        raise GpumetaError(f"--batch-size {batch_size}: must be >= 1")
    backend = get_backend(device)
    meta_model = load_model(model, backend)
    params = recipe_params(meta_model, model)
    if chunk_rows is not None:
        params = dataclasses.replace(params, chunk_rows=chunk_rows)
        params.validate()
    floor = None if all_positions else (params.hard_prob if floor is None else floor)
    out_dir = Path(out_dir)
    genome = Genome(fasta, params.chrom_alias)

    annotated = annotation is not None
    selected, regions_file, overlaps, source = _resolve_regions(annotation, regions, genes, predictions, genome)
    if overwrite:  # only once the inputs passed their checks
        remove_outputs(out_dir, OWNED)
    inputs = {"fasta": sha256_file(Path(fasta)), "regions": sha256_file(regions_file) if regions_file else None,
              "model": sha256_file(_manifest_file(model))}
    if base_model is not None:
        _refuse_foreign_state(out_dir, inputs)
        from ..builder.spliceai_runner import predict_genes

        predictions = predict_genes(genome, selected, out_dir / "predictions", batch_size=batch_size,
                                    fingerprint=inputs)
    source = source or Predictions(predictions)
    region_io.check_coverage(selected, source)

    inputs["predictions"] = {str(f): sha256_file(f) for f in source.files}
    plan = [[g.gene_id for g in selected[i: i + batch_size]] for i in range(0, len(selected), batch_size)]
    state = {"format": 1, "inputs": inputs, "batches": plan, "base_model": base_model,
             "options": {"floor": floor, "all_positions": all_positions, "annotated": annotated}}
    if resume_state(out_dir, STATE_FILE, state, ("inputs", "batches", "base_model", "options"),
                    ("nucleotides", CARD_FILE), "an annotate run") is None:
        write_json(out_dir / STATE_FILE, state)

    by_id = {g.gene_id: g for g in selected}
    training = set(meta_model.training_genes)
    files, n_resumed = [], 0
    for number, batch in enumerate(plan, start=1):
        path = out_dir / "nucleotides" / f"part_{number:05d}.parquet"
        side = out_dir / "batches" / f"part_{number:05d}.json"
        if path.exists() and side.exists():
            n_resumed += 1
        else:
            with timings.measure("batches"):
                _score_batch(path, side, [by_id[g] for g in batch], meta_model, genome, source, params, floor,
                             overlaps, annotated, training, backend, timings)
        files.append(path)
        if on_batch is not None:
            on_batch(number, len(plan), path)
    return _finish(out_dir, files, state, meta_model, genome, selected, annotated, training,
                   n_resumed, started, timings, model)


def _resolve_regions(annotation, regions, genes, predictions, genome) -> tuple[list[Gene], Path | None, dict,
                                                                             Predictions | None]:
    """(regions to score in genome order, the file that defined them, overlap counts of annotated genes,
    the predictions when they defined the regions), every region checked against the FASTA."""
    overlaps, source = {}, None
    if annotation is not None:
        every = read_annotation(annotation)
        where, regions_file = f"annotation {annotation}", Path(annotation)
        overlaps = overlap_counts(every.values())
    elif regions is not None:
        every, where, regions_file = region_io.read_bed(regions), f"regions {regions}", Path(regions)
    else:
        source = Predictions(predictions)
        every, where, regions_file = region_io.regions_of_predictions(source), f"predictions {predictions}", None
    selected = region_io.select(every, genes, where)
    region_io.check_inside_genome(selected, genome, where)
    return selected, regions_file, overlaps, source


def _manifest_file(model) -> Path:
    directory = Path(model)
    if not (directory / "manifest.json").exists() and (directory / "model" / "manifest.json").exists():
        directory = directory / "model"
    return directory / "manifest.json"


def _refuse_foreign_state(out_dir: Path, inputs: dict) -> None:
    """Before running a base model into OUT: refuse when OUT holds a run of other inputs."""
    path = out_dir / STATE_FILE
    if path.exists() and any(json.loads(path.read_text())["inputs"].get(k) != v for k, v in inputs.items()):
        raise GpumetaError(f"{out_dir} holds an annotate run of other inputs; pass --overwrite to start over, or "
                           "choose another output directory")



def _dictionary(values: list[str], codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values, pa.string()))


def _score_batch(path: Path, side: Path, batch: list[Gene], model, genome, source, params, floor, overlaps,
                 annotated: bool, training: set, backend, timings: Timings) -> None:
    frames = source.load([g.gene_id for g in batch])
    tables, genes, calls = [], [], []
    all_scores = score_regions(model, batch, frames, genome, params, floor, overlaps, backend, timings)
    for gene, scores in zip(batch, all_scores):
        n = gene.length
        position = np.arange(gene.start, gene.end + 1, dtype=np.int64)
        zeros = np.zeros(n, dtype=np.int32)
        columns = {"chrom": _dictionary([gene.chrom], zeros), "position": position,
                   "strand": _dictionary([gene.strand], zeros), "gene_id": _dictionary([gene.gene_id], zeros)}
        for prefix, proba in (("base", scores.base), ("meta", scores.meta)):
            for k, label in enumerate(LABELS):
                columns[f"{prefix}_{label}"] = pa.array(proba[:, k], pa.float32())
        columns["rescored"] = scores.rescored
        truth = annotated_types(gene, params.site_convention) if annotated else None
        if truth is not None:
            columns["annotated_type"] = _dictionary(list(LABELS), truth.astype(np.int32))
        tables.append(pa.table(columns))

        base_call = decide(scores.base, model.base_thresholds)
        meta_call = decide(scores.meta, model.thresholds)
        summary = {"gene_id": gene.gene_id, "chrom": gene.chrom, "strand": gene.strand, "start": gene.start,
                   "end": gene.end, "nucleotides": n, "rescored": int(scores.rescored.sum()),
                   "trained_on": gene.gene_id in training}
        for t in ("donor", "acceptor"):
            code = LABELS.index(t)
            summary[f"base_{t}"] = int((base_call == code).sum())
            summary[f"meta_{t}"] = int((meta_call == code).sum())
            if truth is not None:
                summary[f"annotated_{t}"] = int((truth == code).sum())
        summary["changed"] = int((base_call != meta_call).sum())
        genes.append(summary)
        for i in np.nonzero((base_call != 0) | (meta_call != 0))[0].tolist():
            row = {"gene_id": gene.gene_id, "chrom": gene.chrom, "strand": gene.strand,
                   "position": int(position[i]), "base_call": _CALL_NAMES[base_call[i]],
                   "meta_call": _CALL_NAMES[meta_call[i]], "change": _change(base_call[i], meta_call[i]),
                   **{f"{p}_{t}": round(float(proba[i, LABELS.index(t)]), 6)
                      for p, proba in (("base", scores.base), ("meta", scores.meta)) for t in ("donor", "acceptor")}}
            if truth is not None:
                row["annotated_type"] = _CALL_NAMES[truth[i]]
            calls.append(row)
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.concat_tables(tables, promote_options="permissive"), tmp,
                       use_dictionary=["chrom", "strand", "gene_id", "annotated_type"])
    write_json(side, {"genes": genes, "calls": calls})


def _change(base: int, meta: int) -> str:
    if base == meta:
        return "kept"
    return "gained" if base == 0 else "lost" if meta == 0 else "retyped"


def _finish(out_dir: Path, files: list[Path], state: dict, model, genome, selected, annotated: bool,
            training: set, n_resumed: int, started: float, timings: Timings, model_path) -> AnnotateResult:
    sides = [json.loads((out_dir / "batches" / f"{p.stem}.json").read_text()) for p in files]
    summary = pd.DataFrame([g for s in sides for g in s["genes"]])
    calls = pd.DataFrame([c for s in sides for c in s["calls"]])
    if calls.empty:
        calls = pd.DataFrame(columns=["gene_id", "chrom", "strand", "position", "base_call", "meta_call", "change"])
    write_csv(out_dir / "gene_summary.tsv", summary, sep="\t")
    write_csv(out_dir / "site_calls.tsv", calls, sep="\t")
    for which in ("meta", "base"):
        _write_bed(out_dir / f"{which}_sites.bed", calls, which)
    chrom_order = [c for c in dict.fromkeys(g.chrom for g in selected)]
    lengths = {c: genome.lengths[genome.fasta_name(c)] for c in chrom_order}
    with timings.measure("tracks"):
        write_tracks(files, sorted(chrom_order), lengths, out_dir / "tracks")
    with timings.measure("evaluation"):
        evaluation = _evaluate(out_dir, files, model, summary, training) if annotated else None
    n_nt, n_rescored = int(summary["nucleotides"].sum()), int(summary["rescored"].sum())
    counts = {"genes": len(summary), "nucleotides": n_nt, "rescored": n_rescored,
              "rescored_fraction": n_rescored / max(n_nt, 1),
              "genes_trained_on": int(summary["trained_on"].sum()),
              "calls": {f"{m}_{t}": int(summary[f"{m}_{t}"].sum()) for m in ("base", "meta")
                        for t in ("donor", "acceptor")},
              "nucleotides_changed": int(summary["changed"].sum())}
    missing = [] if annotated else [c for c in NEED_ANNOTATION if c in model.feature_names]
    seconds = time.perf_counter() - started
    outputs = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*")
                     if p.is_file() and not p.name.startswith(".") and "batches" not in p.parts
                     and p.name != CARD_FILE) + [CARD_FILE]
    card = {
        "format": "gpumeta-annotation/1", "created_by": f"gpumeta {__version__} annotate",
        "model": str(model_path), "recipe": model.recipe, "inputs": state["inputs"],
        "base_model": state["base_model"], "options": state["options"],
        "mode": "all-positions" if state["options"]["floor"] is None else "selective",
        "thresholds": {"meta": model.thresholds, "base": model.base_thresholds},
        "features_missing": missing, "counts": counts,
        "evaluation": None if evaluation is None else {k: evaluation[k] for k in ("n_genes", "macro_f1", "top_k")},
        "seconds": round(seconds, 3), "timings": {k: round(v, 3) for k, v in timings.seconds.items()},
        "nucleotides_per_second": n_nt / max(seconds, 1e-9),
        "outputs": outputs,
    }
    write_json(out_dir / CARD_FILE, card)
    return AnnotateResult(out_dir, out_dir / CARD_FILE, len(summary), n_nt, n_rescored, counts["calls"], evaluation,
                          n_resumed, seconds, outputs)


def _write_bed(path: Path, calls: pd.DataFrame, which: str) -> None:
    called = calls[calls[f"{which}_call"] != "neither"] if len(calls) else calls
    lines = []
    for row in called.itertuples(index=False):
        kind = getattr(row, f"{which}_call")
        prob = getattr(row, f"{which}_{kind}")
        lines.append(f"{row.chrom}\t{row.position - 1}\t{row.position}\t{kind}\t{round(1000 * prob)}\t"
                     f"{row.strand}\t{row.gene_id}\n")
    write_text(path, "".join(lines))


def _evaluate(out_dir: Path, files: list[Path], model, summary: pd.DataFrame, training: set) -> dict | None:
    """Base vs meta on every nucleotide of the genes the model did not train on."""
    import pyarrow.dataset as ds

    from ..evaluate.metrics import evaluate_predictions

    held_out = sorted(set(summary["gene_id"]) - training)
    if not held_out:
        write_json(out_dir / "evaluation.json", {"skipped": "every scored gene is a training gene of the model"})
        return None
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(
        columns=["gene_id", "annotated_type", *(f"{p}_{c}" for p in ("base", "meta") for c in LABELS)],
        filter=ds.field("gene_id").isin(held_out))

    def strings(name):
        return table.column(name).cast(pa.string()).to_numpy(zero_copy_only=False)

    def proba(prefix):
        return np.stack([table.column(f"{prefix}_{c}").to_numpy() for c in LABELS], axis=1).astype(np.float64)

    y = pd.Categorical(strings("annotated_type"), categories=list(LABELS)).codes.astype(np.int64)
    result, per_gene = evaluate_predictions(y, proba("base"), proba("meta"), strings("gene_id"),
                                            model.base_thresholds, model.thresholds)
    result["excluded_training_genes"] = sorted(set(summary["gene_id"]) & training)
    write_json(out_dir / "evaluation.json", result)
    write_csv(out_dir / "evaluation_per_gene.tsv", per_gene, sep="\t")
    return result
