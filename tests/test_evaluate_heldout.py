"""Held-out evaluation on a real Parquet dataset with a real MetaModel: outputs, honesty checks, SHAP, CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_evaluate_fixtures import build_case, make_frame, write_dataset

from gpumeta.cli import main
from gpumeta.dataset import load_dataset
from gpumeta.errors import GpumetaError
from gpumeta.evaluate import evaluate_heldout
from gpumeta.evaluate.explain import compute_shap, importance_table, sample_genes, shap_importance


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heldout")
    dataset, model, test_genes = build_case(tmp)
    full = load_dataset(write_dataset(tmp / "full", make_frame(40, seed=1), all_positions=True), device="cpu")
    out = tmp / "out"
    summary = evaluate_heldout(model, dataset, out, genes=test_genes, full_dataset=full, shap_genes=6)
    return {"tmp": tmp, "dataset": dataset, "model": model, "genes": test_genes, "full": full, "out": out,
            "summary": summary}


def test_planted_feature_ranked_first_by_shap_and_gain(case):
    sample = compute_shap(case["model"], case["dataset"].select_genes(case["genes"]), shap_genes=6)
    assert sample.contributions.shape == (3, len(sample.X), len(sample.feature_names) + 1)
    table = importance_table(case["model"], shap_importance(sample.contributions, sample.feature_names))
    assert table.loc[table["gain_donor"].idxmax(), "feature"] == "planted_fp_flag"
    assert table.loc[table["mean_abs_shap_donor"].idxmax(), "feature"] == "planted_fp_flag"
    # The files written by evaluate_heldout say the same.
    written = pd.read_csv(case["out"] / "shap_importance.csv")
    assert written.loc[written["mean_abs_shap_donor"].idxmax(), "feature"] == "planted_fp_flag"


def test_summary_json_headline_and_genes(case):
    summary = json.loads((case["out"] / "meta_evaluation_summary.json").read_text())
    assert summary["test_genes"] == case["genes"] and summary["n_test_genes"] == 10
    assert summary["headline"] == "full_resolution" and summary["rows_sampled"] is True
    assert "sample" in summary["sample_note"]
    # The dataset has inclusion_prob: the reweighted estimate counts each easy negative 4 times.
    assert summary["reweighted"]["weighted"] and summary["reweighted"]["n_rows"] == summary["rows"]["n_rows"]
    donor = summary["full_resolution"]["site_types"]["donor"]["tuned"]
    # The planted flag lets the meta-model remove most base donor false positives.
    assert donor["meta"]["fp"] < donor["base"]["fp"] / 4 and donor["errors_fixed"] > donor["errors_introduced"]
    assert {"calibration", "overfitting", "shap", "figures"} <= set(summary)
    assert summary["shap"]["n_genes"] == 6 and set(summary["shap"]["genes"]) <= set(case["genes"])
    for name in summary["figures"]:
        assert (case["out"] / "plots" / name).stat().st_size > 1000
        assert not (case["out"] / "plots" / name).with_suffix(".pdf").exists()  # PNG only unless asked


def test_small_heldout_set_warns_in_words(case):
    from gpumeta.evaluate.heldout import MIN_HELDOUT_SITES, heldout_warnings

    warnings = case["summary"]["warnings"]
    assert warnings == json.loads((case["out"] / "meta_evaluation_summary.json").read_text())["warnings"]
    assert not any("held-out gene(s)" in w for w in warnings)  # 10 genes are enough
    block = case["summary"]["full_resolution"]
    n_donors = block["site_types"]["donor"]["tuned"]["base"]["tp"] + block["site_types"]["donor"]["tuned"]["base"]["fn"]
    assert (n_donors < MIN_HELDOUT_SITES) == any(f"Only {n_donors} true donor site(s)" in w for w in warnings)
    few = heldout_warnings(3, block, "every nucleotide")
    assert "Only 3 held-out gene(s): too few to support a claim" in few[0]
    assert heldout_warnings(10, {"site_types": {t: {"tuned": {"base": {"tp": 40, "fn": 10}}}
                                                for t in ("donor", "acceptor")}}, "rows") == []


def test_per_gene_table(case):
    table = pd.read_csv(case["out"] / "base_vs_meta_performance.tsv", sep="\t")
    assert sorted(table["gene_id"]) == case["genes"]
    assert table["n_rows"].sum() == case["summary"]["full_resolution"]["n_rows"]
    for column in ("base_donor_f1", "meta_donor_f1", "delta_donor_f1", "base_fp", "meta_fn",
                   "base_acceptor_top_k", "meta_acceptor_top_k", "delta_fp"):
        assert column in table.columns
    assert (table["delta_fp"] == table["meta_fp"] - table["base_fp"]).all()


def test_refuses_training_genes(case):
    trained = case["model"].training_genes[:3]
    with pytest.raises(GpumetaError, match=trained[0]):
        evaluate_heldout(case["model"], case["dataset"], case["tmp"] / "bad", genes=[*case["genes"], *trained])
    with pytest.raises(GpumetaError, match="no rows for gene"):
        evaluate_heldout(case["model"], case["dataset"], case["tmp"] / "bad", genes=["NOT_A_GENE"])
    with pytest.raises(GpumetaError, match="all-positions"):
        evaluate_heldout(case["model"], case["dataset"], case["tmp"] / "bad", genes=case["genes"],
                         full_dataset=case["dataset"])
    assert not (case["tmp"] / "bad" / "meta_evaluation_summary.json").exists()


def test_minimal_writes_only_tables(case):
    out = case["tmp"] / "minimal"
    summary = evaluate_heldout(case["model"], case["dataset"], out, genes=case["genes"], minimal=True)
    assert sorted(p.name for p in out.iterdir()) == ["base_vs_meta_performance.tsv", "meta_evaluation_summary.json"]
    assert summary["headline"] == "rows" and summary["figures"] == {}


def test_sample_genes_is_seeded():
    genes = [f"g{i}" for i in range(50)]
    assert list(sample_genes(genes, 5, seed=3)) == list(sample_genes(genes, 5, seed=3))
    assert list(sample_genes(genes, 5, seed=3)) != list(sample_genes(genes, 5, seed=4))
    assert len(sample_genes(genes, 500)) == 50


def test_cli_evaluate(case, capsys):
    model_dir = case["model"].save(case["tmp"] / "model")
    genes_file = case["tmp"] / "test_genes.txt"
    genes_file.write_text("# held-out genes\n" + "\n".join(case["genes"]) + "\n")
    out = case["tmp"] / "cli_out"
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(case["dataset"].path), "--out-dir",
                 str(out), "--genes-file", str(genes_file), "--device", "cpu", "--skip-shap", "--quiet"])
    assert code == 0
    summary = json.loads((out / "meta_evaluation_summary.json").read_text())
    assert summary["test_genes"] == case["genes"] and summary["shap"] is None
    assert (out / "report.html").is_file() and (out / "feature_importance.csv").is_file()
    assert not (out / "shap_importance.csv").exists()
    # Without a gene list every gene of the dataset is evaluated, training genes included: refused.
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(case["dataset"].path), "--out-dir",
                 str(case["tmp"] / "cli_bad"), "--device", "cpu", "--quiet"])
    assert code == 2 and "used to train the model" in capsys.readouterr().err
    # Three held-out genes: the command warns in words, even with --quiet, and the report shows it first.
    genes_file.write_text("\n".join(case["genes"][:3]) + "\n")
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(case["dataset"].path), "--out-dir",
                 str(case["tmp"] / "cli_small"), "--genes-file", str(genes_file), "--device", "cpu",
                 "--minimal-diagnostics", "--quiet"])
    assert code == 0
    assert "warning: Only 3 held-out gene(s): too few to support a claim" in capsys.readouterr().err
    page = (case["tmp"] / "cli_small" / "report.html").read_text()
    assert page.index("Only 3 held-out gene(s)") < page.index("Headline")
