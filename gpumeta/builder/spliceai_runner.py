"""`--base-model spliceai`: the released SpliceAI-10k models (PyPI `spliceai`) as the base model.

Each gene body is scored in 5,000-nt output blocks, each block given 5,000 nt of genomic context on
either side (N past a chromosome end), one-hot A,C,G,T with N all-zero, in transcript orientation (minus-
strand genes are reverse-complemented in and the outputs flipped back to genomic positions). The Keras
models' output columns are (neither, acceptor, donor); the five models are averaged. Predictions are
written as the builder's prediction Parquet (one file per gene batch, each atomic; finished parts are
skipped on a rerun). TensorFlow/Keras are imported only here, only when asked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..atomic import write_json, write_parquet
from ..errors import GpumetaError
from .sequence import gene_sequence

CONTEXT = 5_000   # nt of flank on each side of an output block (SpliceAI-10k)
BLOCK = 5_000     # output nt per model call
N_MODELS = 5
_INSTALL_HINT = "pip install 'gpumeta[spliceai]'"
log = logging.getLogger("gpumeta")


def load_models() -> list:
    """The five released Keras models; one line naming the install command when they are missing."""
    spec = importlib.util.find_spec("spliceai")
    if spec is None or not spec.submodule_search_locations:
        raise GpumetaError(f"--base-model spliceai needs the spliceai package and TensorFlow: {_INSTALL_HINT}")
    root = Path(next(iter(spec.submodule_search_locations))) / "models"
    with _native_stderr_silenced():
        try:
            _quiet_tensorflow()
            import keras
        except ImportError as exc:
            raise GpumetaError(f"--base-model spliceai needs TensorFlow/Keras ({exc.name} is missing): "
                               f"{_INSTALL_HINT}") from exc
        return [keras.models.load_model(str(root / f"spliceai{i}.h5"), compile=False)
                for i in range(1, N_MODELS + 1)]


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 to /dev/null while TensorFlow loads: its C++ libraries print INFO lines (oneDNN,
    "log messages before absl::InitializeLog") whatever TF_CPP_MIN_LOG_LEVEL says. Python exceptions are
    unaffected (raised, not printed, inside)."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_tensorflow() -> None:
    """TensorFlow's own console chatter off: C++ INFO/WARNING lines, and the Python 'tf.function retracing'
    warning (each of the five models traces its graph once, which TF reports as retracing)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)


def one_hot(codes: np.ndarray) -> np.ndarray:
    """(n, 4) float32 one-hot of codes 0..3; N (4) is all zero."""
    return np.eye(5, 4, dtype=np.float32)[codes]


def score_sequence(models, codes: np.ndarray, length: int, batch: int = 1) -> np.ndarray:
    """(length, 3) mean (neither, acceptor, donor) over the models; `codes` holds CONTEXT flank each side."""
    n_blocks = -(-length // BLOCK)
    padded = np.full(n_blocks * BLOCK + 2 * CONTEXT, 4, dtype=np.uint8)
    padded[: len(codes)] = codes
    x = np.stack([one_hot(padded[b * BLOCK: b * BLOCK + BLOCK + 2 * CONTEXT]) for b in range(n_blocks)])
    total = np.zeros((n_blocks, BLOCK, 3), dtype=np.float64)
    for lo in range(0, n_blocks, batch):
        # Always `batch` blocks per call (zero-padded): one input shape, so Keras traces its graph once
        # (a new shape per gene retraces, which costs more than the prediction).
        chunk = np.zeros((batch, *x.shape[1:]), dtype=np.float32)
        rows = min(batch, n_blocks - lo)
        chunk[:rows] = x[lo: lo + rows]
        for model in models:
            total[lo: lo + rows] += np.asarray(model.predict_on_batch(chunk))[:rows]
    return (total / len(models)).reshape(-1, 3)[:length].astype(np.float32)


def gene_predictions(models, genome, gene) -> pa.Table:
    probs = score_sequence(models, gene_sequence(genome, gene, CONTEXT), gene.length)
    idx = np.arange(gene.length, dtype=np.int64)
    position = gene.start + idx if gene.strand == "+" else gene.end - idx
    order = np.argsort(position)
    return pa.table({
        "gene_id": pa.repeat(gene.gene_id, gene.length), "chrom": pa.repeat(gene.chrom, gene.length),
        "strand": pa.repeat(gene.strand, gene.length), "position": position[order],
        "donor_prob": probs[order, 2], "acceptor_prob": probs[order, 1], "neither_prob": probs[order, 0],
    })


def predict_genes(genome, genes: list, out_dir: Path, batch_size: int = 100, fingerprint: dict | None = None,
                  on_gene=None) -> Path:
    """Write SpliceAI predictions of `genes` under out_dir (part_00001.parquet ...); return out_dir.

    `on_gene(k, n)` is called with k = 0 first, then as gene k of n is done (the genes of parts finished
    earlier included).

    `fingerprint` (inputs and genes) is stored as run.json: a rerun with the same one resumes the finished
    parts, a different one is refused rather than mixing predictions of two runs.
    """
    out_dir = Path(out_dir)
    run = {"fingerprint": fingerprint, "genes": [g.gene_id for g in genes], "batch_size": batch_size}
    marker = out_dir / "run.json"
    if marker.exists() and json.loads(marker.read_text()) != run:
        raise GpumetaError(f"{out_dir} holds SpliceAI predictions of other inputs or genes; pass --overwrite to "
                           "start over")
    write_json(marker, run)
    models, done = None, 0
    if on_gene is not None:
        on_gene(0, len(genes))
    for number, lo in enumerate(range(0, len(genes), batch_size), start=1):
        path = out_dir / f"part_{number:05d}.parquet"
        part = genes[lo: lo + batch_size]
        if path.exists():
            done += len(part)
            log.info("spliceai: part %d (%d genes) already written", number, len(part))
            if on_gene is not None:
                on_gene(done, len(genes))
            continue
        models = models or load_models()
        tables, started = [], time.perf_counter()
        for gene in part:
            tables.append(gene_predictions(models, genome, gene))
            done += 1
            if on_gene is not None:
                on_gene(done, len(genes))
        write_parquet(path, pa.concat_tables(tables))
        log.info("spliceai: part %d: %d genes, %d nt in %.1f s", number, len(part), sum(g.length for g in part),
                 time.perf_counter() - started)
    return out_dir
