"""One cell on a worker: a normal `train()` run directory, measured, placed atomically, summed up in cell.json.

The run is staged in ``cells/<id>.partial/`` and renamed onto ``cells/<id>/`` only when it is complete, so
a reader (or a resumed sweep) sees a finished cell or none. The staging directory keeps train()'s own
per-fold checkpoints: a cell interrupted part-way resumes from its finished folds on the next attempt.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from ..atomic import write_json
from ..backend import get_backend
from ..model import SITE_TYPES
from ..train import TrainConfig, train
from ..train.workflow import FIT_TIMING
from .spec import Cell

#: The record of a finished cell, inside its run directory.
CELL_FILE = "cell.json"
_SAMPLE_S = 0.02


class PeakMemory:
    """Peak memory of this process while a cell runs, above the level at its start, sampled every 20 ms.

    Host: resident set size. cuda cells also get device memory: the largest drop of free device memory
    (one task per GPU, so the drop is the cell's; memory a pool kept from an earlier cell is not seen).
    """

    def __init__(self, device: str):
        import psutil

        self._process = psutil.Process()
        self._device_free = get_backend(device).memory_budget if device == "cuda" else None
        self.host_bytes = 0
        self.device_bytes = 0 if self._device_free else None
        self._stop = threading.Event()

    def _sample(self) -> None:
        host0 = self._process.memory_info().rss
        free0 = self._device_free() if self._device_free else 0
        while True:
            self.host_bytes = max(self.host_bytes, self._process.memory_info().rss - host0)
            if self._device_free:
                self.device_bytes = max(self.device_bytes, free0 - self._device_free())
            if self._stop.wait(_SAMPLE_S):
                return

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def headline_metrics(evaluation: dict) -> dict:
    """The held-out headline of a run as flat columns: macro F1, per-type FP/FN/F1 at the tuned thresholds,
    AP and top-k accuracy, base and meta side by side."""
    block = evaluation[evaluation["headline"]]
    row = {"headline": evaluation["headline"], "rows_sampled": bool(evaluation["rows_sampled"]),
           "n_test_genes": int(evaluation["n_test_genes"]), "n_test_rows": int(block["n_rows"])}
    for who in ("base", "meta"):
        row[f"macro_f1_{who}"] = float(block["macro_f1"][who])
    for t in SITE_TYPES:
        tuned = block["site_types"][t]["tuned"]
        for who in ("base", "meta"):
            row[f"{t}_threshold_{who}"] = float(tuned[f"{who}_threshold"])
            for metric in ("fp", "fn", "f1"):
                row[f"{t}_{metric}_{who}"] = tuned[who][metric]
            row[f"{t}_ap_{who}"] = float(block["per_class"][t][who]["ap"])
            row[f"{t}_topk_{who}"] = float(block["top_k"][t][who])
    return row


def run_cell(cell: Cell, config: TrainConfig, cells_dir: str) -> dict:
    """Train `cell` into cells_dir/<id>/ (see module docstring) and return its record (cell.json)."""
    final = Path(cells_dir) / cell.id
    if (final / CELL_FILE).is_file():  # finished by an earlier attempt that was only reported lost
        return json.loads((final / CELL_FILE).read_text())
    staging = Path(cells_dir) / f"{cell.id}.partial"
    if staging.is_dir() and not (staging / "run_config.json").is_file():
        shutil.rmtree(staging)  # killed before train() stamped it: nothing in it to resume
    resumed = staging.is_dir()
    started = time.perf_counter()
    with PeakMemory(cell.device) as peak:
        result = train(cell.dataset_path, staging, device=cell.device, config=config, resume=True, quiet=True)
    info = json.loads((staging / "run_info.json").read_text())
    record = {
        **cell.describe(), "status": "complete", "error": "",
        **headline_metrics(result.evaluation),
        # Seconds in the learners (fits and their predictions) of this attempt: a resumed cell's earlier
        # attempt died with its clock, so its reused folds are not in it ("resumed" says so).
        "fit_s": round(result.timings.get(FIT_TIMING, 0.0), 3), "resumed": resumed,
        "train_s": round(result.timings["total"], 3),
        "cell_s": round(time.perf_counter() - started, 3),
        "peak_host_mb": round(peak.host_bytes / 2**20, 1),
        "peak_device_mb": None if peak.device_bytes is None else round(peak.device_bytes / 2**20, 1),
        "ran_on": info["device"], "strategy": info.get("strategy"), "n_features": info.get("n_features"),
        "dataset_fingerprint": info["dataset_fingerprint"], "worker": _worker_address(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(staging / CELL_FILE, record)
    if final.exists():  # a stale copy without cell.json (cannot be a finished cell: checked above)
        shutil.rmtree(final)
    os.replace(staging, final)
    return record


def _worker_address() -> str:
    try:
        from dask.distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"
