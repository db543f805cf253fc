"""gpumeta build on gpumeta.synth's genome: labels agree with an independent count of sites and calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gpumeta import synth
from gpumeta.builder import build_dataset
from gpumeta.dataset import validate_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("synth")
    genome = synth.synth_genome(work / "genome", n_genes=24, seed=3)
    result = build_dataset(genome.fasta, genome.gtf, work / "ds", predictions=genome.predictions, device="cpu",
                           batch_size=10)
    return genome, result


def _independent_counts(genome, threshold=0.5, window=2) -> dict:
    """TP/FN/FP per site type from sites.tsv and the prediction files alone (no gpumeta.builder code)."""
    sites = pd.read_csv(genome.sites, sep="\t", dtype={"gene_id": str, "chrom": str})
    preds = pd.concat([pq.read_table(p).to_pandas() for p in sorted(genome.predictions.rglob("*.parquet"))])
    counts = {t: {"TP": 0, "FN": 0, "FP": 0} for t in ("donor", "acceptor")}
    for gene_id, gene_preds in preds.groupby("gene_id"):
        for t in ("donor", "acceptor"):
            true = np.sort(sites.loc[(sites.gene_id == gene_id) & (sites.site_type == t), "position"].to_numpy())
            calls = np.sort(gene_preds.loc[gene_preds[f"{t}_prob"] >= threshold, "position"].to_numpy())
            near_call = np.array([np.any(np.abs(calls - s) <= window) for s in true], dtype=bool)
            near_site = np.array([np.any(np.abs(true - c) <= window) for c in calls], dtype=bool)
            counts[t]["TP"] += int(near_call.sum())
            counts[t]["FN"] += int((~near_call).sum())
            counts[t]["FP"] += int((~near_site).sum())
    return counts


def test_labels_agree_with_an_independent_count(built):
    genome, result = built
    expected = _independent_counts(genome)
    streams = {t: {k: result.counts["streams"][t][k] for k in ("TP", "FN", "FP")} for t in expected}
    assert streams == expected
    rows = pd.concat([pq.read_table(f).to_pandas() for f in result.batch_files])
    for t in ("donor", "acceptor"):
        of_type = rows[rows["splice_type"] == t]
        assert (of_type["pred_type"] == "TP").sum() == expected[t]["TP"]
        assert (of_type["pred_type"] == "FN").sum() == expected[t]["FN"]
    # every FP call is kept (an FP of both streams at one nucleotide is one row)
    assert (rows["pred_type"] == "FP").sum() <= expected["donor"]["FP"] + expected["acceptor"]["FP"]
    assert (rows["pred_type"] == "FP").sum() >= max(expected["donor"]["FP"], expected["acceptor"]["FP"])


def test_synthetic_dataset_passes_validation_and_matches_the_manifest(built):
    genome, result = built
    assert validate_dataset(result.out_dir).ok
    manifest = pd.read_csv(result.manifest)
    assert len(manifest) == 24 and manifest["n_rows"].sum() == result.n_rows
    sites = pd.read_csv(genome.sites, sep="\t")
    assert result.counts["splice_type"]["donor"] == (sites.site_type == "donor").sum()
    assert result.counts["splice_type"]["acceptor"] == (sites.site_type == "acceptor").sum()
