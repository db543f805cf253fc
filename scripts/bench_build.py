"""Speed of `gpumeta build` on a synthetic genome: nucleotides per second per core.

Reports, for the sampled build (default parameters) and for --all-positions:
  compute  labelling + sampling + features of every gene (rows.gene_rows + assembly into Arrow; no I/O)
  build    the whole build_dataset call (input checks, checksums, Parquet writes, master/, card)
Per core = nucleotides / CPU seconds of this (single-threaded) process, so a busy shared machine does
not distort it; wall seconds are reported beside.
Usage: python scripts/bench_build.py [--genes 200] [--device cpu] [--workdir DIR]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, honestly
    os.environ.setdefault(_var, "1")

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from gpumeta.backend import get_backend
from gpumeta.builder import BuildParams, build_dataset
from gpumeta.builder.annotation import gene_sites, read_annotation
from gpumeta.builder.fasta import Genome
from gpumeta.builder.gene_structure import gene_structure, overlap_counts
from gpumeta.builder.predictions import Predictions, gene_tracks
from gpumeta.builder.rows import GeneSummary, assemble, gene_rows
from gpumeta.builder.sequence import gene_sequence
from gpumeta.synth import synth_genome


def compute_only(synth, params: BuildParams, backend) -> tuple[int, int, float]:
    """(nucleotides, rows, cpu seconds, wall seconds) of labelling + features, inputs preloaded."""
    genome, genes = Genome(synth.fasta), read_annotation(synth.gtf)
    source = Predictions(synth.predictions)
    ids = source.check(genes)
    frames = source.load(ids)
    overlaps = overlap_counts(genes.values())
    prepared = []
    for g in ids:
        gene = genes[g]
        sites = gene_sites(gene)
        prepared.append((gene, sites, gene_tracks(gene, frames[g]), gene_sequence(genome, gene, params.flank),
                         gene_structure(gene, sites, overlaps[g])))
    started, cpu = time.perf_counter(), time.process_time()
    rows, buffered = 0, []
    for gene, sites, tracks, codes, structure in prepared:  # as the builder does: Arrow tables per chunk
        buffered += gene_rows(gene, sites, tracks, codes, params.flank, structure, params, backend, GeneSummary())
        if sum(b["n_rows"] for b in buffered) >= params.chunk_rows:
            rows += assemble(buffered, params).num_rows
            buffered = []
    rows += assemble(buffered, params).num_rows if buffered else 0
    return (sum(p[0].length for p in prepared), rows, time.process_time() - cpu,
            time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--modes", default="sampled,all_positions", help="comma-separated: sampled,all_positions")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gpumeta-bench-build-"))
    synth = synth_genome(work / "synth", n_genes=args.genes, seed=0)
    backend = get_backend(args.device)
    report = {"genes": args.genes, "device": backend.name}
    modes = {"sampled": {}, "all_positions": {"all_positions": True}}
    for mode in args.modes.split(","):
        kwargs = modes[mode]
        params = BuildParams.from_kwargs(**kwargs)
        compute_only(synth, params, backend)  # warm-up (imports, caches)
        nt, rows, cpu, wall = compute_only(synth, params, backend)
        out = work / f"ds_{mode}"
        shutil.rmtree(out, ignore_errors=True)
        started, build_cpu = time.perf_counter(), time.process_time()
        result = build_dataset(synth.fasta, synth.gtf, out, predictions=synth.predictions, device=args.device,
                               **kwargs)
        build_cpu, total = time.process_time() - build_cpu, time.perf_counter() - started
        report[mode] = {"nucleotides": nt, "rows": rows, "compute_cpu_s": round(cpu, 3),
                        "compute_wall_s": round(wall, 3), "compute_nt_per_cpu_s": round(nt / cpu),
                        "build_cpu_s": round(build_cpu, 3), "build_wall_s": round(total, 3),
                        "build_nt_per_cpu_s": round(nt / build_cpu), "dataset_rows": result.n_rows}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
