"""Benchmark of `gpumeta annotate`: nucleotides per second end to end on synthetic genes, selective mode
with the annotation (held-out evaluation included), selective mode on the genes alone (no annotation, so no
evaluation), and all-positions for comparison; plus a figure of one held-out gene (base vs meta scores,
annotated sites).

    PYTHONPATH=$PWD python scripts/bench_annotate.py --genes 200 --figure docs/annotate_example.png

A small model is fitted on 40 % of the genes (the builder's sampled dataset, gpumeta's one-vs-rest fitter);
the other genes are held out. Prints one JSON object: throughput, wall and CPU seconds (all threads) of each
run, re-scored fraction, per-stage seconds, how far selective and all-positions differ, and the load
average before and after (the machine may be shared: CPU seconds beside wall say how much of it this got).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def fit_model(genome, work: Path, train_genes: list[str], device: str, nthread: int) -> Path:
    from gpumeta.annotate import recipe_of_dataset
    from gpumeta.builder import build_dataset
    from gpumeta.dataset import load_dataset
    from gpumeta.learners import get_algorithm
    from gpumeta.model import MetaModel
    from gpumeta.schema import is_probability_feature
    from gpumeta.train.fit import fit_one_vs_rest

    build_dataset(genome.fasta, genome.gtf, work / "ds", predictions=genome.predictions, device=device,
                  genes=train_genes)
    data = load_dataset(work / "ds", device)
    features = list(data.feature_names)
    logit = [f for f in features if is_probability_feature(f)]
    cut = int(0.8 * len(train_genes))
    learner = get_algorithm("xgboost", {"n_estimators": 200, "early_stopping_rounds": 20})
    models = fit_one_vs_rest(learner, data.backend, data.X, data.y, data.rows_of(train_genes[:cut]),
                             data.rows_of(train_genes[cut:]), [features.index(f) for f in logit], seed=0,
                             nthread=nthread)
    model = MetaModel(learners=models, feature_names=features, logit_features=logit,
                      training_genes=train_genes, recipe=recipe_of_dataset(work / "ds"))
    return model.save(work / "model")


def differences(selective: Path, every: Path) -> dict:
    a = pd.read_parquet(selective / "nucleotides").sort_values(["gene_id", "position"], ignore_index=True)
    b = pd.read_parquet(every / "nucleotides").sort_values(["gene_id", "position"], ignore_index=True)
    gap = np.abs(a[["meta_donor", "meta_acceptor"]].to_numpy() - b[["meta_donor", "meta_acceptor"]].to_numpy())
    calls = {p: pd.read_csv(p / "site_calls.tsv", sep="\t") for p in (selective, every)}
    keys = {p: set(zip(c.gene_id, c.position, c.meta_call)) - {k for k in zip(c.gene_id, c.position, c.meta_call)
                                                                 if k[2] == "neither"} for p, c in calls.items()}
    return {"max_abs_meta_site_prob_difference": float(gap.max()),
            "nucleotides_differing_by_more_than_0.01": int((gap.max(axis=1) > 0.01).sum()),
            "meta_calls_only_in_selective": len(keys[selective] - keys[every]),
            "meta_calls_only_in_all_positions": len(keys[every] - keys[selective])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nthread", type=int, default=2)
    parser.add_argument("--floor", type=float, default=None, help="selective floor (default: the recipe's)")
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.nthread))
    from gpumeta.annotate import annotate
    from gpumeta.builder.annotation import read_annotation
    from gpumeta.synth import synth_genome

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    genome = synth_genome(work / "genome", n_genes=args.genes, seed=args.seed)
    genes = sorted(read_annotation(genome.gtf))
    train_genes = genes[: max(5, int(0.4 * len(genes)))]
    model = fit_model(genome, work, train_genes, args.device, args.nthread)

    runs = {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    for mode, kwargs in (("selective", {"annotation": genome.gtf, "floor": args.floor}),
                         ("selective_no_annotation", {"genes": genes, "floor": args.floor}),
                         ("all_positions", {"annotation": genome.gtf, "all_positions": True})):
        started, cpu = time.perf_counter(), time.process_time()
        result = annotate(model, genome.fasta, work / mode, predictions=genome.predictions, device=args.device,
                          overwrite=True, **kwargs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        card = json.loads(result.card.read_text())
        runs[mode] = {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "nucleotides": result.n_nucleotides,
                      "nt_per_second": round(result.n_nucleotides / seconds), "rescored": result.n_rescored,
                      "rescored_fraction": round(result.n_rescored / result.n_nucleotides, 4),
                      "stage_seconds": card["timings"],
                      "meta_macro_f1": result.evaluation["macro_f1"] if result.evaluation else None}
    report = {"genes": len(genes), "held_out_genes": len(genes) - len(train_genes), "device": args.device,
              "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "cpus": os.cpu_count(), **runs,
              "selective_vs_all_positions": differences(work / "selective", work / "all_positions")}
    if args.figure is not None:
        from gpumeta.annotate.figure import pick_gene, plot_gene

        gene = pick_gene(work / "selective", genes[len(train_genes):])
        plot_gene(work / "selective", gene, args.figure, note="held out, synthetic")
        report["figure"] = {"path": str(args.figure), "gene": gene}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
