"""Benchmark `gpumeta train`: share of wall time inside xgboost, overhead vs plain xgboost, peak memory.

Usage:
  python scripts/bench_train.py [--genes 1000] [--window 2] [--device cpu|cuda] [--out DIR] [--skip-shap]
                                [--config FILE]

Steps, each measured in this one run:
1. A synthetic dataset (`synth_dataset`, ~400 rows per gene; `--window 2` gives ~150 features) unless
   DIR/dataset exists.
2. `gpumeta train` in a fresh subprocess (production mode, default config or `--config FILE`): wall and CPU
   time (its figure workers' included) with the load average beside them (the machine may be shared), each
   phase, held-out macro F1, time inside xgboost (QuantileDMatrix construction, boosting, prediction and
   SHAP calls), peak RSS.
3. Plain xgboost on the same matrix in another fresh subprocess: the same boosters (folds + final, three
   classes) with the same parameters and the same number of rounds gpumeta ran, from a NumPy matrix, under
   the same OpenMP wait policy (gpumeta's passive default unless OMP_WAIT_POLICY is set); three times: one
   booster after another; the same logging the training and validation loss each round on the same
   validation genes (the work early stopping and the learning curves need, inside xgboost); and that with
   the CV folds side by side in threads as gpumeta fitted them (run_info's fold_concurrency).
Prints the ratios (gpumeta / plain xgboost; xgboost share of gpumeta's wall; peak RSS / float32 matrix).
Run it twice with --device cpu and --device cuda on a GPU node for the GPU/CPU ratio.

Measured (issue 10, `--genes 300 --window 2`: 123 k rows, 142 features; quiet 2-core machine, session 8):
defaults (learning_rate 0.3, patience 8, CV folds three at a time, one figure worker), SHAP in: 14.7-15.8 s
wall / 28.0-30.1 CPU-s (cross-validation 7.0-7.6, evaluation 4.4-4.7), 607 trees, held-out macro F1
0.8715 -> 0.9595; `parallel_folds: 1` 18.3-18.9 s. Plain xgboost, same boosters and rounds: one after
another 8.9-9.3 s / 13.9-14.4 CPU-s; logging the losses 10.0-10.7 s; that with the folds side by side
8.0-8.1 s, gpumeta's fitting 1.06-1.13x that. The README's benchmark table compares these with the
original trainer's 445 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TRAIN = r"""
import json, os, resource, sys, time
import gpumeta.evaluate.heldout, gpumeta.evaluate.plots, matplotlib.pyplot, xgboost
from gpumeta.train import train
baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# The figure workers' CPU time too (gpumeta.evaluate.drawing: they have exited when train returns).
cpu = lambda: sum(sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
c = cpu()
load = os.getloadavg()[0]
t = time.perf_counter()
r = train(sys.argv[1], sys.argv[2], device=sys.argv[3], overwrite=True, quiet=True,
          skip_shap=sys.argv[4] == "1", config=sys.argv[5] or None)
wall = time.perf_counter() - t
while True:  # figure workers end their teardown after train returns (drawing.py): their CPU time counts too
    try:
        os.wait()
    except ChildProcessError:
        break
cpu_s = cpu() - c
headline = r.evaluation[r.evaluation["headline"]]["macro_f1"]
# final_model "folds" fits no final model: its "final" curves are the folds' again, per instance
rounds = {name: {label: len(c["train"]["logloss"]) for label, c in curves.items()}
          for name, curves in json.load(open(sys.argv[2] + "/learning_curves.json")).items()
          if "neither" in curves}
print(json.dumps({"wall": wall, "cpu": cpu_s, "timings": r.timings, "baseline_kb": baseline_kb,
                  "folds_at_once": json.load(open(sys.argv[2] + "/run_info.json"))["fold_concurrency"]["folds_at_once"],
                  "load": [load, os.getloadavg()[0]], "f1": headline,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rounds": rounds, "features": r.model.feature_names,
                  "splits": r.splits}))
"""

PLAIN = r"""
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from gpumeta.dataset import load_dataset  # first: gpumeta sets the OpenMP wait policy before xgboost loads
from gpumeta.train.config import load_config
from gpumeta.train.strategies import threads_each
import numpy as np, xgboost as xgb
spec = json.load(open(sys.argv[2]))
data = load_dataset(sys.argv[1], "cpu" if sys.argv[3] == "cpu" else "cuda", features=spec["features"])
X = data.X
booster = load_config(sys.argv[4] or None).booster
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
c = cpu()
# 0: one booster after another; 1: the same, logging the training and validation loss each round as gpumeta's
# fits do; 2: the same, the CV folds side by side in threads as gpumeta fitted them, the cores shared out
mode = int(sys.argv[5])
watch = mode >= 1
slots = spec["folds_at_once"] if mode == 2 else 1
cores = data.backend.n_threads
folds = [(f"fold_{f['fold']}", f["train"], f["validation"]) for f in spec["splits"]["folds"]]


def fit(name, train_genes, val_genes, nthread):
    params = booster.xgb_params(data.backend.xgb_device, nthread, 42)
    matrices = []
    for genes in (train_genes, val_genes if watch else []):
        rows = data.rows_of(genes)
        if len(rows):
            matrices.append((xgb.QuantileDMatrix(X[data.backend.asarray(rows)], label=np.zeros(len(rows), np.float32),
                                                 max_bin=booster.max_bin, nthread=nthread,
                                                 ref=matrices[0][0] if matrices else None), rows))
    for k, label in enumerate(("neither", "donor", "acceptor")):
        for d, rows in matrices:
            d.set_label(data.backend.asarray((data.y[rows] == k).astype(np.float32)))
        xgb.train(params, matrices[0][0], num_boost_round=spec["rounds"][name][label], verbose_eval=False,
                  evals=[(d, n) for (d, _), n in zip(matrices, ("train", "validation"))] if watch else ())


t = time.perf_counter()
with ThreadPoolExecutor(slots) as pool:
    list(pool.map(lambda f: fit(*f, threads_each(cores, slots)), folds))
if "final" in spec["rounds"]:
    fit("final", spec["splits"]["final"]["train"], spec["splits"]["final"]["validation"], cores)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": cpu() - c, "load": os.getloadavg()[0]}))
"""


def _run(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--window", type=int, default=2, help="positional-nucleotide window of the synthetic data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-shap", action="store_true")
    parser.add_argument("--config", type=Path, default=None,
                        help="a train config (YAML/JSON) for both runs, e.g. the old booster defaults")
    args = parser.parse_args()

    from gpumeta.synth import synth_dataset

    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        dataset = root / "dataset"
        if not (dataset / "dataset_card.json").is_file():
            synth_dataset(dataset, n_genes=args.genes, window=args.window)
        card = json.loads((dataset / "dataset_card.json").read_text())
        config = "" if args.config is None else args.config.resolve()
        g = _run(TRAIN, dataset, root / "run", args.device, int(args.skip_shap), config)
        spec = root / "spec.json"
        spec.write_text(json.dumps(g))
        p = _run(PLAIN, dataset, spec, args.device, config, 0)
        w = _run(PLAIN, dataset, spec, args.device, config, 1)
        side = _run(PLAIN, dataset, spec, args.device, config, 2) if g["folds_at_once"] > 1 else w
        matrix_mb = card["n_rows"] * len(g["features"]) * 4 / 1e6
        inside = g["timings"]["learner"]
        print(f"dataset: {card['n_genes']:,} genes, {card['n_rows']:,} rows, {len(g['features'])} features used "
              f"(float32 matrix {matrix_mb:,.0f} MB); device {args.device}")
        trees = sum(sum(per_class.values()) for per_class in g["rounds"].values())
        print(f"gpumeta train wall {g['wall']:.1f} s, {g['cpu']:.1f} CPU-s (load average {g['load'][0]:.2f} at the "
              f"start, {g['load'][1]:.2f} at the end); held-out macro F1 base {g['f1']['base']:.4f} -> meta "
              f"{g['f1']['meta']:.4f}; {trees:,} trees over the folds and the final model")
        print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in g["timings"].items()))
        print(f"inside xgboost (fit + predict) {inside:.1f} s = {100 * inside / g['wall']:.1f} % of wall; "
              f"evaluation+report {g['timings'].get('evaluation', 0):.1f} s")
        print(f"plain xgboost, same boosters and rounds: {p['wall']:.1f} s wall, {p['cpu']:.1f} CPU-s (load average "
              f"{p['load']:.2f}); "
              f"gpumeta fitting / plain = {inside / p['wall']:.2f} (wall); whole train / plain = "
              f"{g['cpu'] / p['cpu']:.2f} (CPU time, robust to other load on the machine)")
        print(f"plain xgboost, same boosters and rounds, logging the training and validation loss each round as "
              f"gpumeta's early-stopped fits must: {w['wall']:.1f} s wall, {w['cpu']:.1f} CPU-s; gpumeta fitting / "
              f"that = {inside / w['wall']:.2f} (wall)")
        print(f"the same, with the CV folds side by side as gpumeta fitted them ({g['folds_at_once']} at a time): "
              f"{side['wall']:.1f} s wall, {side['cpu']:.1f} CPU-s; gpumeta fitting / that = "
              f"{inside / side['wall']:.2f} (wall)")
        extra = (g["maxrss_kb"] - g["baseline_kb"]) / 1e3
        print(f"peak RSS of the train process {g['maxrss_kb'] / 1e3:,.0f} MB = "
              f"{g['maxrss_kb'] / 1e3 / matrix_mb:.2f} x the float32 feature matrix; above the "
              f"{g['baseline_kb'] / 1e3:,.0f} MB of the imported libraries: "
              f"{extra:,.0f} MB = {extra / matrix_mb:.2f} x")


if __name__ == "__main__":
    main()
