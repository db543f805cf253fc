"""gpumeta build on hand-made inputs: site conventions, labels, features, resume, input checks, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from build_inputs import (
    GENES,
    TRUE_ACCEPTORS,
    TRUE_DONORS,
    digests,
    write_genome,
    write_gff3,
    write_gtf,
    write_predictions,
    write_spliceai_table,
)

from gpumeta.builder import build_dataset, dedupe, summarize
from gpumeta.builder.annotation import gene_sites, read_annotation
from gpumeta.builder.labelling import match_sites
from gpumeta.dataset import validate_dataset
from gpumeta.errors import GpumetaError


@pytest.fixture()
def inputs(tmp_path):
    write_genome(tmp_path / "genome.fa")
    write_gtf(tmp_path / "genes.gtf")
    write_predictions(tmp_path / "pred")
    return tmp_path


def _build(inputs: Path, out: str = "ds", **kwargs):
    kwargs.setdefault("predictions", inputs / "pred")
    return build_dataset(inputs / "genome.fa", inputs / "genes.gtf", inputs / out, device="cpu", **kwargs)


def _rows(result) -> pd.DataFrame:
    return pd.concat([pq.read_table(f).to_pandas() for f in result.batch_files], ignore_index=True)



# ---- annotation and site conventions ----------------------------------------------------------------

def test_sites_follow_the_exon_convention_on_both_strands(inputs):
    genes = read_annotation(inputs / "genes.gtf")
    for g in GENES:
        sites = gene_sites(genes[g], "exon")
        assert sites.donor.tolist() == TRUE_DONORS[g]
        assert sites.acceptor.tolist() == TRUE_ACCEPTORS[g]
    # intron convention: one base into the intron, in transcript orientation
    plus, minus = gene_sites(genes["G1"], "intron"), gene_sites(genes["G2"], "intron")
    assert plus.donor.tolist() == [201, 401, 501] and plus.acceptor.tolist() == [300, 450, 600]
    assert minus.donor.tolist() == [1500, 1800] and minus.acceptor.tolist() == [1301, 1601]


def test_gff3_and_spliceai_table_give_the_same_genes_as_gtf(inputs):
    write_gff3(inputs / "genes.gff3")
    write_spliceai_table(inputs / "genes.txt")
    gtf, gff3, spliceai = (read_annotation(inputs / n) for n in ("genes.gtf", "genes.gff3", "genes.txt"))
    for g in GENES:
        assert (gff3[g].start, gff3[g].end, gff3[g].strand) == (gtf[g].start, gtf[g].end, gtf[g].strand)
        assert gene_sites(gff3[g]).donor.tolist() == TRUE_DONORS[g]
        first_tx = gene_sites(spliceai[g])  # one transcript per gene in SpliceAI's table
        assert set(first_tx.donor.tolist()) <= set(TRUE_DONORS[g]) and spliceai[g].chrom == "1"
        assert (spliceai[g].start, spliceai[g].end) == (gtf[g].start, gtf[g].end)


def test_matching_is_one_to_one_within_the_window():
    # two sites 3 nt apart share one nearby call: only one can match it
    assert match_sites(np.array([10, 13]), np.array([11]), 2).tolist() == [True, False]
    assert match_sites(np.array([10, 13]), np.array([11, 14]), 2).tolist() == [True, True]
    assert match_sites(np.array([10]), np.array([13]), 2).tolist() == [False]
    assert match_sites(np.array([10]), np.array([], dtype=np.int64), 2).tolist() == [False]


# ---- labels, features, layout ----------------------------------------------------------------------

def test_labels_match_the_planted_calls_and_sites(inputs):
    result = _build(inputs)
    rows = _rows(result).set_index(["gene_id", "absolute_position"])
    expect = {("G1", 200): ("donor", "TP"), ("G1", 400): ("donor", "TP"), ("G1", 500): ("donor", "FN"),
              ("G1", 700): ("neither", "FP"), ("G1", 601): ("acceptor", "FN"), ("G1", 451): ("acceptor", "TP"),
              ("G2", 1501): ("donor", "TP"), ("G2", 1600): ("acceptor", "FN"), ("G2", 1900): ("neither", "FP"),
              ("G1", 401): ("neither", "TN")}  # the call credited to site 400 is not an error
    for key, (splice, pred) in expect.items():
        assert (rows.loc[key, "splice_type"], rows.loc[key, "pred_type"]) == (splice, pred), key
    streams = result.counts["streams"]
    assert {k: streams["donor"][k] for k in ("TP", "FN", "FP")} == {"TP": 5, "FN": 1, "FP": 1}
    assert {k: streams["acceptor"][k] for k in ("TP", "FN", "FP")} == {"TP": 4, "FN": 2, "FP": 1}
    assert result.counts["nucleotides"] == sum(e - s + 1 for _, s, e, _ in GENES.values())
    # every site and call is kept; transcript ids only on site rows
    assert (rows["splice_type"] != "neither").sum() == 12
    assert set(rows.loc[rows["splice_type"] == "neither", "transcript_id"]) == {""}
    assert rows.loc[("G1", 451), "transcript_id"] == "T2"
    assert validate_dataset(result.out_dir).ok


def test_positions_context_and_sequence_are_in_transcript_orientation(inputs):
    rows = _rows(_build(inputs, kmer_window=3))
    minus = rows[rows["gene_id"] == "G2"]
    assert ((minus["gene_end"] - minus["absolute_position"]) == minus["position"]).all()
    plus = rows[rows["gene_id"] == "G1"]
    assert ((plus["absolute_position"] - plus["gene_start"]) == plus["position"]).all()
    donors = rows[rows["splice_type"] == "donor"]
    assert (donors["nt_p1_G"] == 1).all() and (donors["nt_p2_T"] == 1).all()  # GT after every donor
    # context m1 on '-' is the genomically next base (transcript orientation), 0 past the gene edge
    by_pos = rows.set_index(["gene_id", "absolute_position"])
    assert by_pos.loc[("G2", 1801), "donor_context_m1"] == pytest.approx(by_pos.loc[("G2", 1802), "donor_score"])
    assert by_pos.loc[("G1", 401), "donor_context_m1"] == pytest.approx(by_pos.loc[("G1", 400), "donor_score"])
    edge = rows[(rows["gene_id"] == "G3") & (rows["position"] == 0)]
    assert len(edge) == 0 or (edge["donor_context_m1"] == 0).all()
    # k-mer counts: the window [c-3, c+3] holds 5 3-mers (fewer where it has an N)
    kmer_cols = [c for c in rows if c.startswith("3mer_")]
    assert len(kmer_cols) == 64
    assert (rows[kmer_cols].sum(axis=1) <= 5).all() and (rows[kmer_cols].sum(axis=1).max() == 5)
    features = [c for c in rows if rows[c].dtype.kind == "f"]
    assert np.isfinite(rows[features].to_numpy()).all()


def _shape_by_loop(scores: np.ndarray, other: np.ndarray, i: int, width: int) -> dict[str, float]:
    """The score-shape values of position i, one neighbour at a time (0 past the gene edge)."""
    def at(track, j):
        return float(track[j]) if 0 <= j < len(track) else 0.0

    offsets = [o for o in range(-width, width + 1) if o != 0]
    s, near = float(scores[i]), [at(scores, i + o) for o in offsets]
    strongest = max(near)
    return {"max_diff": s - strongest, "mean_diff": s - sum(near) / len(near),
            "log_ratio": np.log(s + 1e-10) - np.log(strongest + 1e-10),
            "second_diff": 2 * s - near[0] - near[-1], "is_max": float(s >= strongest and s > 1e-3),
            "rank": float(sum(v > s for v in near)), "peak_offset": float(offsets[near.index(strongest)]),
            "other_max": max(at(other, i + o) for o in offsets)}


def test_shape_features_match_a_loop_over_neighbours_and_are_opt_in(inputs):
    width = 4
    rows = _rows(_build(inputs, all_positions=True, shape_width=width, chunk_rows=250))
    card = json.loads((inputs / "ds" / "dataset_card.json").read_text())
    assert card["parameters"]["shape_width"] == width
    shape_cols = [c for c in rows if "_shape_" in c]
    assert len(shape_cols) == 16 and all(c.split("_")[0] in ("donor", "acceptor") for c in shape_cols)
    checked = 0
    for gene_id, gene in rows.groupby("gene_id"):
        gene = gene.sort_values("position")
        tracks = {t: gene[f"{t}_score"].to_numpy() for t in ("donor", "acceptor")}
        # every site and call, both gene edges, and a spread of ordinary positions
        picks = set(np.nonzero(np.maximum(tracks["donor"], tracks["acceptor"]) > 0.1)[0].tolist())
        picks |= {0, 1, len(gene) - 1, len(gene) - 3} | set(range(0, len(gene), 37))
        for i in sorted(picks):
            for t, other in (("donor", "acceptor"), ("acceptor", "donor")):
                expected = _shape_by_loop(tracks[t], tracks[other], i, width)
                got = {k: float(gene[f"{t}_shape_{k}"].iloc[i]) for k in expected}
                assert got == pytest.approx(expected, rel=1e-5, abs=1e-6), (gene_id, i, t)
                checked += 1
    assert checked > 100
    assert rows["donor_shape_is_max"].sum() > 0 and (rows["donor_shape_peak_offset"] != 0).all()
    plain = _rows(_build(inputs, out="plain", all_positions=True))
    assert not [c for c in plain if "_shape_" in c]
    with pytest.raises(GpumetaError, match="shape_width"):
        _build(inputs, out="bad", shape_width=-1)


def test_window_max_matches_a_loop():
    from gpumeta.builder.partners import window_max

    rng = np.random.default_rng(0)
    for _ in range(300):
        n, lo = int(rng.integers(1, 60)), int(rng.integers(-30, 30))
        hi = lo + int(rng.integers(0, 40))
        x = rng.random(n).astype(np.float32)
        expected = [max([float(x[j]) for j in range(i + lo, i + hi + 1) if 0 <= j < n] + [0.0]) for i in range(n)]
        np.testing.assert_array_equal(window_max(x, lo, hi, np), np.asarray(expected, np.float32))


def test_partner_columns_match_a_loop_in_transcript_order_and_are_opt_in(inputs):
    from gpumeta.builder.partners import EXON, INTRON_MIN, PARTNER_COLUMNS

    width = 300
    result = _build(inputs, all_positions=True, partner_window=width, chunk_rows=250)
    rows = _rows(result)
    assert json.loads(result.card.read_text())["parameters"]["partner_window"] == width
    windows = {"acceptor_exon_donor_max": ("donor", EXON[0], EXON[1]),
               "donor_exon_acceptor_max": ("acceptor", -EXON[1], -EXON[0]),
               "donor_intron_acceptor_max": ("acceptor", INTRON_MIN, width),
               "acceptor_intron_donor_max": ("donor", -width, -INTRON_MIN)}
    assert set(windows) == set(PARTNER_COLUMNS)
    checked = 0
    for gene_id, gene in rows.groupby("gene_id"):
        gene = gene.sort_values("position", ignore_index=True)  # gene-relative, in transcript orientation
        tracks = {t: gene[f"{t}_score"].to_numpy() for t in ("donor", "acceptor")}
        for i in sorted({0, 1, len(gene) - 1} | set(range(0, len(gene), 23))):
            for column, (partner, lo, hi) in windows.items():
                near = [tracks[partner][j] for j in range(i + lo, i + hi + 1) if 0 <= j < len(gene)]
                assert gene[column].iloc[i] == pytest.approx(max(near, default=0.0)), (gene_id, i, column)
                checked += 1
    assert checked > 100 and (rows["acceptor_exon_donor_max"] > 0.5).any()
    plain = _build(inputs, out="plain", all_positions=True)
    assert not set(PARTNER_COLUMNS) & set(_rows(plain).columns)
    assert "partner_window" not in json.loads(plain.card.read_text())["parameters"]  # cards as before the option
    with pytest.raises(GpumetaError, match="partner_window"):
        _build(inputs, out="bad", partner_window=30)


def _site_strength_by_loop(seq: str, i: int) -> dict[str, float]:
    """The site-strength values of transcript index i, base by base (`seq` has `flank` bases each side, so
    the row's own base is seq[i + flank] ... handled by the caller passing the shifted index)."""
    from gpumeta.builder.site_strength import _ACCEPTOR_FREQ, _DONOR_FREQ, AG_SEARCH, RIVAL_WIDTH

    def pwm(freq, j):
        total = 0.0
        for o, f in freq.items():
            base = seq[j + o]
            if base in "ACGT":
                total += float(np.float32(np.log2(f["ACGT".index(base)] / sum(f) / 0.25)))
        return total

    out = {}
    for t, freq in (("donor", _DONOR_FREQ), ("acceptor", _ACCEPTOR_FREQ)):
        own = pwm(freq, i)
        best, best_offset = None, None
        for d in range(1, RIVAL_WIDTH + 1):  # nearest first, upstream before downstream
            for o in (-d, d):
                value = pwm(freq, i + o)
                if best is None or value > best:
                    best, best_offset = value, o
        out.update({f"{t}_pwm": own, f"{t}_pwm_rival": best, f"{t}_pwm_margin": own - best,
                    f"{t}_pwm_rival_offset": float(best_offset)})
    out["acceptor_ag_up3"] = float(seq[i - 5: i - 3] == "AG")
    out["acceptor_ag_down3"] = float(seq[i + 1: i + 3] == "AG")
    out["acceptor_ag_distance"] = float(next((d for d in range(1, AG_SEARCH + 1) if seq[i - 2 - d: i - d] == "AG"),
                                             AG_SEARCH + 1))
    out["acceptor_ppt"] = sum(seq[i + o] in "CT" for o in range(-20, -4)) / 16
    return out


def test_site_strength_matches_a_loop_over_bases_and_is_opt_in(inputs):
    from gpumeta.builder.fasta import Genome
    from gpumeta.builder.params import BuildParams
    from gpumeta.builder.sequence import gene_sequence
    from gpumeta.builder.site_strength import SITE_STRENGTH_COLUMNS

    result = _build(inputs, all_positions=True, site_strength=True, chunk_rows=250)
    rows = _rows(result)
    card = json.loads(result.card.read_text())
    assert card["parameters"]["site_strength"] is True
    assert set(SITE_STRENGTH_COLUMNS) <= set(rows.columns)
    flank = BuildParams(site_strength=True).flank
    assert flank > BuildParams().flank  # the windows reach past the one-hot and k-mer windows
    genes = read_annotation(inputs / "genes.gtf")
    genome = Genome(inputs / "genome.fa")
    checked = 0
    for gene_id, gene in rows.groupby("gene_id"):
        gene = gene.sort_values("position")
        seq = "".join("ACGTN"[c] for c in gene_sequence(genome, genes[gene_id], flank))
        picks = set(np.nonzero(gene["splice_type"].to_numpy() != "neither")[0].tolist())
        picks |= {0, 1, len(gene) - 1, len(gene) - 2} | set(range(0, len(gene), 29))
        for i in sorted(picks):
            expected = _site_strength_by_loop(seq, i + flank)
            got = {k: float(gene[k].iloc[i]) for k in expected}
            assert got == pytest.approx(expected, rel=1e-5, abs=1e-4), (gene_id, i)
            checked += 1
    assert checked > 50
    plain = _build(inputs, out="plain", all_positions=True)
    assert not set(SITE_STRENGTH_COLUMNS) & set(_rows(plain).columns)
    assert "site_strength" not in json.loads(plain.card.read_text())["parameters"]  # cards as before the option
    with pytest.raises(GpumetaError, match="site_strength"):
        _build(inputs, out="bad", site_strength="yes")


def test_site_strength_scores_consensus_sites_and_nagnag():
    from gpumeta.builder.fasta import encode
    from gpumeta.builder.site_strength import reach, site_strength_columns

    flank = reach()[0] + 1
    exon, intron = "GCATCGGACTCAG", "GTAAGTATTGCACTATTGCAC"
    acceptor_side = "TTTCTCTCCTTTCCTTCTTTCCAGCAGGTTACG"  # ...TTCCTTCTTTCCAG|CAG|GTT: NAGNAG, two acceptors 3 nt apart
    seq = "A" * flank + exon + intron + acceptor_side + "C" * flank
    codes = encode(seq)
    donor = len(exon) - 1  # last exon base
    first_acceptor = len(exon) + len(intron) + acceptor_side.index("CCAGCAG") + 4  # the base after the first AG
    idx = np.array([donor, donor + 1, first_acceptor, first_acceptor + 3, first_acceptor + 1])
    cols = site_strength_columns(codes, idx, flank, np)
    assert cols["donor_pwm"][0] > 8 and cols["donor_pwm"][0] > cols["donor_pwm"][1] + 10
    assert cols["donor_pwm_margin"][0] > 5 and cols["donor_pwm_rival_offset"][1] == -1
    assert cols["acceptor_pwm"][2] > 5 and cols["acceptor_pwm"][3] > 5  # both NAGNAG acceptors are strong
    assert cols["acceptor_pwm_rival_offset"][2] == 3 and cols["acceptor_pwm_rival_offset"][3] == -3
    assert cols["acceptor_ag_down3"][2] == 1 and cols["acceptor_ag_up3"][3] == 1
    assert cols["acceptor_ag_distance"][3] == 3 and cols["acceptor_ag_distance"][2] > 20  # no AG in the tract
    assert cols["acceptor_ppt"][2] > 0.8 and cols["acceptor_pwm"][4] < 0
    assert all(v.dtype == np.float32 for v in cols.values())


def test_all_positions_keeps_every_nucleotide(inputs):
    result = _build(inputs, all_positions=True, batch_size=2, chunk_rows=300)
    rows = _rows(result)
    assert len(rows) == sum(e - s + 1 for _, s, e, _ in GENES.values())
    assert (rows["inclusion_prob"] == 1).all()
    assert json.loads(result.card.read_text())["all_positions"] is True
    assert rows.groupby("gene_id")["absolute_position"].nunique().to_dict() == {
        g: e - s + 1 for g, (_, s, e, _) in GENES.items()}
    manifest = pd.read_csv(result.manifest)
    assert manifest["n_rows"].sum() == len(rows) and len(result.batch_files) == 2


def test_easy_negatives_are_sampled_reproducibly_with_their_probability(inputs):
    rows = _rows(_build(inputs, hard_prob=0.5, tn_window=5, easy_ratio=1.0))
    easy = rows[rows["sampling_stratum"] == "easy"]
    assert len(easy) > 0 and (easy["inclusion_prob"] < 1).all()
    assert (rows.loc[rows["sampling_stratum"] != "easy", "inclusion_prob"] == 1).all()
    again = _rows(_build(inputs, "ds2", hard_prob=0.5, tn_window=5, easy_ratio=1.0, batch_size=1))
    pd.testing.assert_frame_equal(rows, again)  # batching does not change the draw


# ---- resume ------------------------------------------------------------------------------------------

def test_interrupted_build_resumes_to_the_same_dataset(inputs):
    whole = _rows(_build(inputs, "whole", batch_size=1))

    def stop_after_first(number, total, path):
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _build(inputs, "resumed", batch_size=1, on_batch=stop_after_first)
    assert not (inputs / "resumed" / "dataset_card.json").exists()
    result = _build(inputs, "resumed", batch_size=1)
    assert result.resumed_batches == 1
    pd.testing.assert_frame_equal(_rows(result), whole)
    with pytest.raises(GpumetaError, match=r"different parameters\.seed"):
        _build(inputs, "resumed", batch_size=1, seed=5)
    assert _build(inputs, "resumed", batch_size=1, seed=5, overwrite=True).resumed_batches == 0
    # --overwrite with an input that fails its checks keeps the previous build
    write_predictions(inputs / "bad", edit=lambda g, f: f.iloc[:-1])
    with pytest.raises(GpumetaError, match="must cover"):
        _build(inputs, "resumed", predictions=inputs / "bad", overwrite=True)
    assert (inputs / "resumed" / "dataset_card.json").exists()


# ---- input checks ----------------------------------------------------------------------------------

def test_inputs_are_never_modified(inputs):
    before = digests(inputs)
    _build(inputs, "../out_elsewhere")
    assert digests(inputs) == before  # no .fai written beside the genome either


def test_chromosome_mismatch_offers_the_alias_fix(inputs):
    write_genome(inputs / "genome.fa", chrom="1")
    with pytest.raises(GpumetaError, match="--chrom-alias strip-chr"):
        _build(inputs)
    assert not (inputs / "ds").exists()
    assert _build(inputs, chrom_alias="strip-chr").n_genes == 3


def test_bad_parameters_and_missing_base_model_are_one_line_errors(inputs):
    with pytest.raises(GpumetaError, match="threshold"):
        _build(inputs, threshold=1.5)
    with pytest.raises(GpumetaError, match="exactly one of"):
        build_dataset(inputs / "genome.fa", inputs / "genes.gtf", inputs / "x", device="cpu")
    with pytest.raises(GpumetaError, match="is not in the predictions"):
        _build(inputs, genes=["G1", "NOPE"])
    try:
        import keras  # noqa: F401
    except ImportError:
        with pytest.raises(GpumetaError, match=r"pip install 'gpumeta\[spliceai\]'"):
            build_dataset(inputs / "genome.fa", inputs / "genes.gtf", inputs / "sp", base_model="spliceai",
                          device="cpu")


# ---- dedupe, summarize, CLI --------------------------------------------------------------------------

def test_dedupe_removes_repeated_sites_and_summarize_counts(inputs):
    result = _build(inputs)
    n_rows = result.n_rows
    doubled = inputs / "doubled"
    doubled.mkdir()
    for f in result.batch_files:
        table = pq.read_table(f)
        pq.write_table(table, doubled / "a.parquet")
        pq.write_table(table, doubled / "b.parquet")
    deduped = dedupe(doubled, out=inputs / "deduped")
    assert (deduped.rows_in, deduped.rows_out) == (2 * n_rows, n_rows)
    assert summarize(inputs / "deduped")["rows"] == n_rows
    # in place on a built dataset: nothing to remove, sidecars stay consistent
    same = dedupe(result.out_dir, inplace=True)
    assert same.removed == 0 and len(pd.read_csv(result.manifest)) == 3
    summary = summarize(result.out_dir)
    assert summary["genes"] == 3 and summary["rows"] == n_rows and summary["nulls"] == {}
    assert summary["pred_type"]["FN"] == 3 and summary["splice_type"]["donor"] == 6


def test_cli_build_summarize_and_error_exit(inputs, capsys):
    from gpumeta.cli import main

    args = ["build", "--fasta", str(inputs / "genome.fa"), "--annotation", str(inputs / "genes.gtf"),
            "--predictions", str(inputs / "pred"), "--out", str(inputs / "cli"), "--device", "cpu", "-q",
            "--kmer-sizes", "2,3"]
    assert main(args) == 0
    assert "ok:" in capsys.readouterr().out
    assert "2mer_GT" in pq.read_schema(next((inputs / "cli" / "master").glob("*.parquet"))).names
    assert main(["summarize", str(inputs / "cli"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["genes"] == 3
    assert main(args[:-2] + ["--kmer-sizes", "x"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.gpu
def test_cuda_backend_builds_the_same_dataset(inputs):
    # conftest skips this without a visible GPU; with one, a broken stack must fail here, not skip.
    options = {"shape_width": 3, "site_strength": True, "partner_window": 300}
    cpu = _rows(_build(inputs, "on_cpu", **options))
    gpu = _rows(build_dataset(inputs / "genome.fa", inputs / "genes.gtf", inputs / "on_gpu",
                              predictions=inputs / "pred", device="cuda", **options))
    pd.testing.assert_frame_equal(cpu, gpu, check_exact=False, rtol=1e-5, atol=1e-6)


class CentreBases:
    """A stand-in SpliceAI model: output = the centre input bases as (neither, acceptor, donor) = (C, A, G)."""

    def predict_on_batch(self, x):
        from gpumeta.builder.spliceai_runner import CONTEXT

        centre = x[:, CONTEXT:-CONTEXT, :]
        return np.stack([centre[..., 1], centre[..., 0], centre[..., 2]], axis=-1)


def test_spliceai_stage_reports_each_gene_and_shows_in_the_cli(inputs, monkeypatch, capsys):
    from gpumeta.builder import spliceai_runner
    from gpumeta.cli import main

    monkeypatch.setattr(spliceai_runner, "load_models", lambda: [CentreBases()])
    seen = []
    build_dataset(inputs / "genome.fa", inputs / "genes.gtf", inputs / "sp", base_model="spliceai",
                  on_gene=lambda k, n: seen.append((k, n)))
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert main(["build", "--fasta", str(inputs / "genome.fa"), "--annotation", str(inputs / "genes.gtf"),
                 "--base-model", "spliceai", "--out", str(inputs / "sp_cli"), "--batch-size", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("spliceai predictions (genes): 3/3 in ")
    assert out[1].startswith("building batches: 2/2 in ") and out[2].startswith("ok: ")


def test_spliceai_runner_blocks_strands_and_output_columns(inputs):
    """With a stand-in model (output = the centre input bases), check block tiling, the (neither, acceptor,
    donor) column order and the minus-strand flip, without TensorFlow."""
    from gpumeta.builder.fasta import Genome
    from gpumeta.builder.spliceai_runner import gene_predictions

    genome, genes = Genome(inputs / "genome.fa"), read_annotation(inputs / "genes.gtf")
    text = "".join((inputs / "genome.fa").read_text().splitlines()[1:])
    for g in ("G1", "G2"):
        table = gene_predictions([CentreBases(), CentreBases()], genome, genes[g]).to_pandas()
        bases = np.array(list(text[genes[g].start - 1: genes[g].end]))
        assert table["position"].tolist() == list(range(genes[g].start, genes[g].end + 1))
        donor_base = "G" if genes[g].strand == "+" else "C"  # G on the transcript strand
        acceptor_base = "A" if genes[g].strand == "+" else "T"
        assert (table["donor_prob"].to_numpy() == (bases == donor_base)).all()
        assert (table["acceptor_prob"].to_numpy() == (bases == acceptor_base)).all()
