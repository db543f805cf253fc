"""training_summary.txt and report.html rendered from a run directory's files."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import pandas as pd
import pytest
from test_evaluate_fixtures import build_case

from gpumeta.evaluate import evaluate_heldout, fold_metrics, write_report_html, write_training_summary
from gpumeta.evaluate.metrics import FOLD_COLUMNS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    dataset, model, test_genes = build_case(tmp)
    run = tmp / "run"
    run.mkdir()
    # The trainer's learning curves (CV folds and final fit): the evaluation plots and checks them all.
    (run / "learning_curves.json").write_text(json.dumps({"fold_1": model.evals_result, "final": model.evals_result}))
    evaluate_heldout(model, dataset, run, genes=test_genes, shap_genes=4)
    # What the trainer writes beside the evaluation: run_info.json, splits.json, gene_cv_metrics.csv.
    rows = []
    for fold, genes in enumerate((model.training_genes[:15], model.training_genes[15:]), start=1):
        part = dataset.select_genes(genes)
        rows.append(fold_metrics(fold, part.y, part.base_proba, model.predict_proba(model.matrix(part)),
                                 part.gene_ids))
    pd.DataFrame(rows, columns=FOLD_COLUMNS).to_csv(run / "gene_cv_metrics.csv", index=False)
    (run / "run_info.json").write_text(json.dumps({
        "dataset": str(dataset.path), "n_genes": 40, "n_rows": dataset.n_rows, "n_features": 5,
        "features_used": model.feature_names, "features_excluded": {"position_copy": "leaky: |rho| 0.99"},
        "n_features_dataset": 6, "n_features_used": 5,
        "warnings": ["final model: early stopping rested on 1 validation gene; used the CV rounds instead"],
        "mode": "production", "strategy": "single", "strategy_reason": "fits in device memory",
        "fold_concurrency": {"folds_at_once": 3, "reason": "2 cores: one fold more than cores"},
        "device": "cpu", "params": {"max_depth": 3}, "calibration": "none", "seed": 0,
        "test_genes_file": "test_genes.txt", "artifacts": {"model": "model/"}, "timings": {"fit": 1.5}}))
    (run / "splits.json").write_text(json.dumps({"train": model.training_genes, "test": test_genes}))
    return run


def test_training_summary_sections(run_dir):
    text = write_training_summary(run_dir).read_text()
    for expected in ("Dataset:", "6 features in the dataset, 5 used after screening", "position_copy: leaky",
                     "Strategy: single (fits in device memory)",
                     "CV folds fitted: 3 at a time (2 cores: one fold more than cores)",
                     "max_depth: 3", "Cross-validation", "test_macro_f1", " ± ", "Held-out evaluation",
                     "10 test genes", "NOTE: rows are a sample", "Genes where the meta-model got WORSE",
                     "plots/roc_curves.png: the sampled rows of the 10 held-out genes",
                     "plots/shap_beeswarm_donor.png: 4 held-out genes",
                     "Gene splits (splits.json): train: 30 genes; test: 10 genes",
                     "fit: 1.5", "plots/learning_curves.png: training and validation genes of each fit (fold_1, final)",
                     "overfitting: 0 of 6 fold/class curves flagged"):
        assert expected in text, expected
    # Worse genes come before the count of improved genes.
    assert text.index("got WORSE") < text.index("Genes that improved")
    # Training's warnings (run_info.json) lead the summary.
    assert text.index("WARNINGS (1)") < text.index("rested on 1 validation gene") < text.index("Run\n---")
    # One number format per CV column: counts with one decimal, rates with four (no "-47 ± 3.6056").
    cv_lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and " ± " in line}
    mean, spread = cv_lines["delta_fp"].split()[1], cv_lines["delta_fp"].split()[3]
    assert mean.split(".")[1].__len__() == spread.split(".")[1].__len__() == 1
    mean, spread = cv_lines["test_macro_f1"].split()[1], cv_lines["test_macro_f1"].split()[3]
    assert len(mean.split(".")[1]) == len(spread.split(".")[1]) == 4


def test_small_heldout_set_warns_atop_summary_and_report(run_dir, tmp_path):
    """An evaluation of 3 genes warns (meta_evaluation_summary.json "warnings"), after training's warnings."""
    import shutil

    from test_evaluate_fixtures import build_case

    dataset, model, test_genes = build_case(tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(run_dir / "run_info.json", small / "run_info.json")
    evaluate_heldout(model, dataset, small, genes=test_genes[:3], minimal=True)
    text = write_training_summary(small).read_text()
    page = write_report_html(small).read_text()
    for document in (text, page):
        assert "rested on 1 validation" in document and "Only 3 held-out gene(s): too few to support a claim" \
            in document.replace("\n    ", " ")
    assert text.index("WARNINGS (") < text.index("Only 3 held-out") < text.index("Run\n---")
    assert page.index("Only 3 held-out") < page.index("Headline: base vs meta")


def test_feature_counts_from_manifest_when_run_info_lacks_them(tmp_path):
    from gpumeta.evaluate.report import feature_counts

    pd.DataFrame({"feature": ["a", "b", "c"], "status": ["used", "excluded", "used"],
                  "reason": ["", "constant", ""]}).to_csv(tmp_path / "feature_manifest.csv", index=False)
    assert feature_counts(tmp_path, {"n_features": 2}) == (3, 2)
    assert feature_counts(tmp_path, {"n_features_dataset": 9, "n_features_used": 4}) == (9, 4)
    assert feature_counts(tmp_path / "nowhere", {"features_used": ["a"]}) == (None, 1)


def test_summary_robust_to_missing_files(tmp_path):
    text = write_training_summary(tmp_path).read_text()
    assert "gpumeta training summary" in text and "Artifacts" in text
    page = write_report_html(tmp_path).read_text()
    assert "<img" not in page and "gpumeta report" in page


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_report_html_embeds_every_plot_as_png(run_dir):
    from PIL import Image

    write_training_summary(run_dir)
    page = write_report_html(run_dir).read_text()
    parser = _Images()
    parser.feed(page)
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert len(parser.sources) == len(pngs) >= 8
    prefix = "data:image/png;base64,"
    for src in parser.sources:
        assert src.startswith(prefix)
        image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix):], validate=True)))
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from a server


def test_report_reads_top_down_warnings_headline_tables_figures(run_dir):
    write_training_summary(run_dir)
    page = write_report_html(run_dir).read_text()
    # The title says what the run is, not only the directory name.
    title = page[page.index("<title>") + 7:page.index("</title>")]
    assert "production mode" in title and "40 genes" in title and "10 held out" in title and "ds" in title
    order = [page.index(marker) for marker in (
        'class="warn"', "rested on 1 validation gene", "Headline: base vs meta", "Per held-out gene",
        "Cross-validation", "Gene splits", "Run and features", "<h2>Figures</h2>")]
    assert order == sorted(order)
    assert "<pre>" not in page.split("Headline")[0]  # no monospace dump before the headline
    headline = page[page.index("Headline"):page.index("</section>")]
    for column in ("F1 @0.5", "FP @0.5", "FN @0.5", "F1 @tuned", "FP @tuned", "FN @tuned", "AP"):
        assert f">{column}</th>" in headline
    assert "10 held-out genes" in headline and "SAMPLED rows" in headline and "true donor sites" in headline
    # The planted flag lets the meta-model remove base donor false positives: a green (better) meta cell.
    assert 'class="better"' in headline
    # The whole feature list, folded, not cut at "(+N more)"; the text summary is linked, not inlined.
    assert "more)" not in page and page.count("<td class=\"l\">noise_a</td>") == 1
    assert '<a href="training_summary.txt">' in page
    # The sampling note is printed on the figures; captions do not repeat it.
    captions = [c.split("</figcaption>")[0] for c in page.split("<figcaption>")[1:]]
    assert captions and not any("NOTE" in c or "sample of each gene" in c for c in captions)


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    """scripts/check_report_html.py: every image loads in a real browser (skipped without chromium)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    write_report_html(run_dir)
    script = Path(__file__).resolve().parents[1] / "scripts" / "check_report_html.py"
    shot = tmp_path / "report.png"
    done = subprocess.run([sys.executable, str(script), str(run_dir), "--screenshot", str(shot)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    n_png = len(list((run_dir / "plots").glob("*.png")))
    assert f"{n_png} of {n_png} images loaded" in done.stdout
    assert shot.stat().st_size > 10_000
