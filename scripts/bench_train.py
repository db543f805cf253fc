"""Benchmark `gpumeta train`: share of wall time inside xgboost, overhead vs plain xgboost, peak memory.

Usage:
  python scripts/bench_train.py [--genes 1000] [--window 2] [--device cpu|cuda] [--out DIR] [--skip-shap]

Steps, each measured in this one run:
1. A synthetic dataset (`synth_dataset`, ~400 rows per gene; `--window 2` gives ~150 features) unless
   DIR/dataset exists.
2. `gpumeta train` in a fresh subprocess (production mode, default config): wall time, time inside xgboost
   (QuantileDMatrix construction, boosting, prediction and SHAP calls), peak RSS of that process.
3. Plain xgboost on the same matrix in another fresh subprocess: the same boosters (folds + final, three
   classes) with the same parameters and the same number of rounds gpumeta ran, from a NumPy matrix.
Prints the ratios (gpumeta / plain xgboost; xgboost share of gpumeta's wall; peak RSS / float32 matrix).
Run it twice with --device cpu and --device cuda on a GPU node for the GPU/CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TRAIN = r"""
import json, resource, sys, time
import gpumeta.evaluate.heldout, gpumeta.evaluate.plots, matplotlib.pyplot, xgboost
from gpumeta.train import train
baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
c = cpu()
t = time.perf_counter()
r = train(sys.argv[1], sys.argv[2], device=sys.argv[3], overwrite=True, quiet=True,
          skip_shap=sys.argv[4] == "1")
wall, cpu_s = time.perf_counter() - t, cpu() - c
rounds = {name: {label: len(c["train"]["logloss"]) for label, c in curves.items()}
          for name, curves in json.load(open(sys.argv[2] + "/learning_curves.json")).items()}
print(json.dumps({"wall": wall, "cpu": cpu_s, "timings": r.timings, "baseline_kb": baseline_kb,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rounds": rounds, "features": r.model.feature_names, "logit": r.model.logit_features,
                  "splits": r.splits}))
"""

PLAIN = r"""
import json, resource, sys, time
import numpy as np, xgboost as xgb
from gpumeta.dataset import load_dataset
from gpumeta.train.config import BoosterParams
spec = json.load(open(sys.argv[2]))
data = load_dataset(sys.argv[1], "cpu" if sys.argv[3] == "cpu" else "cuda", features=spec["features"])
X = data.X
params = BoosterParams().xgb_params(data.backend.xgb_device, data.backend.n_threads, 42)
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
c = cpu()
fits = [(f"fold_{f['fold']}", f["train"]) for f in spec["splits"]["folds"]]
fits.append(("final", spec["splits"]["final"]["train"]))
t = time.perf_counter()
for name, train_genes in fits:
    rows = data.rows_of(train_genes)
    d = xgb.QuantileDMatrix(X[data.backend.asarray(rows)], label=(data.y[rows] == 0).astype(np.float32), max_bin=256)
    for k, label in enumerate(("neither", "donor", "acceptor")):
        d.set_label(data.backend.asarray((data.y[rows] == k).astype(np.float32)))
        xgb.train(params, d, num_boost_round=spec["rounds"][name][label])
print(json.dumps({"wall": time.perf_counter() - t, "cpu": cpu() - c}))
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
    args = parser.parse_args()

    from gpumeta.synth import synth_dataset

    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        dataset = root / "dataset"
        if not (dataset / "dataset_card.json").is_file():
            synth_dataset(dataset, n_genes=args.genes, window=args.window)
        card = json.loads((dataset / "dataset_card.json").read_text())
        g = _run(TRAIN, dataset, root / "run", args.device, int(args.skip_shap))
        spec = root / "spec.json"
        spec.write_text(json.dumps(g))
        p = _run(PLAIN, dataset, spec, args.device)
        matrix_mb = card["n_rows"] * len(g["features"]) * 4 / 1e6
        inside = g["timings"]["learner"]
        print(f"dataset: {card['n_genes']:,} genes, {card['n_rows']:,} rows, {len(g['features'])} features used "
              f"(float32 matrix {matrix_mb:,.0f} MB); device {args.device}")
        print(f"gpumeta train wall {g['wall']:.1f} s; inside xgboost (fit + predict) {inside:.1f} s = "
              f"{100 * inside / g['wall']:.1f} % of wall; evaluation+report {g['timings'].get('evaluation', 0):.1f} s")
        print(f"plain xgboost, same boosters and rounds: {p['wall']:.1f} s wall, {p['cpu']:.1f} CPU-s; "
              f"gpumeta fitting / plain = {inside / p['wall']:.2f} (wall); whole train / plain = "
              f"{g['cpu'] / p['cpu']:.2f} (CPU time, robust to other load on the machine)")
        extra = (g["maxrss_kb"] - g["baseline_kb"]) / 1e3
        print(f"peak RSS of the train process {g['maxrss_kb'] / 1e3:,.0f} MB = "
              f"{g['maxrss_kb'] / 1e3 / matrix_mb:.2f} x the float32 feature matrix; above the "
              f"{g['baseline_kb'] / 1e3:,.0f} MB of the imported libraries: "
              f"{extra:,.0f} MB = {extra / matrix_mb:.2f} x")


if __name__ == "__main__":
    main()
