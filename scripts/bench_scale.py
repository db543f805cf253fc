"""Benchmark the scale-out strategies on a synthetic dataset: wall time, peak memory, held-out macro F1.

CPU (default): a LocalCluster of 2 process workers on a 2,000-gene dataset; multi-instance and distributed
runs on the same gene split (distributed, one model over all genes, should score at least as well)::

    python scripts/bench_scale.py --out /tmp/bench_scale

CUDA (needs a GPU with RAPIDS; not run where there is none): the "metaspliceai-large" preset (9,280 genes,
~3.7 M rows, 1,167 features) trained as ONE model (5-fold CV + final) with its peak GPU memory, against a
multi-instance ensemble of 1,500-gene instances on the same split::

    python scripts/bench_scale.py --device cuda --out /tmp/bench_scale_gpu

Peak memory is sampled every 0.2 s: GPU memory in use (nvidia-smi, all processes, minus what was in use
before the run) on cuda; resident memory of this process and its children (the dask workers) on cpu.
Results go to OUT/bench_scale.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path


class PeakMemory:
    """Samples memory in use in a background thread; `.peak` bytes above the level at start."""

    def __init__(self, device: str):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def _used(self) -> int:
        if self.device == "cuda":
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, check=True).stdout
            return sum(int(v) for v in out.split()) * 2**20
        import psutil

        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def __enter__(self) -> PeakMemory:
        self._base = self._used()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._used() - self._base)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _dataset(out: Path, device: str, n_genes: int | None, seed: int) -> Path:
    from gpumeta.synth import synth_dataset

    path = out / ("dataset_large" if device == "cuda" and n_genes is None else f"dataset_{n_genes}")
    if not (path / "master").is_dir():
        started = time.perf_counter()
        if device == "cuda" and n_genes is None:
            synth_dataset(path, preset="metaspliceai-large", seed=seed)
        else:
            synth_dataset(path, n_genes=n_genes, seed=seed)
        print(f"dataset {path} made in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def _run(dataset: Path, out: Path, device: str, strategy: str, client, args) -> dict:
    from gpumeta.train import train
    from gpumeta.train.config import load_config

    config = load_config(None, {"strategy": strategy, "n_folds": args.n_folds, "seed": args.seed,
                                "skip_shap": True, "minimal_diagnostics": True,
                                "booster": {"n_estimators": args.n_estimators},
                                "genes_per_instance": args.genes_per_instance})
    started = time.perf_counter()
    with PeakMemory(device) as memory:
        result = train(dataset, out / f"run_{strategy}", device=device, config=config, overwrite=True, quiet=True,
                       cluster=client)
    headline = result.evaluation[result.evaluation["headline"]]
    model = result.model
    return {"strategy": strategy, "wall_s": round(time.perf_counter() - started, 1),
            "peak_memory_gib": round(memory.peak / 2**30, 2),
            "meta_macro_f1": round(headline["macro_f1"]["meta"], 4),
            "base_macro_f1": round(headline["macro_f1"]["base"], 4),
            "n_test_genes": result.evaluation["n_test_genes"],
            "n_instances": len(getattr(model, "instances", [model]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Directory for the dataset, runs and results.")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--n-genes", type=int, default=None,
                        help="Genes of the synthetic dataset (default 2,000 on cpu; the large preset on cuda).")
    parser.add_argument("--n-workers", type=int, default=None, help="Workers (default 2 on cpu, 1 per GPU).")
    parser.add_argument("--n-folds", type=int, default=None, help="CV folds (default 2 on cpu, 5 on cuda).")
    parser.add_argument("--n-estimators", type=int, default=None,
                        help="Boosting rounds at most (default 100 on cpu, 1000 on cuda).")
    parser.add_argument("--genes-per-instance", type=int, default=None,
                        help="Genes per multi-instance instance (default 500 on cpu, 1,500 on cuda).")
    parser.add_argument("--strategies", default=None,
                        help="Comma list (default multi-instance,distributed on cpu; single,multi-instance on cuda).")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    cpu = args.device == "cpu"
    args.n_genes = args.n_genes or (2000 if cpu else None)
    args.n_folds = args.n_folds or (2 if cpu else 5)
    args.n_estimators = args.n_estimators or (100 if cpu else 1000)
    args.genes_per_instance = args.genes_per_instance or (500 if cpu else 1500)
    strategies = (args.strategies or ("multi-instance,distributed" if cpu else "single,multi-instance")).split(",")

    from gpumeta.backend import get_backend
    from gpumeta.cluster import get_client

    args.out.mkdir(parents=True, exist_ok=True)
    dataset = _dataset(args.out, args.device, args.n_genes, args.seed)
    results = []
    with get_client(get_backend(args.device), "local", n_workers=args.n_workers or (2 if cpu else None)) as client:
        for strategy in strategies:
            results.append(_run(dataset, args.out, args.device, strategy, client, args))
            print(json.dumps(results[-1]), flush=True)
    (args.out / "bench_scale.json").write_text(json.dumps({"device": args.device, "args": {
        k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))
    print(f"\n{'strategy':16}{'wall s':>9}{'peak GiB':>10}{'meta F1':>9}{'base F1':>9}{'instances':>10}")
    for r in results:
        print(f"{r['strategy']:16}{r['wall_s']:>9}{r['peak_memory_gib']:>10}{r['meta_macro_f1']:>9}"
              f"{r['base_macro_f1']:>9}{r['n_instances']:>10}")


if __name__ == "__main__":
    main()
