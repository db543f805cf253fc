"""The synthetic data maker: genome + annotation + predictions, and direct datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gpumeta.errors import GpumetaError
from gpumeta.schema import LABEL_CODES, REQUIRED_COLUMNS, is_feature_column
from gpumeta.synth import ErrorModel, dataset_feature_columns, synth_dataset, synth_genome

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(s: str) -> str:
    return s.translate(COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return synth_genome(tmp_path_factory.mktemp("genome") / "g", n_genes=40, seed=0)


@pytest.fixture(scope="module")
def predictions(genome) -> pd.DataFrame:
    return pq.read_table(genome.predictions).to_pandas()


@pytest.fixture(scope="module")
def sites(genome) -> pd.DataFrame:
    return pd.read_csv(genome.sites, sep="\t", dtype={"chrom": str})


@pytest.fixture(scope="module")
def gtf(genome) -> pd.DataFrame:
    frame = pd.read_csv(genome.gtf, sep="\t", header=None, dtype={0: str},
                        names=["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attr"])
    for key in ("gene_id", "transcript_id", "gene_type"):
        frame[key] = frame["attr"].str.extract(rf'{key} "([^"]+)"', expand=False)
    return frame


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("dataset") / "d", n_genes=120, rows_per_gene=250, seed=0,
                         genes_per_batch=50)


def read_dataset(path: Path) -> pd.DataFrame:
    return pd.concat([pq.read_table(f).to_pandas() for f in sorted((path / "master").glob("*.parquet"))],
                     ignore_index=True)


# ---- genome ----------------------------------------------------------------------------------------------

def test_genome_is_deterministic_per_seed(tmp_path):
    a = synth_genome(tmp_path / "a", n_genes=6, seed=3)
    b = synth_genome(tmp_path / "b", n_genes=6, seed=3)
    c = synth_genome(tmp_path / "c", n_genes=6, seed=4)
    for name in ("genome.fa", "genome.fa.fai", "annotation.gtf", "sites.tsv", "predictions/part-00000.parquet"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    assert a.fasta.read_bytes() != c.fasta.read_bytes()
    assert (a.predictions / "part-00000.parquet").read_bytes() != (c.predictions / "part-00000.parquet").read_bytes()


def test_fasta_index_gives_random_access(genome):
    import pyfaidx

    raw: dict[str, str] = {}
    for block in genome.fasta.read_text().split(">")[1:]:
        name, *lines = block.splitlines()
        assert all(len(line) == 60 for line in lines[:-1])
        raw[name] = "".join(lines)
    fasta = pyfaidx.Fasta(str(genome.fasta))
    assert sorted(fasta.keys()) == sorted(raw) == ["1", "2"]
    for name, seq in raw.items():
        assert len(fasta[name]) == len(seq)
        for start in (0, 59, 60, 1234, len(seq) - 100):
            assert str(fasta[name][start:start + 100]) == seq[start:start + 100]


def test_gtf_structure_and_sites_follow_the_convention(genome, gtf, sites):
    import pyfaidx

    assert set(gtf["feature"]) == {"gene", "transcript", "exon"}
    assert (gtf["gene_type"] == "protein_coding").all() and gtf["gene_id"].notna().all()
    exons = gtf[gtf["feature"] == "exon"]
    genes = gtf[gtf["feature"] == "gene"].set_index("gene_id")
    assert set(genes["strand"]) == {"+", "-"}
    n_transcripts = exons.groupby("gene_id")["transcript_id"].nunique()
    assert (n_transcripts > 1).sum() >= 5
    assert (exons.groupby("transcript_id").size() > 1).all()

    # Sites from the GTF itself (exon order in the file is transcript order) equal sites.tsv.
    expected = set()
    for (gene_id, _tid), tx in exons.groupby(["gene_id", "transcript_id"], sort=False):
        plus = tx["strand"].iloc[0] == "+"
        three_prime, five_prime = (tx["end"], tx["start"]) if plus else (tx["start"], tx["end"])
        expected |= {(gene_id, int(p), "donor") for p in three_prime.iloc[:-1]}
        expected |= {(gene_id, int(p), "acceptor") for p in five_prime.iloc[1:]}
    assert expected == set(zip(sites["gene_id"], sites["position"], sites["site_type"]))

    fasta = pyfaidx.Fasta(str(genome.fasta))
    checked = {"+": 0, "-": 0}
    for row in sites.itertuples():
        chrom = fasta[row.chrom]
        p = row.position  # 1-based; pyfaidx slices are 0-based
        if row.strand == "+":
            intron_side = str(chrom[p:p + 2]) if row.site_type == "donor" else str(chrom[p - 3:p - 1])
        else:
            intron_side = revcomp(str(chrom[p - 3:p - 1])) if row.site_type == "donor" else revcomp(str(chrom[p:p + 2]))
        assert intron_side == ("GT" if row.site_type == "donor" else "AG"), row
        checked[row.strand] += 1
    assert min(checked.values()) > 20

    # Genes 1 and 2 overlap on opposite strands, sharing nucleotides.
    first, second = genes.loc["SYNG00001"], genes.loc["SYNG00002"]
    assert first["chrom"] == second["chrom"] and first["strand"] != second["strand"]
    assert second["start"] <= first["end"] and first["start"] <= second["end"]


def test_predictions_cover_every_gene_body_once(gtf, predictions):
    genes = gtf[gtf["feature"] == "gene"].set_index("gene_id")
    assert predictions["position"].dtype == np.int64
    for col in ("donor_prob", "acceptor_prob", "neither_prob"):
        assert predictions[col].dtype == np.float32
        assert predictions[col].between(0, 1).all()
    total = predictions[["donor_prob", "acceptor_prob", "neither_prob"]].astype(np.float64).sum(axis=1)
    assert np.abs(total - 1).max() < 1e-6
    assert set(predictions["gene_id"]) == set(genes.index)
    for gene_id, rows in predictions.groupby("gene_id"):
        g = genes.loc[gene_id]
        assert (rows["chrom"] == g["chrom"]).all() and (rows["strand"] == g["strand"]).all()
        assert np.array_equal(np.sort(rows["position"].to_numpy()), np.arange(g["start"], g["end"] + 1))


def test_base_model_makes_the_documented_errors(genome, predictions, sites):
    site_index = pd.MultiIndex.from_frame(sites[["gene_id", "position"]])
    row_index = pd.MultiIndex.from_frame(predictions[["gene_id", "position"]])
    site_type = pd.Series(sites["site_type"].to_numpy(), index=site_index).reindex(row_index).to_numpy()
    donor, acceptor = predictions["donor_prob"].to_numpy(), predictions["acceptor_prob"].to_numpy()
    own = np.where(site_type == "donor", donor, acceptor)
    is_site = pd.notna(site_type)
    tp = int((is_site & (own >= 0.5)).sum())
    fn = int((is_site & (own < 0.5)).sum())
    fp = int((~is_site & (np.maximum(donor, acceptor) >= 0.5)).sum())
    assert tp > 0.7 * len(sites) and fn >= 10 and fp >= 10

    # Shifted peaks: the stream's maximum within +-2 of a true site is not at the site.
    shifted = 0
    for gene_id, rows in predictions.groupby("gene_id"):
        pos = rows["position"].to_numpy()
        for s in sites[sites["gene_id"] == gene_id].itertuples():
            stream = rows["donor_prob" if s.site_type == "donor" else "acceptor_prob"].to_numpy()
            i = int(np.searchsorted(pos, s.position))
            window = stream[i - 2:i + 3]
            shifted += int(np.argmax(window) != 2 and window.max() >= 0.5)
    assert shifted >= 3
    card = json.loads(genome.card.read_text())["counts"]
    assert shifted <= card["shifted_donor_peaks"] + card["shifted_acceptor_peaks"]

    # Background piles near 0 like SpliceAI's; moderate scores exist off the sites (hard negatives).
    background = np.maximum(donor, acceptor)[~is_site]
    assert np.median(background) < 1e-3 and (background < 1e-3).mean() > 0.7
    assert ((background > 0.1) & (background < 0.5)).sum() > fn


# ---- dataset ---------------------------------------------------------------------------------------------

def test_dataset_satisfies_the_contract(dataset):
    from gpumeta.dataset import validate_dataset

    report = validate_dataset(dataset)
    assert report.ok, report.problems
    frame = read_dataset(dataset)
    card = json.loads((dataset / "dataset_card.json").read_text())
    assert len(frame) == card["n_rows"] == report.n_rows
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)
    assert set(frame["splice_type"]) == set(LABEL_CODES)
    features = [c for c in frame.columns if is_feature_column(c)]
    assert features == dataset_feature_columns() == card["features"]
    values = frame[features].to_numpy(dtype=np.float64)
    assert np.isfinite(values).all()
    assert frame[["donor_score", "acceptor_score", "neither_score"]].sum(axis=1).sub(1).abs().max() < 1e-6

    splice = (frame["splice_type"] != "neither").mean()
    assert 0.10 <= splice <= 0.15
    assert set(frame["pred_type"]) == {"TP", "FP", "FN", "TN"} and (frame["pred_type"] == "TN").mean() > 0.7
    assert set(frame["sampling_stratum"]) == {"site", "call", "hard", "window", "easy"}
    easy = frame["sampling_stratum"] == "easy"
    assert (frame.loc[easy, "inclusion_prob"] < 1).all() and (frame.loc[~easy, "inclusion_prob"] == 1).all()
    assert (frame.loc[frame["transcript_id"] != "", "splice_type"] != "neither").all()
    # Positions: unique per gene; absolute = gene_start + position on +, gene_end - position on -.
    assert not frame.duplicated(["gene_id", "position"]).any()
    plus = frame["strand"] == "+"
    expected = np.where(plus, frame["gene_start"] + frame["position"], frame["gene_end"] - frame["position"])
    assert (frame["absolute_position"] == expected).all()
    assert frame["absolute_position"].between(frame["gene_start"], frame["gene_end"]).all()

    manifest = pd.read_csv(dataset / "gene_manifest.csv", dtype={"chrom": str})
    assert (manifest.set_index("gene_id")["n_rows"] == frame.groupby("gene_id").size()).all()
    assert manifest["file"].nunique() == 3
    overlapping = 0
    for _, chrom in manifest.groupby("chrom"):
        s, e = chrom["gene_start"].to_numpy(), chrom["gene_end"].to_numpy()
        overlapping += int(((s[:, None] <= e[None, :]) & (e[:, None] >= s[None, :])).sum() - len(s))
    assert overlapping >= 2


def test_dataset_is_deterministic_per_seed(tmp_path):
    args = dict(n_genes=12, rows_per_gene=60, genes_per_batch=5)
    a, b = synth_dataset(tmp_path / "a", seed=1, **args), synth_dataset(tmp_path / "b", seed=1, **args)
    c = synth_dataset(tmp_path / "c", seed=2, **args)
    files = sorted(p.name for p in (a / "master").glob("*.parquet"))
    assert files == ["batch_00001.parquet", "batch_00002.parquet", "batch_00003.parquet"]
    for name in files:
        assert (a / "master" / name).read_bytes() == (b / "master" / name).read_bytes()
        assert (a / "master" / name).read_bytes() != (c / "master" / name).read_bytes()
    assert (a / "gene_manifest.csv").read_bytes() == (b / "gene_manifest.csv").read_bytes()


def test_meta_model_beats_the_base_model_on_held_out_genes(dataset):
    import xgboost as xgb
    from sklearn.metrics import f1_score

    frame = read_dataset(dataset)
    features = [c for c in frame.columns if is_feature_column(c)]
    y = frame["splice_type"].map(LABEL_CODES).to_numpy()
    genes = np.sort(frame["gene_id"].unique())
    test_genes = np.random.default_rng(0).choice(genes, size=len(genes) // 5, replace=False)
    test = frame["gene_id"].isin(test_genes).to_numpy()
    model = xgb.XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.3, tree_method="hist", max_bin=64,
                              n_jobs=2)
    model.fit(frame.loc[~test, features].to_numpy(np.float32), y[~test])
    meta = model.predict(frame.loc[test, features].to_numpy(np.float32))
    base = frame.loc[test, ["neither_score", "donor_score", "acceptor_score"]].to_numpy().argmax(axis=1)
    meta_f1 = f1_score(y[test], meta, average="macro")
    base_f1 = f1_score(y[test], base, average="macro")
    assert meta_f1 > base_f1 + 0.03, (meta_f1, base_f1)
    # Errors at 0.5 (= argmax here, as no class can pass 0.5 without winning): fewer FP + FN.
    splice = y[test] > 0
    assert ((meta > 0) != splice).sum() + ((meta > 0) & splice & (meta != y[test])).sum() < \
        ((base > 0) != splice).sum() + ((base > 0) & splice & (base != y[test])).sum()
    # Not trivially: no single feature separates splice rows from the rest.
    values = frame[features].to_numpy(np.float64)
    corr = [abs(np.corrcoef(values[:, j], y > 0)[0, 1]) for j in range(values.shape[1]) if values[:, j].std() > 0]
    assert max(corr) < 0.95


def test_large_preset_has_the_original_shape_and_streams(tmp_path):
    out = synth_dataset(tmp_path / "large", n_genes=3, rows_per_gene=40, preset="metaspliceai-large",
                        genes_per_batch=1)
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["n_features"] == 1167 == len(dataset_feature_columns((3, 5), 1))
    files = sorted((out / "master").glob("*.parquet"))
    assert len(files) == 3
    schema = pq.read_schema(files[0])
    assert [c for c in schema.names if is_feature_column(c)] == card["features"]
    assert {"5mer_GTAAG", "3mer_ACG", "nt_p1_T"} <= set(schema.names)


def test_arguments_are_validated(tmp_path):
    with pytest.raises(GpumetaError, match="n_genes"):
        synth_genome(tmp_path / "g", n_genes=1)
    with pytest.raises(GpumetaError, match="n_genes"):
        synth_dataset(tmp_path / "d", n_genes=1)
    with pytest.raises(GpumetaError, match="unknown preset"):
        synth_dataset(tmp_path / "d", preset="huge")
    with pytest.raises(GpumetaError, match="rows_per_gene"):
        synth_dataset(tmp_path / "d", n_genes=5, rows_per_gene=3)
    with pytest.raises(GpumetaError, match="kmer_sizes"):
        synth_dataset(tmp_path / "d", n_genes=5, kmer_sizes=(3, 9))
    with pytest.raises(GpumetaError, match="weak_peak"):
        ErrorModel(weak_peak=(0.5, 0.2))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("user data")
    with pytest.raises(GpumetaError, match="not an earlier synth output"):
        synth_dataset(foreign, n_genes=5, rows_per_gene=40)
    assert (foreign / "keep.txt").read_text() == "user data"
    assert not (tmp_path / "g").exists() and not (tmp_path / "d").exists()


def test_cli_writes_both_kinds_and_reports_bad_input(tmp_path, capsys):
    from gpumeta.cli import main

    assert main(["synth", str(tmp_path / "g"), "--genes", "4", "--seed", "2"]) == 0
    assert (tmp_path / "g" / "genome.fa.fai").exists() and "4 genes" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "d"), "--kind", "dataset", "--genes", "6", "--rows-per-gene", "50"]) == 0
    assert "6 genes" in capsys.readouterr().out and (tmp_path / "d" / "gene_manifest.csv").exists()
    # Rewriting an earlier output is allowed; an unknown kind or a genome preset is one error line.
    assert main(["synth", str(tmp_path / "d"), "--kind", "dataset", "--genes", "5", "--rows-per-gene", "50",
                 "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "d" / "gene_manifest.csv")) == 5
    assert main(["synth", str(tmp_path / "x"), "--kind", "fasta"]) == 2
    assert main(["synth", str(tmp_path / "x"), "--preset", "metaspliceai-large"]) == 2
    assert capsys.readouterr().err.count("error:") == 2
