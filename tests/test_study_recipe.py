"""scripts/study_recipe.py: the training rows a recipe's `negatives` fraction picks, the decision rules
(local maximum, threshold rules, gene-structure decoding) and the error anatomy."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from study_recipe import (
    anatomy,
    errors_threshold,
    local_max,
    nms_calls,
    oracle_errors,
    plateau_threshold,
    score,
    structure_calls,
    training_rows,
)


def _dataset(root: Path, genes: list[str], positions: list[int], stratum: str) -> Path:
    (root / "master").mkdir(parents=True)
    table = pa.table({"gene_id": genes, "position": np.array(positions, dtype=np.int64),
                      "donor_score": np.linspace(0, 1, len(genes)).astype(np.float32),
                      "sampling_stratum": [stratum] * len(genes)})
    pq.write_table(table, root / "master" / "part.parquet")
    return root


def test_training_rows_add_a_fraction_of_the_left_out_nucleotides(tmp_path):
    every_genes = ["a"] * 1000 + ["b"] * 1000 + ["c"] * 1000
    every_pos = list(range(1000)) * 3
    sampled = [(g, p) for g, p in zip(every_genes, every_pos) if p % 10 == 0]  # 10 % kept by "the builder"
    builds = {"all": _dataset(tmp_path / "all", every_genes, every_pos, "all"),
              "sampled": _dataset(tmp_path / "sampled", [g for g, _ in sampled], [p for _, p in sampled], "kept")}
    read = lambda path: pq.read_table(path / "master" / "part.parquet").to_pandas()

    assert len(read(training_rows(builds, ["a", "b"], 0.0, tmp_path / "f0", seed=1))) == 200
    assert len(read(training_rows(builds, ["a", "b"], 1.0, tmp_path / "f1", seed=1))) == 2000
    rows = read(training_rows(builds, ["a", "b"], 0.3, tmp_path / "f2", seed=1))
    assert set(rows["gene_id"]) == {"a", "b"}
    assert not rows.duplicated(["gene_id", "position"]).any()
    assert (rows["sampling_stratum"] == "kept").sum() == 200  # every sampled row, once
    added = rows[rows["sampling_stratum"] == "all"]
    assert (added["position"] % 10 != 0).all()
    assert 0.25 * 1800 < len(added) < 0.35 * 1800


def test_local_max_matches_a_loop_within_each_gene_in_any_row_order():
    rng = np.random.default_rng(3)
    genes = np.repeat(["a", "b"], 60)
    pos = np.r_[np.arange(60), np.arange(60)]
    score = rng.random(120).round(1)  # many ties: the most upstream of a tie wins
    order = rng.permutation(120)
    pred = pd.DataFrame({"gene_id": genes[order], "position": pos[order], "s": score[order]})
    got = local_max(pred, "s", 3)
    for j, (g, p, s) in enumerate(zip(pred["gene_id"], pred["position"], pred["s"])):
        same = (genes == g) & (np.abs(pos - p) <= 3) & (pos != p)
        up, down = score[same & (pos < p)], score[same & (pos > p)]
        assert got[j] == (all(s > v for v in up) and all(s >= v for v in down)), (g, p)


def _pred(y, base_d, meta_d, **extra):
    n = len(y)
    frame = pd.DataFrame({"gene_id": "g", "position": np.arange(n), "y": y, "fold": 1,
                          "base_donor": base_d, "meta_donor": meta_d, "base_acceptor": 0.0, "meta_acceptor": 0.0,
                          "canonical_donor": True, "canonical_acceptor": True, **extra})
    for who in ("base", "meta"):
        for t in ("donor", "acceptor"):
            frame[f"{who}_threshold_{t}"] = 0.5
            frame[f"{who}_call_{t}"] = frame[f"{who}_{t}"] >= 0.5
    return frame


def test_nms_keeps_only_the_peak_of_a_shoulder_for_base_and_meta_alike():
    y = np.zeros(20, dtype=np.int64)
    y[10] = 1
    base = np.zeros(20)
    base[[9, 10, 11]] = [0.6, 0.9, 0.7]  # a peak and its two shoulders, all above 0.5
    meta = np.zeros(20)
    meta[[10, 16]] = [0.8, 0.7]  # a site and a lone call 6 nt away
    pred = _pred(y, base, meta)
    out = nms_calls(pred, 5)
    assert out["base_call_donor"].tolist() == [i == 10 for i in range(20)]
    assert out["meta_call_donor"].tolist() == [i in (10, 16) for i in range(20)]
    assert out["meta_call_donor"].sum() == 2 and nms_calls(pred, 6)["meta_call_donor"].sum() == 1


def test_threshold_rules_and_the_oracle():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1, 0.0])
    assert errors_threshold(y, s) == 0.8  # 1 error at 0.8 and at 0.6: the higher cut
    assert plateau_threshold(y, s, slack=0.0) == 0.7  # median of the cuts within 1 error of the fewest (0.8, 0.7, 0.6)
    pred = _pred(y.astype(np.int64), s, s)
    assert oracle_errors(pred) == {"oracle_base": 1, "oracle_meta": 1}


def test_anatomy_categorises_and_pairs_the_errors():
    y = np.zeros(30, dtype=np.int64)
    y[[5, 20]] = 1
    base = np.zeros(30)
    base[[5, 8, 28]] = [0.9, 0.8, 0.7]  # site 5 found, a call 3 nt from it (shifted FP), an isolated FP
    base[20] = 0.05  # a site with a weak base score (FN)
    meta = np.zeros(30)
    meta[[5, 20]] = [0.9, 0.6]  # meta keeps 5, fixes both FPs and the FN
    meta[12] = 0.7  # and adds an isolated FP
    errors, table = anatomy(_pred(y, base, meta))
    by = {(r.model, r.position): (r.category, r.status) for r in errors.itertuples()}
    assert by[("base", 8)] == ("FP shifted 1-5 nt from a site of its type", "fixed")
    assert by[("base", 28)] == ("FP isolated", "fixed")
    assert by[("base", 20)] == ("FN, base score < 0.1", "fixed")
    assert by[("meta", 12)] == ("FP isolated", "introduced")
    assert errors.loc[errors["position"] == 8, "site_offset"].item() == -3
    assert table["base"].sum() == 3 and table["meta"].sum() == 1 and table["fixed"].sum() == 3


def test_fold_seeds_pool_errors_by_gene_and_average_ranking():
    y = np.array([1, 0, 0, 1, 0, 0])
    genes = np.array(["a", "a", "a", "b", "b", "b"])
    good = _pred(y, np.array([0.9, 0.1, 0.6, 0.8, 0.2, 0.1]), np.array([0.9, 0.1, 0.2, 0.8, 0.2, 0.1]),
                 rescored=False)
    bad = _pred(y, np.array([0.9, 0.1, 0.6, 0.8, 0.2, 0.1]), np.array([0.4, 0.7, 0.2, 0.8, 0.2, 0.1]),
                rescored=False)
    for frame in (good, bad):
        frame["gene_id"] = genes
    one, two = score([good]), score([good, bad])
    assert (one["fp_fn_base"], one["fp_fn_meta"]) == (1, 0)
    assert (two["fp_fn_base"], two["fp_fn_meta"]) == (2, 2)  # base: gene a's FP twice; meta: a's FN and FP once
    assert two["genes"] == 2 and two["nucleotides"] == 6  # genes, not (gene, seed) pairs
    assert two["ap_donor_meta"] == (one["ap_donor_meta"] + score([bad])["ap_donor_meta"]) / 2


def test_structure_decodes_both_models_with_what_the_inner_rows_fit():
    # Held-out gene: a donor, an acceptor 100 nt on and a decoy acceptor 3 nt after it, both above 0.5.
    n = 200
    y, acceptor = np.zeros(n, dtype=np.int64), np.full(n, 1e-4)
    y[[20, 120]] = [1, 2]
    acceptor[[120, 123]] = [0.9, 0.8]
    donor = np.full(n, 1e-4)
    donor[20] = 0.9
    pred = _pred(y, donor, donor, base_acceptor=acceptor, meta_acceptor=acceptor)
    for who in ("base", "meta"):
        pred[f"{who}_call_acceptor"] = pred[f"{who}_acceptor"] >= 0.5
    # The inner out-of-fold rows: ten genes of the same shape, so the strict order wins there too.
    genes = np.repeat([f"g{i}" for i in range(10)], n)
    proba = np.tile(np.column_stack([1 - donor - acceptor, donor, acceptor]), (10, 1))
    oof = {1: (np.tile(y, 10), proba, proba, genes, np.tile(np.arange(n), 10))}
    out = structure_calls(pred, oof)
    for who in ("base", "meta"):
        assert pred[f"{who}_call_acceptor"].sum() == 2  # plain thresholds call the decoy
        assert np.flatnonzero(out[f"{who}_call_acceptor"]).tolist() == [120]
        assert np.flatnonzero(out[f"{who}_call_donor"]).tolist() == [20]
        assert out[f"{who}_acceptor"].iloc[123] < 0.5 < out[f"{who}_acceptor"].iloc[120]
