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
  decoded_sites.bed               the meta-model's calls decoded by the gene structure train fitted
                                  (gpumeta.structure; score: 1000 x posterior), when the model has one
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import __version__
from ..atomic import atomic_path, remove_outputs, resume_state, write_csv, write_json
from ..backend import get_backend
from ..builder.annotation import Gene, read_annotation
from ..builder.builder import sha256_file
from ..builder.fasta import Genome
from ..builder.gene_structure import overlap_counts
from ..builder.predictions import Predictions
from ..errors import GpumetaError
from ..model import decide, load_model
from ..progress import Timings
from ..schema import LABELS
from . import regions as region_io
from .features import NEED_ANNOTATION
from .recipe import recipe_params
from .scoring import BatchScores, annotated_types, base_scores, score_batch
from .tracks import COLUMNS as TRACK_COLUMNS
from .tracks import TrackStream, dictionary_parts

STATE_FILE = "annotate_state.json"
CARD_FILE = "annotate_card.json"
#: Everything annotate owns under OUT (what overwrite removes; nothing else is touched).
OWNED = ("nucleotides", "batches", "predictions", "tracks", STATE_FILE, CARD_FILE, "site_calls.tsv",
         "meta_sites.bed", "base_sites.bed", "gene_summary.tsv", "evaluation.json", "evaluation_per_gene.tsv")
BASE_MODELS = ("spliceai",)
#: Peak memory of the held-out evaluation per nucleotide it reads back (measured: 157 bytes at 2.66 M
#: nucleotides), and the share of the available memory it may take (`evaluated_genes`).
EVALUATION_BYTES_PER_NT = 160
EVALUATION_MEMORY_SHARE = 0.25
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
    started, timings = (time.perf_counter(), time.process_time()), Timings()
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
    files = [out_dir / "nucleotides" / f"part_{number:05d}.parquet" for number in range(1, len(plan) + 1)]
    # Where the next batch starts: the tracks write everything before it (regions are in genome order).
    next_regions = [(by_id[b[0]].chrom, by_id[b[0]].start) for b in plan[1:]] + [None]
    chroms = sorted({g.chrom for g in selected})
    n_resumed = 0
    with TrackStream(out_dir / "tracks", chroms, {c: genome.lengths[genome.fasta_name(c)] for c in chroms}) as tracks:
        with _Writes(files, on_batch) as writes:
            for batch, path, next_region in zip(plan, files, next_regions):
                side = out_dir / "batches" / f"{path.stem}.json"
                if path.exists() and side.exists():
                    n_resumed += 1
                    writes.submit(_feed_finished_batch, tracks, path, next_region, timings)
                    continue
                with timings.measure("batches"):
                    scores = _score_batch([by_id[g] for g in batch], meta_model, genome, source, params, floor,
                                          overlaps, backend, timings)
                writes.submit(_write_batch, path, side, scores, meta_model, params, annotated, training,
                              tracks, next_region, timings)
        return _finish(out_dir, files, state, meta_model, selected, annotated, training, tracks,
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


class _Writes:
    """Batches written on a second thread while the next one is scored (Arrow's Parquet writer and
    xgboost release the GIL, so the two overlap on a 2-core machine). At most one batch waits to be
    written (memory: two batches); `on_batch(k, n, path)` runs in batch order once batch k is on disk."""

    def __init__(self, files: list[Path], on_batch: Callable[[int, int, Path], None] | None):
        self.files, self.on_batch = files, on_batch
        self.pending: list = []  # per batch: its write's future (a batch on disk already: its tracks' feed)
        self.reported = 0

    def __enter__(self) -> _Writes:
        self.executor = ThreadPoolExecutor(max_workers=1)
        return self

    def submit(self, write, *args) -> None:
        self._report(len(self.pending))
        self.pending.append(self.executor.submit(write, *args))

    def _report(self, upto: int) -> None:
        while self.reported < upto:
            self.pending[self.reported].result()  # a failed write raises here
            self.reported += 1
            if self.on_batch is not None:
                self.on_batch(self.reported, len(self.files), self.files[self.reported - 1])

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                self._report(len(self.pending))
        finally:
            self.executor.shutdown(wait=True)  # an interrupted run still finishes the batch being written


def _score_batch(batch: list[Gene], model, genome, source, params, floor, overlaps, backend,
                 timings: Timings) -> BatchScores:
    """Base scores of one batch from the predictions (its own row groups only), and the meta-model's."""
    with timings.measure("load"):
        offsets, base = base_scores(source.rows_of(g.gene_id for g in batch), batch)
    return score_batch(model, batch, offsets, base, genome, params, floor, overlaps, backend, timings)


def _feed_tracks(tracks: TrackStream, table: pa.Table, next_region, timings: Timings) -> None:
    with timings.measure("tracks"):
        tracks.feed(table, next_region)


def _feed_finished_batch(tracks: TrackStream, path: Path, next_region, timings: Timings) -> None:
    """A batch on disk from an earlier run: its tracks from its Parquet."""
    import pyarrow.parquet as pq

    _feed_tracks(tracks, pq.read_table(path, columns=list(TRACK_COLUMNS)), next_region, timings)


def _write_batch(path: Path, side: Path, scores: BatchScores, model, params, annotated: bool, training: set,
                 tracks: TrackStream, next_region, timings: Timings) -> None:
    """Write one scored batch's Parquet, then its side file (per-gene summary and site calls, by column):
    together they mark the batch done; then feed its scores to the tracks. Every step is array code over
    the whole batch."""
    import pyarrow.parquet as pq

    batch = scores.genes
    with timings.measure("write"):
        truth = annotated_types(scores, params.site_convention) if annotated else None
        region = scores.region_of_rows()
        position = scores.positions()
        chroms = list(dict.fromkeys(g.chrom for g in batch))
        columns = {"chrom": _dictionary(chroms, np.array([chroms.index(g.chrom) for g in batch])[region]),
                   "position": position,
                   "strand": _dictionary(["+", "-"], np.array([g.strand == "-" for g in batch])[region]),
                   "gene_id": _dictionary([g.gene_id for g in batch], region)}
        for prefix, proba in (("base", scores.base), ("meta", scores.meta)):
            for k, label in enumerate(LABELS):
                columns[f"{prefix}_{label}"] = pa.array(proba[:, k], pa.float32())
        columns["rescored"] = scores.rescored
        if truth is not None:
            columns["annotated_type"] = _dictionary(list(LABELS), truth)
        table = pa.table(columns)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, use_dictionary=["chrom", "strand", "gene_id", "annotated_type"])
        calls = {"base": (decide(scores.base, model.base_thresholds), scores.base),
                 "meta": (decide(scores.meta, model.thresholds), scores.meta)}
        if "meta" in model.gene_structure:
            calls["decoded"] = _decoded_calls(model, scores, region, position)
        write_json(side, {"genes": _gene_summary(scores, truth, calls, training),
                          "calls": _site_calls(scores, truth, calls, region, position)})
    _feed_tracks(tracks, table.select(list(TRACK_COLUMNS)), next_region, timings)


def _decoded_calls(model, scores: BatchScores, region: np.ndarray, position: np.ndarray) -> tuple:
    """The meta-model's calls decoded by the gene structure train fitted (gpumeta.structure), each region a
    gene read 5' to 3', and the posteriors (n, 3: 0 for neither) behind them."""
    minus = np.array([g.strand == "-" for g in scores.genes])[region]
    return model.decoded_calls(region, np.where(minus, -position, position), scores.meta)


def _gene_summary(scores: BatchScores, truth: np.ndarray | None, calls: dict, training: set) -> dict[str, list]:
    """Per gene of the batch, by column: nucleotides, re-scored, sites called by each call set (base, meta,
    and decoded when the model has a gene structure) and annotated, nucleotides whose base and meta calls
    differ. `calls`: {name: (label codes of every row, probabilities)}."""
    genes = scores.genes
    base_call, meta_call = calls["base"][0], calls["meta"][0]
    summary = {"gene_id": [g.gene_id for g in genes], "chrom": [g.chrom for g in genes],
               "strand": [g.strand for g in genes], "start": [g.start for g in genes],
               "end": [g.end for g in genes], "nucleotides": scores.lengths.tolist(),
               "rescored": scores.per_region(scores.rescored).tolist(),
               "trained_on": [g.gene_id in training for g in genes]}
    for t in ("donor", "acceptor"):
        code = LABELS.index(t)
        for name, (called, _) in calls.items():
            summary[f"{name}_{t}"] = scores.per_region(called == code).tolist()
        if truth is not None:
            summary[f"annotated_{t}"] = scores.per_region(truth == code).tolist()
    summary["changed"] = scores.per_region(base_call != meta_call).tolist()
    return summary


def _site_calls(scores: BatchScores, truth: np.ndarray | None, calls: dict, region: np.ndarray,
                position: np.ndarray) -> dict[str, list]:
    """Every nucleotide any call set calls, by column: base call beside meta call (at the model's tuned
    thresholds) and the decoded call (when the model has a gene structure), what changed from base to meta,
    and each set's site probabilities (the decoded set's: its posteriors)."""
    rows = np.flatnonzero(np.any([called != 0 for called, _ in calls.values()], axis=0))
    b, m = calls["base"][0][rows], calls["meta"][0][rows]
    genes = [scores.genes[k] for k in region[rows].tolist()]
    table = {"gene_id": [g.gene_id for g in genes], "chrom": [g.chrom for g in genes],
             "strand": [g.strand for g in genes], "position": position[rows].tolist(),
             **{f"{name}_call": _CALL_NAMES[called[rows]].tolist() for name, (called, _) in calls.items()},
             "change": np.select([b == m, b == 0, m == 0], ["kept", "gained", "lost"], "retyped").tolist()}
    for name, (_, proba) in calls.items():
        for t in ("donor", "acceptor"):
            table[f"{name}_{t}"] = np.round(proba[rows, LABELS.index(t)].astype(np.float64), 6).tolist()
    if truth is not None:
        table["annotated_type"] = _CALL_NAMES[truth[rows]].tolist()
    return table


def _finish(out_dir: Path, files: list[Path], state: dict, model, selected, annotated: bool, training: set,
            tracks: TrackStream, n_resumed: int, started: tuple[float, float], timings: Timings,
            model_path) -> AnnotateResult:
    sides = [json.loads((out_dir / "batches" / f"{p.stem}.json").read_text()) for p in files]
    summary = pd.concat([pd.DataFrame(s["genes"]) for s in sides], ignore_index=True)
    calls = pd.concat([pd.DataFrame(s["calls"]) for s in sides], ignore_index=True)
    write_csv(out_dir / "gene_summary.tsv", summary, sep="\t")
    write_csv(out_dir / "site_calls.tsv", calls, sep="\t")
    for which in ("meta", "base", "decoded"):
        if f"{which}_call" in calls:
            _write_bed(out_dir / f"{which}_sites.bed", calls, which)
    def evaluate() -> dict | None:
        with timings.measure("evaluation"):
            return _evaluate(out_dir, files, model, summary, training)

    # The evaluation (NumPy sorts, which release the GIL) runs beside the tracks' last step (pyBigWig's
    # zoom levels).
    with ThreadPoolExecutor(max_workers=1) as pool:
        evaluating = pool.submit(evaluate) if annotated else None
        with timings.measure("tracks"):
            tracks.close()
        evaluation = evaluating.result() if evaluating is not None else None
    n_nt, n_rescored = int(summary["nucleotides"].sum()), int(summary["rescored"].sum())
    counts = {"genes": len(summary), "nucleotides": n_nt, "rescored": n_rescored,
              "rescored_fraction": n_rescored / max(n_nt, 1),
              "genes_trained_on": int(summary["trained_on"].sum()),
              "calls": {f"{m}_{t}": int(summary[f"{m}_{t}"].sum()) for m in ("base", "meta", "decoded")
                        for t in ("donor", "acceptor") if f"{m}_{t}" in summary},
              "nucleotides_changed": int(summary["changed"].sum())}
    missing = [] if annotated else [c for c in NEED_ANNOTATION if c in model.feature_names]
    seconds, cpu_seconds = time.perf_counter() - started[0], time.process_time() - started[1]
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
        "evaluation": None if evaluation is None else {k: evaluation[k] for k in ("n_genes", "macro_f1", "top_k",
                                                                                    "sample")},
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
        "timings": {k: round(v, 3) for k, v in timings.seconds.items()},
        "nucleotides_per_second": n_nt / max(seconds, 1e-9),
        "outputs": outputs,
    }
    write_json(out_dir / CARD_FILE, card)
    return AnnotateResult(out_dir, out_dir / CARD_FILE, len(summary), n_nt, n_rescored, counts["calls"], evaluation,
                          n_resumed, seconds, outputs)


def _write_bed(path: Path, calls: pd.DataFrame, which: str) -> None:
    """BED6 + gene_id of one model's calls: type as name, 1000 x its probability as score."""
    called = calls[calls[f"{which}_call"] != "neither"]
    kind = called[f"{which}_call"].to_numpy()
    prob = np.where(kind == "donor", called[f"{which}_donor"], called[f"{which}_acceptor"])
    bed = pd.DataFrame({"chrom": called["chrom"], "start": called["position"] - 1, "end": called["position"],
                        "name": kind, "score": np.round(1000 * prob.astype(np.float64)).astype(np.int64),
                        "strand": called["strand"], "gene_id": called["gene_id"]})
    write_csv(path, bed, sep="\t", header=False)


def evaluated_genes(summary: pd.DataFrame, held_out: list[str], seed: int = 0) -> tuple[list[str], dict | None]:
    """The held-out genes the evaluation reads back, and what was left out (None: every one).

    The evaluation holds its genes' nucleotides in memory at once (ranking figures need all of them), about
    `EVALUATION_BYTES_PER_NT` each at its peak; where that would exceed `EVALUATION_MEMORY_SHARE` of the
    available memory (a genome's worth of genes), it takes a seeded sample of whole genes that fits, and
    says so, rather than run out of memory after the scoring."""
    import psutil

    sizes = summary.set_index("gene_id")["nucleotides"].reindex(held_out).to_numpy(np.int64)
    budget = int(psutil.virtual_memory().available * EVALUATION_MEMORY_SHARE / EVALUATION_BYTES_PER_NT)
    if sizes.sum() <= budget:
        return held_out, None
    order = np.random.default_rng(seed).permutation(len(held_out))
    fits = order[: max(1, int(np.searchsorted(np.cumsum(sizes[order]), budget, side="right")))]  # one at least
    chosen = sorted(np.asarray(held_out, dtype=object)[fits].tolist())
    need_gb = sizes.sum() * EVALUATION_BYTES_PER_NT / 1e9
    return chosen, {"held_out_genes": len(held_out), "held_out_nucleotides": int(sizes.sum()),
                    "evaluated_genes": len(chosen), "evaluated_nucleotides": int(sizes[fits].sum()), "seed": seed,
                    "why": f"every held-out nucleotide would take about {need_gb:.1f} GB, over "
                           f"{EVALUATION_MEMORY_SHARE:.0%} of the available memory: a seeded sample of whole genes "
                           "is evaluated"}


def _evaluate(out_dir: Path, files: list[Path], model, summary: pd.DataFrame, training: set) -> dict | None:
    """Base vs meta on every nucleotide of the genes the model did not train on (`evaluated_genes`)."""
    import pyarrow.dataset as ds

    from ..evaluate.metrics import evaluate_predictions

    held_out = sorted(set(summary["gene_id"]) - training)
    if not held_out:
        write_json(out_dir / "evaluation.json", {"skipped": "every scored gene is a training gene of the model"})
        return None
    held_out, sample = evaluated_genes(summary, held_out)
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(
        columns=["gene_id", "annotated_type", *(f"{p}_{c}" for p in ("base", "meta") for c in LABELS)],
        filter=ds.field("gene_id").isin(held_out))

    def proba(prefix):  # float32 as written: the metrics take it as it is
        return np.stack([table.column(f"{prefix}_{c}").to_numpy() for c in LABELS], axis=1)

    # Both text columns were written as dictionaries: decode through them, not a Python string per row.
    labels, label_index = dictionary_parts(table.column("annotated_type"))
    y = np.array([LABELS.index(v) for v in labels], dtype=np.int64)[label_index]
    genes, gene_index = dictionary_parts(table.column("gene_id"))
    gene_ids = pd.Categorical.from_codes(gene_index, categories=genes)
    result, per_gene = evaluate_predictions(y, proba("base"), proba("meta"), gene_ids, model.base_thresholds,
                                            model.thresholds)
    result["excluded_training_genes"] = sorted(set(summary["gene_id"]) & training)
    result["sample"] = sample
    write_json(out_dir / "evaluation.json", result)
    write_csv(out_dir / "evaluation_per_gene.tsv", per_gene, sep="\t")
    return result
