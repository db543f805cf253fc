"""Synthetic splice data, so every part of gpumeta runs with no external data.

Two products, both deterministic for a seed:

* `synth_genome` (genome.py) writes the inputs of ``gpumeta build``: a FASTA genome (+ ``.fai``), a GTF
  annotation, a base model's per-nucleotide predictions (Parquet) and the truth (``sites.tsv``).
* `synth_dataset` (dataset.py) writes a ready training dataset in the contract of `gpumeta.schema` and the
  original MetaSpliceAI layout (``master/batch_*.parquet``, ``gene_manifest.csv``, ``dataset_card.json``),
  fast and streamed batch by batch, for tests and benchmarks.

How the synthetic base model errs, and what a meta-model can learn from: error_model.py (`ErrorModel`).
Shared checks and card names: common.py.
"""

from __future__ import annotations

from .common import DATASET_CARD, GENOME_CARD, read_card
from .dataset import KMER_WINDOW, PRESETS, SEQUENCE_STAT_COLUMNS, STRATA, dataset_feature_columns, synth_dataset
from .error_model import ErrorModel
from .genome import SynthGenome, synth_genome

__all__ = ["DATASET_CARD", "GENOME_CARD", "KMER_WINDOW", "PRESETS", "SEQUENCE_STAT_COLUMNS", "STRATA", "ErrorModel",
           "SynthGenome", "dataset_feature_columns", "read_card", "synth_dataset", "synth_genome"]
