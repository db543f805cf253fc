"""Benchmark the host path of `gpumeta train`: the time spent OUTSIDE xgboost, which bounds a GPU run.

Usage:
  python scripts/bench_host_path.py DATASET [DATASET ...] [--threads 2] [--rounds 5] [--folds 2] [--profile N]

Each dataset (e.g. `gpumeta synth --kind dataset --genes 2320 OUT`) is trained in a fresh subprocess with
`--rounds` boosting rounds, `--folds` gene folds, no SHAP and `--threads` threads, and measured there:
wall and CPU time; time inside xgboost (DMatrix/QuantileDMatrix construction, train, set_label, predict),
with the Python callbacks xgboost makes into gpumeta's row-chunk iterator counted as outside; the per-phase
timings `train` records; and, with `--profile N`, the N functions with the most own time outside xgboost.
Target (issue 10): at 9,280 genes (3.7 M rows) at most 120 s outside xgboost on 2 cores and at most 5x the
figure at 2,320 genes. The load average is printed with the figures: on a shared machine they are upper
bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import cProfile, io, json, os, pstats, resource, sys, time
import xgboost as xgb
import xgboost.core
from gpumeta.train import train

dataset, out, threads, rounds, folds, n_profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6])
# gpumeta gives xgboost the cores this process may use: keep it to `threads` of them.
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
inside = {"seconds": 0.0, "callbacks": 0.0, "cpu": 0.0, "callbacks_cpu": 0.0, "depth": 0}


def timed(function, key="seconds"):
    # Nested calls (train -> predict) count once; callbacks into Python are timed apart and subtracted.
    def wrapper(*args, **kwargs):
        top = inside["depth"] == 0 if key == "seconds" else True
        inside["depth"] += key == "seconds"
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            inside["depth"] -= key == "seconds"
            if top:
                inside[key] += time.perf_counter() - start
                inside["cpu" if key == "seconds" else "callbacks_cpu"] += time.process_time() - start_cpu
    return wrapper


xgb.train = timed(xgb.train)
xgb.training.train = xgb.train
for cls, names in ((xgb.DMatrix, ("__init__", "set_label", "set_weight")),
                   (xgb.QuantileDMatrix, ("__init__",)), (xgb.Booster, ("predict", "inplace_predict"))):
    for name in names:
        setattr(cls, name, timed(getattr(cls, name)))
xgb.core.DataIter._next_wrapper = timed(xgb.core.DataIter._next_wrapper, "callbacks")

cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
profiler = cProfile.Profile() if n_profile else None
c, t = cpu(), time.perf_counter()
if profiler:
    profiler.enable()
# One fold at a time, as a GPU fits them: the host path a GPU run pays (and the xgboost timers above count
# nested calls per process, not per thread).
result = train(dataset, out, device="cpu", overwrite=True, quiet=True, skip_shap=True, n_folds=folds,
               booster={"n_estimators": rounds}, parallel_folds=1, minimal_diagnostics=True)
if profiler:
    profiler.disable()
wall, cpu_s = time.perf_counter() - t, cpu() - c
inside_s = inside["seconds"] - inside["callbacks"]
inside_cpu = inside["cpu"] - inside["callbacks_cpu"]
top = []
if profiler:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    stats.dump_stats(out + ".prof")
    rows = [(tt, ct, f"{func[0].split('site-packages/')[-1].split('/wt/scale/')[-1]}:{func[1]}:{func[2]}")
            for func, (cc, nc, tt, ct, callers) in stats.stats.items()]
    top = [{"own_s": round(tt, 2), "cumulative_s": round(ct, 2), "function": name}
           for tt, ct, name in sorted(rows, reverse=True)[:n_profile]]
print(json.dumps({"wall": wall, "cpu": cpu_s, "inside_xgboost": inside_s, "outside_xgboost": wall - inside_s,
                  "inside_cpu": inside_cpu, "outside_cpu": cpu_s - inside_cpu,
                  "callbacks": inside["callbacks"], "timings": result.timings,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, "profile": top}))
"""


def measure(dataset: Path, threads: int, rounds: int, folds: int, n_profile: int, keep: Path | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as scratch:
        run = (keep or Path(scratch)) / f"run_{dataset.name}"
        done = subprocess.run([sys.executable, "-c", CHILD, str(dataset), str(run), str(threads),
                               str(rounds), str(folds), str(n_profile)], capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, help="show the N functions with most own time")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs (and RUN.prof profiles) here")
    args = parser.parse_args()
    outside = {}
    for dataset in args.datasets:
        card = json.loads((dataset / "dataset_card.json").read_text()) if (dataset / "dataset_card.json").is_file() \
            else {}
        load_before = os.getloadavg()
        m = measure(dataset, args.threads, args.rounds, args.folds, args.profile, args.keep)
        outside[dataset] = m["outside_xgboost"]
        phases = ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items())
        print(f"{dataset}: {card.get('n_genes', '?')} genes, {card.get('n_rows', '?')} rows; {args.threads} threads, "
              f"{args.rounds} rounds, {args.folds} folds, no SHAP")
        print(f"  wall {m['wall']:.1f} s, CPU {m['cpu']:.1f} s, peak RSS {m['maxrss_mb']:,.0f} MB; inside xgboost "
              f"{m['inside_xgboost']:.1f} s; OUTSIDE xgboost {m['outside_xgboost']:.1f} s (of which row-chunk "
              f"callbacks {m['callbacks']:.1f} s)")
        print(f"  CPU time: inside xgboost {m['inside_cpu']:.1f} s, OUTSIDE xgboost {m['outside_cpu']:.1f} s (the "
              "host path is one thread: on a quiet machine its wall time is about its CPU time)")
        print(f"  phases (s): {phases}")
        print(f"  load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} cores")
        for row in m["profile"]:
            print(f"    own {row['own_s']:7.2f} s  cum {row['cumulative_s']:7.2f} s  {row['function']}")
    if len(outside) > 1:
        small, large = min(outside.values()), max(outside.values())
        print(f"outside xgboost, largest / smallest dataset: {large / small:.2f}x")


if __name__ == "__main__":
    main()
