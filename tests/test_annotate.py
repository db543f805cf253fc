"""gpumeta annotate: the recipe round trip, features equal to the builder's, selective vs all-positions,
outputs that read back, resume, and bad inputs as one line with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gpumeta.annotate import annotate, recipe_of_dataset, recipe_params
from gpumeta.annotate.features import NEED_ANNOTATION, features_at, region_structure
from gpumeta.backend import get_backend
from gpumeta.builder import build_dataset
from gpumeta.builder.annotation import read_annotation
from gpumeta.builder.fasta import Genome
from gpumeta.builder.gene_structure import overlap_counts
from gpumeta.builder.predictions import Predictions, gene_tracks
from gpumeta.builder.sequence import gene_sequence
from gpumeta.cli import main
from gpumeta.dataset import load_dataset
from gpumeta.errors import GpumetaError
from gpumeta.gating import rescore_mask
from gpumeta.learners import get_algorithm
from gpumeta.model import MetaModel, load_model
from gpumeta.schema import is_feature_column, is_probability_feature
from gpumeta.structure import GeneStructure, site_posteriors
from gpumeta.synth import synth_genome
from gpumeta.train.fit import fit_one_vs_rest

N_TRAIN = 8


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic genome of 12 genes and a small model trained on the first 8, carrying its recipe."""
    work = tmp_path_factory.mktemp("annotate")
    genome = synth_genome(work / "genome", n_genes=12, seed=5)
    genes = sorted(read_annotation(genome.gtf))
    train_genes = genes[:N_TRAIN]
    build_dataset(genome.fasta, genome.gtf, work / "ds", predictions=genome.predictions, device="cpu",
                  genes=train_genes, kmer_sizes=[2, 3], context_width=3, shape_width=5, seq_window=6,
                  site_strength=True, partner_window=400)
    data = load_dataset(work / "ds", "cpu")
    features = list(data.feature_names)
    logit = [f for f in features if is_probability_feature(f)]
    fit_rows, val_rows = data.rows_of(train_genes[:6]), data.rows_of(train_genes[6:])
    learner = get_algorithm("xgboost", {"n_estimators": 30, "early_stopping_rounds": 10, "max_depth": 4})
    models = fit_one_vs_rest(learner, data.backend, data.X, data.y, fit_rows, val_rows,
                             [features.index(f) for f in logit], seed=0, nthread=2)
    model = MetaModel(learners=models, feature_names=features, logit_features=logit,
                      training_genes=train_genes, recipe=recipe_of_dataset(work / "ds"))
    model.save(work / "model")
    return {"work": work, "genome": genome, "genes": genes, "model": work / "model"}


@pytest.fixture(scope="module")
def selective(world):
    return annotate(world["model"], world["genome"].fasta, world["work"] / "sel", annotation=world["genome"].gtf,
                    predictions=world["genome"].predictions, device="cpu", batch_size=5)


@pytest.fixture(scope="module")
def every(world):
    return annotate(world["model"], world["genome"].fasta, world["work"] / "all", annotation=world["genome"].gtf,
                    predictions=world["genome"].predictions, device="cpu", all_positions=True)


def _nucleotides(result) -> pd.DataFrame:
    return pd.read_parquet(result.out_dir / "nucleotides").sort_values(["gene_id", "position"], ignore_index=True)


def test_the_recipe_survives_save_and_load(world):
    model = load_model(world["model"], "cpu")
    card = json.loads((world["work"] / "ds" / "dataset_card.json").read_text())
    assert model.recipe["parameters"] == card["parameters"]
    params = recipe_params(model, world["model"])
    assert (params.context_width, params.shape_width, params.kmer_sizes, params.seq_window) == (3, 5, (2, 3), 6)
    assert params.site_strength and "acceptor_pwm_rival" in model.feature_names
    assert params.partner_window == 400 and "acceptor_exon_donor_max" in model.feature_names
    assert set(model.feature_names) <= set(model.recipe["feature_columns"])


def test_a_dataset_without_a_builder_card_has_no_recipe(tmp_path):
    (tmp_path / "rows.parquet").write_bytes(b"")
    assert recipe_of_dataset(tmp_path) is None


@pytest.fixture(scope="module")
def built_all(world):
    """`build --all-positions` rows of one gene per strand, with the model's recipe."""
    work, genome = world["work"], world["genome"]
    annotation = read_annotation(genome.gtf)
    genes = [next(g for g in world["genes"] if annotation[g].strand == s) for s in "+-"]
    built = build_dataset(genome.fasta, genome.gtf, work / "ds_all", predictions=genome.predictions, device="cpu",
                          genes=genes, all_positions=True, kmer_sizes=[2, 3], context_width=3, shape_width=5,
                          seq_window=6, site_strength=True, partner_window=400)
    return genes, pd.concat([pq.read_table(f).to_pandas() for f in built.batch_files])


def test_features_at_inference_equal_build_all_positions(world, built_all):
    """Every feature column of `build --all-positions` is rebuilt bit for bit, on both strands."""
    genome, (genes, rows) = world["genome"], built_all
    annotation = read_annotation(genome.gtf)
    params = recipe_params(load_model(world["model"], "cpu"), world["model"])
    backend, overlaps = get_backend("cpu"), overlap_counts(annotation.values())
    frames = Predictions(genome.predictions).load(genes)
    for gene_id in genes:
        gene = annotation[gene_id]
        cols = features_at(gene_tracks(gene, frames[gene_id]), gene_sequence(Genome(genome.fasta), gene, params.flank),
                           np.arange(gene.length), gene.length, region_structure(gene, params, overlaps[gene_id]),
                           params, backend, {})
        expected = rows[rows["gene_id"] == gene_id].sort_values("position")
        assert sorted(cols) == sorted(c for c in expected.columns if is_feature_column(c))
        for name in cols:
            np.testing.assert_array_equal(np.asarray(cols[name]), expected[name].to_numpy(), err_msg=name)


def test_annotate_scores_are_the_model_on_build_all_positions_rows(world, built_all, every):
    """End to end, on both strands: each nucleotide's meta probabilities are the model's prediction on the
    builder's row of that nucleotide, and its base probabilities the row's scores (batch layout, strand
    orientation and row placement included)."""
    rows = built_all[1]
    model = load_model(world["model"], "cpu")
    expected = pd.DataFrame({"gene_id": rows["gene_id"].to_numpy(), "position": rows["absolute_position"].to_numpy()})
    proba = model.predict_proba(rows[model.feature_names].to_numpy(np.float32))
    nt = _nucleotides(every)
    got = expected.merge(nt.astype({"gene_id": str}), on=["gene_id", "position"], how="left", validate="one_to_one")
    assert len(got) == len(rows) and got["meta_donor"].notna().all()
    for k, c in enumerate(("neither", "donor", "acceptor")):
        np.testing.assert_allclose(got[f"meta_{c}"], proba[:, k], rtol=1e-6, atol=1e-7, err_msg=c)
        np.testing.assert_array_equal(got[f"base_{c}"], rows[f"{c}_score"].to_numpy(np.float32))


def test_rescore_mask_is_the_unsure_nucleotides_and_their_context():
    donor = np.array([0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0.002], dtype=np.float32)
    acceptor = np.zeros(10, dtype=np.float32)
    mask = rescore_mask(donor, acceptor, 0.001, 2, np)
    assert mask.tolist() == [False, True, True, True, True, True, False, True, True, True]
    assert rescore_mask(donor, acceptor, 0.001, 0, np).tolist() == (donor >= 0.001).tolist()


def test_selective_mode_rescores_few_and_agrees_with_all_positions(world, selective, every):
    sel, full = _nucleotides(selective), _nucleotides(every)
    assert selective.n_nucleotides == every.n_nucleotides == len(sel) == len(full)
    assert 0 < selective.n_rescored < selective.n_nucleotides and every.n_rescored == every.n_nucleotides
    kept = ~sel["rescored"]
    for c in ("neither", "donor", "acceptor"):
        # Untouched nucleotides keep the base scores; re-scored ones get the same answer in both modes.
        np.testing.assert_array_equal(sel.loc[kept, f"meta_{c}"], sel.loc[kept, f"base_{c}"])
        np.testing.assert_array_equal(sel.loc[~kept, f"meta_{c}"], full.loc[~kept, f"meta_{c}"])
    # Where they differ (nucleotides the base model is sure of), the site probabilities stay tiny.
    gap = np.abs(sel[["meta_donor", "meta_acceptor"]].to_numpy() - full[["meta_donor", "meta_acceptor"]].to_numpy())
    assert gap.max() < 0.05
    model = load_model(world["model"], "cpu")
    assert all(full.loc[kept, f"meta_{t}"].max() < model.thresholds[t] for t in ("donor", "acceptor"))
    assert selective.calls == every.calls


def test_outputs_read_back(world, selective):
    out = selective.out_dir
    card = json.loads((out / "annotate_card.json").read_text())
    assert card["mode"] == "selective" and card["counts"]["rescored"] == selective.n_rescored
    assert card["recipe"]["format"] == "gpumeta-recipe/1" and card["features_missing"] == []
    nt = _nucleotides(selective)
    summary = pd.read_csv(out / "gene_summary.tsv", sep="\t")
    assert summary["nucleotides"].sum() == len(nt) and summary["rescored"].sum() == nt["rescored"].sum()
    assert summary.set_index("gene_id")["trained_on"].to_dict() == {g: g in world["genes"][:N_TRAIN]
                                                                    for g in world["genes"]}
    bed = pd.read_csv(out / "meta_sites.bed", sep="\t", header=None)
    assert len(bed) == sum(selective.calls[f"meta_{t}"] for t in ("donor", "acceptor"))
    assert set(bed[3]) <= {"donor", "acceptor"} and bed[4].between(0, 1000).all() and set(bed[5]) <= {"+", "-"}
    calls = pd.read_csv(out / "site_calls.tsv", sep="\t")
    assert {"base_call", "meta_call", "change", "annotated_type"} <= set(calls.columns)
    assert (calls["change"] != "kept").sum() == summary["changed"].sum()
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["n_genes"] == len(world["genes"]) - N_TRAIN
    assert evaluation["excluded_training_genes"] == world["genes"][:N_TRAIN]


def test_bigwig_and_bedgraph_hold_the_parquet_scores(selective):
    import pyBigWig

    nt = _nucleotides(selective)
    plus = nt[nt["strand"] == "+"].groupby(["chrom", "position"])["meta_donor"].max().reset_index()
    chrom = plus["chrom"].iloc[0]
    on_chrom = plus[plus["chrom"] == chrom]
    bw = pyBigWig.open(str(selective.out_dir / "tracks" / "meta_donor.plus.bw"))
    values = np.asarray(bw.values(chrom, int(on_chrom["position"].min()) - 1, int(on_chrom["position"].max())))
    bw.close()
    read = values[on_chrom["position"].to_numpy() - on_chrom["position"].min()]
    np.testing.assert_allclose(read, np.round(on_chrom["meta_donor"].to_numpy(), 4), atol=1e-6)
    graph = pd.read_csv(selective.out_dir / "tracks" / "meta_donor.plus.bedGraph", sep="\t", header=None, skiprows=1)
    assert (graph[2] - graph[1]).sum() == len(plus)  # every scored '+' nucleotide once, runs merged
    assert len(graph) < len(plus)


def test_bed_regions_are_scored_without_an_annotation(world, tmp_path, selective):
    annotation = read_annotation(world["genome"].gtf)
    picked = world["genes"][-2:]
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(f"{g.chrom}\t{g.start - 1}\t{g.end}\t{g.gene_id}\t0\t{g.strand}\n"
                           for g in (annotation[i] for i in picked)))
    result = annotate(world["model"], world["genome"].fasta, tmp_path / "out", regions=bed,
                      predictions=world["genome"].predictions, device="cpu")
    card = json.loads(result.card.read_text())
    assert result.n_genes == 2 and result.evaluation is None and not (tmp_path / "out" / "evaluation.json").exists()
    model = load_model(world["model"], "cpu")
    assert card["features_missing"] == [c for c in NEED_ANNOTATION if c in model.feature_names]
    nt = _nucleotides(result)
    ref = _nucleotides(selective)
    ref = ref[ref["gene_id"].isin(picked)].reset_index(drop=True)
    np.testing.assert_array_equal(nt["base_donor"], ref["base_donor"])
    np.testing.assert_array_equal(nt["rescored"], ref["rescored"])
    # Only the gene-structure columns differ (unknown without an annotation): the scores stay close.
    assert np.abs(nt["meta_donor"] - ref["meta_donor"]).max() < 0.5


def test_a_gene_list_takes_coordinates_from_the_predictions(world, tmp_path):
    picked = world["genes"][-1:]
    result = annotate(world["model"], world["genome"].fasta, tmp_path / "out", genes=picked,
                      predictions=world["genome"].predictions, device="cpu")
    annotation = read_annotation(world["genome"].gtf)
    assert result.n_nucleotides == annotation[picked[0]].length


def test_an_interrupted_run_resumes_its_finished_batches(world, tmp_path, selective):
    out = tmp_path / "out"

    def stop_after_first(number, total, path):
        if number == 1:
            raise KeyboardInterrupt

    kwargs = {"annotation": world["genome"].gtf, "predictions": world["genome"].predictions, "device": "cpu",
              "batch_size": 5}
    with pytest.raises(KeyboardInterrupt):
        annotate(world["model"], world["genome"].fasta, out, on_batch=stop_after_first, **kwargs)
    assert not (out / "annotate_card.json").exists()
    assert not [p for p in (out / "tracks").iterdir() if not p.name.startswith(".")]  # tracks: temporary only
    result = annotate(world["model"], world["genome"].fasta, out, **kwargs)
    assert result.resumed_batches == 1
    pd.testing.assert_frame_equal(_nucleotides(result), _nucleotides(selective))
    # The finished batch's tracks come from its Parquet: the same files as a run in one go.
    for graph in (selective.out_dir / "tracks").glob("*.bedGraph"):
        assert (out / "tracks" / graph.name).read_bytes() == graph.read_bytes()
    with pytest.raises(GpumetaError, match="different options"):
        annotate(world["model"], world["genome"].fasta, out, all_positions=True, **kwargs)


def test_an_evaluation_too_large_for_memory_takes_a_stated_sample_of_genes(world, tmp_path, monkeypatch):
    # Held-out nucleotides are read back at once; past a share of the available memory, a seeded sample of
    # whole genes is evaluated and evaluation.json and the card say which part.
    import psutil

    import gpumeta.annotate.workflow as workflow

    summary = pd.DataFrame({"gene_id": ["a", "b", "c", "d"], "nucleotides": [100, 200, 300, 400]})
    assert workflow.evaluated_genes(summary, ["a", "b", "c", "d"]) == (["a", "b", "c", "d"], None)
    available = psutil.virtual_memory().available
    monkeypatch.setattr(workflow, "EVALUATION_BYTES_PER_NT", available * workflow.EVALUATION_MEMORY_SHARE / 500)
    genes, sample = workflow.evaluated_genes(summary, ["a", "b", "c", "d"])
    assert sample["evaluated_nucleotides"] <= 500 and sample["held_out_genes"] == 4 and len(genes) < 4
    assert genes == workflow.evaluated_genes(summary, ["a", "b", "c", "d"])[0]  # seeded
    assert sample["evaluated_genes"] == len(genes) and "seeded sample of whole genes" in sample["why"]

    n_genes = len(world["genes"])
    lengths = [g.length for g in read_annotation(world["genome"].gtf).values()]
    budget = sum(sorted(lengths)[:2])  # room for about two of the held-out genes
    monkeypatch.setattr(workflow, "EVALUATION_BYTES_PER_NT", available * workflow.EVALUATION_MEMORY_SHARE / budget)
    result = annotate(world["model"], world["genome"].fasta, tmp_path / "out", annotation=world["genome"].gtf,
                      predictions=world["genome"].predictions, device="cpu")
    card = json.loads(result.card.read_text())
    assert card["evaluation"]["sample"]["held_out_genes"] == n_genes - N_TRAIN
    assert result.evaluation["n_genes"] == card["evaluation"]["sample"]["evaluated_genes"] < n_genes - N_TRAIN


def _model_without_recipe(world, tmp_path):
    model = load_model(world["model"], "cpu")
    model.recipe = None
    return model.save(tmp_path / "norecipe")


@pytest.mark.parametrize("case", ["region outside the FASTA", "model without a recipe",
                                  "predictions that do not cover the regions"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(world, tmp_path, capsys, case):
    annotation = read_annotation(world["genome"].gtf)
    gene = annotation[world["genes"][-1]]
    length = Genome(world["genome"].fasta).lengths[gene.chrom]
    model, end, start = world["model"], gene.end, gene.start - 1
    if case == "region outside the FASTA":
        end = length + 10
    elif case == "model without a recipe":
        model = _model_without_recipe(world, tmp_path)
    else:
        start -= 5
    bed = tmp_path / "regions.bed"
    bed.write_text(f"{gene.chrom}\t{start}\t{end}\t{gene.gene_id}\t0\t{gene.strand}\n")
    out = tmp_path / "out"
    code = main(["annotate", "--model", str(model), "--fasta", str(world["genome"].fasta), "--regions", str(bed),
                 "--predictions", str(world["genome"].predictions), "--out-dir", str(out), "--device", "cpu", "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert {"region outside the FASTA": "outside chromosome", "model without a recipe": "no feature recipe",
            "predictions that do not cover the regions": "cover every position"}[case] in err
    assert not out.exists()


@pytest.mark.gpu
def test_the_gpu_path_gives_the_cpu_scores(world, tmp_path, selective):
    result = annotate(world["model"], world["genome"].fasta, tmp_path / "gpu", annotation=world["genome"].gtf,
                      predictions=world["genome"].predictions, device="cuda", batch_size=5)
    gpu, cpu = _nucleotides(result), _nucleotides(selective)
    np.testing.assert_array_equal(gpu["rescored"], cpu["rescored"])
    for c in ("neither", "donor", "acceptor"):
        np.testing.assert_allclose(gpu[f"meta_{c}"], cpu[f"meta_{c}"], atol=1e-4)


def test_track_intervals_merge_equal_runs_and_keep_the_larger_overlapping_score():
    from gpumeta.annotate.tracks import _largest_per_position, runs

    zeros = np.zeros(6)
    position, values = _largest_per_position(np.array([5, 3, 4, 5, 7, 8]), {
        "meta_donor": np.array([0.1, 0.2, 0.2, 0.4, 0.3, 0.3]), "meta_acceptor": zeros, "base_donor": zeros,
        "base_acceptor": zeros})
    assert position.tolist() == [3, 4, 5, 7, 8] and values["meta_donor"].tolist() == [0.2, 0.2, 0.4, 0.3, 0.3]
    start, end, value = runs(position, values["meta_donor"])
    assert list(zip(start.tolist(), end.tolist(), value.tolist())) == [(2, 4, 0.2), (4, 5, 0.4), (6, 8, 0.3)]


def test_tracks_fed_batch_by_batch_hold_the_largest_score_of_every_position(tmp_path):
    # Regions in genome order on two chromosomes and both strands, one region per batch, overlapping across
    # batches (a long region covers the next two): the streamed tracks must equal the largest score per
    # position and strand over all regions, whatever the batch boundaries.
    import pyarrow as pa
    import pyBigWig

    from gpumeta.annotate.tracks import DECIMALS, SIGNALS, TrackStream

    rng = np.random.default_rng(4)
    regions = [("c1", 100, 1000, "+"), ("c1", 200, 300, "+"), ("c1", 250, 1200, "-"), ("c1", 260, 1100, "+"),
               ("c1", 5000, 5100, "-"), ("c2", 10, 50, "+"), ("c2", 40, 90, "+")]
    tables = []
    for chrom, start, end, strand in regions:
        n = end - start + 1
        values = {signal: np.round(rng.random(n), 1).astype(np.float32) for signal in SIGNALS}
        tables.append(pa.table({"chrom": [chrom] * n, "strand": [strand] * n,
                                "position": np.arange(start, end + 1), **values}))
    with TrackStream(tmp_path, ["c1", "c2"], {"c1": 10_000, "c2": 1_000}) as stream:
        for k, table in enumerate(tables):
            stream.feed(table, regions[k + 1][:2] if k + 1 < len(regions) else None)
        stream.close()
    every = pa.concat_tables(tables).to_pandas()
    for (chrom, strand), rows in every.groupby(["chrom", "strand"]):
        expected = rows.groupby("position")[list(SIGNALS)].max()
        label = "plus" if strand == "+" else "minus"
        for signal in SIGNALS:
            bw = pyBigWig.open(str(tmp_path / f"{signal}.{label}.bw"))
            got = np.asarray(bw.values(chrom, 0, int(expected.index.max())))[expected.index - 1]
            bw.close()
            np.testing.assert_allclose(got, np.round(expected[signal].to_numpy(np.float64), DECIMALS), atol=1e-6)
        graph = pd.read_csv(tmp_path / f"meta_donor.{label}.bedGraph", sep="\t", header=None, skiprows=1)
        assert (graph[graph[0] == chrom][2] - graph[graph[0] == chrom][1]).sum() == len(expected)


def test_a_batch_reads_only_the_row_groups_of_its_genes_and_keeps_them_for_the_next(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gpumeta.builder.predictions import Predictions

    n = 1000  # four genes of 250 rows in two row groups of 500, rows shuffled within each; a fifth gene in file 2
    order = np.r_[np.random.default_rng(0).permutation(500), 500 + np.random.default_rng(1).permutation(500)]
    table = pa.table({"gene_id": np.repeat(["a", "b", "c", "d"], n // 4), "chrom": ["c1"] * n, "strand": ["+"] * n,
                      "position": np.tile(np.arange(1, n // 4 + 1), 4), "donor_prob": np.linspace(0, 1, n),
                      "acceptor_prob": np.zeros(n), "neither_prob": np.ones(n)}).take(order)
    pq.write_table(table, tmp_path / "p1.parquet", row_group_size=n // 2)
    pq.write_table(table.slice(0, 10).set_column(0, "gene_id", pa.array(["e"] * 10)), tmp_path / "p2.parquet")
    source = Predictions(tmp_path)
    decoded = []
    decode = Predictions._decode
    monkeypatch.setattr(Predictions, "_decode", lambda self, key: decoded.append(key) or decode(self, key))

    def rows(genes):
        got = source.rows_of(genes).to_pandas().sort_values(["gene_id", "position"], ignore_index=True)
        expected = pd.concat([table.to_pandas(), table.slice(0, 10).to_pandas().assign(gene_id="e")])
        expected = expected[expected["gene_id"].isin(genes)][got.columns]
        pd.testing.assert_frame_equal(got, expected.sort_values(["gene_id", "position"], ignore_index=True))

    rows(["a", "b"])  # the first row group only
    assert decoded == [0]
    rows(["b", "c", "e"])  # the first kept, the second and the other file's read
    assert decoded == [0, 1, 2]
    rows(["a"])  # still decoded: nothing read; the others are dropped
    assert decoded == [0, 1, 2]
    rows(["d"])  # the second read again
    assert decoded == [0, 1, 2, 1]


def test_bigwig_holds_every_value_whether_written_as_runs_or_as_blocks(tmp_path):
    # chr1: few runs (mostly zeros), written as bedGraph-like entries; chr2: a new value at most positions,
    # written as fixed-step blocks. Both must read back as the rounded scores, gaps left empty.
    import contextlib

    import pyBigWig

    from gpumeta.annotate.tracks import DECIMALS, RUNS_PER_BLOCK_VALUE, _TrackWriter, runs

    rng = np.random.default_rng(0)
    position = np.r_[np.arange(101, 401), np.arange(501, 601)]
    sparse = np.zeros(position.size)
    sparse[[10, 11, 250]] = [0.31234, 0.31234, 0.9]
    dense = np.round(rng.random(position.size), DECIMALS)
    assert len(runs(position, sparse)[0]) * RUNS_PER_BLOCK_VALUE < position.size
    assert len(runs(position, dense)[0]) * RUNS_PER_BLOCK_VALUE >= position.size
    with contextlib.ExitStack() as stack:
        writer = _TrackWriter(stack, tmp_path, "meta_donor", "plus", ["chr1", "chr2"], {"chr1": 1000, "chr2": 1000})
        writer.add("chr1", position, np.round(sparse, DECIMALS))
        writer.add("chr2", position, dense)
    bw = pyBigWig.open(str(tmp_path / "meta_donor.plus.bw"))
    for chrom, expected in (("chr1", np.round(sparse, DECIMALS)), ("chr2", dense)):
        values = np.asarray(bw.values(chrom, 100, 600))
        np.testing.assert_allclose(values[position - 101], expected, atol=1e-6)
        assert np.isnan(values[300:400]).all()  # positions 401-500 were not scored
    bw.close()


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"context_width": 2, "hypothetical_option": 1}}, "cannot be reproduced"),
    ({"format": "gpumeta-recipe/99"}, "recipe format"),
    ({"features": ["donor_score", "7mer_AAAAAAA"]}, "cannot be rebuilt"),
])
def test_a_recipe_this_gpumeta_cannot_reproduce_is_refused(change, message):
    recipe = {"format": "gpumeta-recipe/1", "parameters": {"context_width": 2}, "feature_columns": []}
    recipe.update({k: v for k, v in change.items() if k != "features"})
    model = MetaModel(learners=[], feature_names=change.get("features", ["donor_score"]), logit_features=[],
                      recipe=recipe)
    with pytest.raises(GpumetaError, match=message):
        recipe_params(model, "RUN/model")


def test_a_model_with_a_gene_structure_writes_decoded_calls_read_5_to_3(world, tmp_path):
    model = load_model(world["model"], "cpu")
    model.gene_structure = {"meta": GeneStructure(violation=0.01, cuts=(0.4, 0.45))}
    model.save(tmp_path / "model")
    result = annotate(tmp_path / "model", world["genome"].fasta, tmp_path / "out", annotation=world["genome"].gtf,
                      predictions=world["genome"].predictions, device="cpu", batch_size=5)
    nt = _nucleotides(result)
    # Each gene read 5' to 3': on the minus strand positions run backwards.
    oriented = np.where(nt["strand"] == "-", -nt["position"], nt["position"])
    posterior = site_posteriors(nt["gene_id"], oriented, nt["meta_donor"], nt["meta_acceptor"],
                                (model.thresholds["donor"], model.thresholds["acceptor"]), model.gene_structure["meta"])
    expected = {t: int((posterior[:, j] >= model.gene_structure["meta"].cuts[j]).sum())
                for j, t in enumerate(("donor", "acceptor"))}
    assert {t: result.calls[f"decoded_{t}"] for t in expected} == expected and sum(expected.values()) > 0
    bed = pd.read_csv(result.out_dir / "decoded_sites.bed", sep="\t", header=None)
    assert len(bed) == sum(expected.values()) and set(bed[5]) == {"+", "-"}
    calls = pd.read_csv(result.out_dir / "site_calls.tsv", sep="\t")
    assert {"decoded_call", "decoded_donor", "decoded_acceptor"} <= set(calls.columns)
    assert result.calls["meta_donor"] == pd.read_csv(result.out_dir / "gene_summary.tsv", sep="\t")["meta_donor"].sum()
