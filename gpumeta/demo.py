"""`gpumeta.demo`: the whole job on an embedded default, from nothing to a report.

A synthetic genome, annotation and base-model predictions (`gpumeta.synth.synth_genome`) -> a dataset
(`gpumeta.builder.build_dataset`) -> a trained meta-model evaluated on held-out genes (`gpumeta.train`).
"""

from __future__ import annotations

from pathlib import Path

from .progress import log

#: Quick training for the demo (the full defaults are for real data; configs/default.yaml).
DEMO_TRAINING = {"n_folds": 3, "shap_genes": 30,
                 "booster": {"n_estimators": 300, "learning_rate": 0.2, "early_stopping_rounds": 20}}


def demo(out_dir: str | Path = "demo-run", n_genes: int = 80, seed: int = 0, device: str = "auto",
         overwrite: bool = False, quiet: bool = False):
    """Run synth -> build -> train into `out_dir` (genome/, dataset/, run/); returns the TrainResult."""
    from .builder import build_dataset
    from .synth import synth_genome
    from .train import train

    out_dir = Path(out_dir)
    genome_dir = out_dir / "genome"
    if overwrite or not (genome_dir / "synth_card.json").is_file():
        synth_genome(genome_dir, n_genes=n_genes, seed=seed)
    log.info("synthetic genome in %s", genome_dir)
    # The builder stays on its CPU default (measured faster there; see docs/BUILD.md): `device` is for training.
    build_dataset(genome_dir / "genome.fa", genome_dir / "annotation.gtf", out_dir / "dataset",
                  predictions=genome_dir / "predictions", overwrite=overwrite, seed=seed)
    return train(out_dir / "dataset", out_dir / "run", device=device, overwrite=True, quiet=quiet, seed=seed,
                 **DEMO_TRAINING)
