"""The dataset contract: the original layout loads as is; every broken dataset gets its one-line error."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import make_dataset

from gpumeta import dataset as dataset_module
from gpumeta.dataset import load_dataset, validate_dataset
from gpumeta.errors import GpumetaError


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("good") / "ds", n_genes=6, rows_per_gene=40, genes_per_batch=3)


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpumeta", *map(str, args)], capture_output=True, text=True)


def test_original_layout_loads_without_conversion(good):
    data = load_dataset(good, "cpu")
    assert data.n_rows == 6 * 40
    assert "3mer_ACG" in data.feature_names and "motif" in data.feature_names
    # Metadata and label-derived columns never become features.
    assert not {"gene_id", "position", "pred_type", "transcript_id", "chrom", "gene_start"} & set(data.feature_names)
    assert set(np.unique(data.y)) <= {0, 1, 2}
    assert data.base_proba.shape == (data.n_rows, 3)
    np.testing.assert_allclose(data.base_proba.sum(axis=1), 1.0, atol=1e-5)
    assert data.X.dtype == np.float32 and data.X.shape == (data.n_rows, len(data.feature_names))


def test_numeric_and_upper_case_labels_are_accepted(tmp_path, good):
    table = pq.read_table(next((good / "master").glob("*.parquet")))
    codes = {"neither": 0, "donor": 1, "acceptor": 2}
    labels = [codes[v] for v in table.column("splice_type").to_pylist()]
    pq.write_table(table.set_column(table.schema.get_field_index("splice_type"), "splice_type",
                                    pa.array(labels, pa.int64())), tmp_path / "numeric.parquet")
    assert (load_dataset(tmp_path / "numeric.parquet", "cpu").y == labels).all()


def _break(good: Path, tmp: Path, how) -> Path:
    target = tmp / "broken"
    shutil.copytree(good, target)
    first = sorted((target / "master").glob("*.parquet"))[0]
    how(first)
    return target


def _rewrite(transform):
    def apply(file: Path) -> None:
        pq.write_table(pa.Table.from_pandas(transform(pq.read_table(file).to_pandas()), preserve_index=False), file)
    return apply


BROKEN = {
    "missing label": (_rewrite(lambda df: df.drop(columns=["splice_type"])),
                      "missing required column(s) 'splice_type'"),
    "missing base score": (_rewrite(lambda df: df.drop(columns=["donor_score"])), "'donor_score'"),
    "unknown label": (_rewrite(lambda df: df.assign(splice_type=df["splice_type"].where(df.index > 0, "exon"))),
                      "unknown label value(s) 'exon'"),
    "null label": (_rewrite(lambda df: df.assign(splice_type=df["splice_type"].where(df.index > 0, None))),
                   "null value(s)"),
    "text feature": (_rewrite(lambda df: df.assign(motif=df["motif"].astype(str))), "feature column 'motif' has type"),
    "nan feature": (_rewrite(lambda df: df.assign(motif=df["motif"].where(df.index > 2, np.nan))),
                    "column 'motif' has 3 null/NaN value(s)"),
    "inf feature": (_rewrite(lambda df: df.assign(motif=df["motif"].where(df.index > 0, np.inf))),
                    "column 'motif' has 1 NaN/inf value(s)"),
    "score out of range": (_rewrite(lambda df: df.assign(donor_score=df["donor_score"] * 3)), "outside [0, 1]"),
    "empty file": (_rewrite(lambda df: df.iloc[:0]), "has no rows"),
    "not parquet": (lambda f: f.write_bytes(b"this is not parquet"), "not a readable Parquet file"),
    "schema mismatch": (_rewrite(lambda df: df.drop(columns=["3mer_GTA"])), "columns differ from"),
    "no sites": (None, "no donor or acceptor row"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_names_each_problem_in_one_line_and_leaves_input_untouched(case, good, tmp_path):
    how, expected = BROKEN[case]
    if how is None:  # a dataset with no splice site at all
        target = tmp_path / "nosites"
        make_dataset(target, n_genes=2, rows_per_gene=10)
        for f in (target / "master").glob("*.parquet"):
            _rewrite(lambda df: df.assign(splice_type="neither"))(f)
    else:
        target = _break(good, tmp_path, how)
    before = _digest(target)
    report = validate_dataset(target)
    assert any(expected in line for line in report.problems), report.problems
    proc = _cli("validate", target)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in proc.stderr
    with pytest.raises(GpumetaError) as error:
        load_dataset(target, "cpu")
    assert "\n" not in str(error.value)
    assert _digest(target) == before


def test_validate_ok_and_missing_path(good, tmp_path):
    proc = _cli("validate", good)
    assert proc.returncode == 0 and "ok:" in proc.stdout
    proc = _cli("validate", tmp_path / "nothing")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def test_device_cuda_without_gpu_is_one_line(good):
    from gpumeta.backend import get_backend

    if get_backend("auto").name == "cuda":
        pytest.skip("a GPU is present")
    proc = _cli("train", "--dataset", good, "--out-dir", "unused", "--device", "cuda")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --device cuda needs") and proc.stderr.count("\n") == 1


def test_features_argument_selects_and_names_missing(good):
    data = load_dataset(good, "cpu", features=["motif", "donor_score"])
    assert data.feature_names == ["motif", "donor_score"]
    with pytest.raises(GpumetaError, match="lacks feature column"):
        load_dataset(good, "cpu", features=["motif", "not_there"])


def test_narrowing_in_place_frees_the_dropped_columns_without_a_second_matrix(tmp_path):
    path = make_dataset(tmp_path / "ds", n_genes=40, rows_per_gene=3000)  # several blocks
    tracemalloc.start()  # numpy reports its buffers (and their reallocs) to tracemalloc from their allocation on
    try:
        data = load_dataset(path, "cpu")
        keep = ["motif", "donor_score", "3mer_GTA"]
        expected = data.X[:, [data.feature_names.index(f) for f in keep]].copy()
        dropped = data.X.nbytes - expected.nbytes
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        narrowed = data.with_features(keep, in_place=True)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert narrowed is data and data.feature_names == keep
    np.testing.assert_array_equal(data.X, expected)
    assert before - after >= dropped * 0.95  # the dropped columns' bytes went back
    assert peak - before < expected.nbytes / 2  # only a block at a time, never a second matrix


def test_narrowing_without_in_place_shares_the_matrix(good):
    data = load_dataset(good, "cpu")
    keep = ["3mer_GTA", "motif"]
    index = [data.feature_names.index(f) for f in keep]
    split = data.with_features(keep)
    assert split.X.X is data.X and split.X.shape == (data.n_rows, 2)  # a selection of the one matrix
    rows = np.array([3, 1, 7])
    np.testing.assert_array_equal(split.X[rows], data.X[rows][:, index])
    np.testing.assert_array_equal(split.with_features(["motif"]).X[rows], data.X[rows][:, [index[1]]])
    assert split.with_features(["motif"]).X.X is data.X  # never a selection of a selection


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
#: Indexes pandas writes as columns: a named one (under its name) and an unnamed non-range one.
PANDAS_INDEXES = {"named": lambda df: df.set_index(pd.Index(df.index * 2, name="row_id")),
                  "non-range": lambda df: df.set_index(df.index * 3),
                  "named range": lambda df: df.rename_axis("row")}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", sorted(PANDAS_INDEXES))
def test_a_pandas_index_is_metadata_not_a_feature(good, tmp_path, index, device):
    target = tmp_path / "indexed"
    shutil.copytree(good, target)
    for file in sorted((target / "master").glob("*.parquet")):
        PANDAS_INDEXES[index](pd.read_parquet(file)).to_parquet(file)  # pandas keeps the index
    written = pq.read_schema(next((target / "master").glob("*.parquet")))
    assert written.pandas_metadata["index_columns"]  # the corpus file really carries a pandas index
    reference = load_dataset(good, "cpu")
    data = load_dataset(target, device)
    assert data.feature_names == reference.feature_names
    np.testing.assert_array_equal(data.backend.to_host(data.X), reference.X)
    assert validate_dataset(target).ok


def test_rows_of_and_a_gene_filtered_load_agree(good):
    data = load_dataset(good, "cpu")
    genes = [data.genes[4], data.genes[1], "NOT_A_GENE"]
    rows = data.rows_of(genes)
    assert (np.diff(rows) > 0).all()  # sorted row indices
    np.testing.assert_array_equal(rows, np.flatnonzero(np.isin(data.gene_ids, genes)))
    assert data.rows_per_gene() == {g: int((data.gene_ids == g).sum()) for g in data.genes}
    part = load_dataset(good, "cpu", genes=genes)
    np.testing.assert_array_equal(part.X, data.X[rows])
    np.testing.assert_array_equal(part.y, data.y[rows])
    assert list(part.genes) == sorted(genes[:2])
    lazy = load_dataset(good, "cpu", with_matrix=False)
    assert lazy.X is None and lazy.n_rows == data.n_rows
    np.testing.assert_array_equal(lazy.matrix_of(genes), data.matrix_of(genes))
    np.testing.assert_array_equal(data.matrix_of(genes), data.X[rows])
    with pytest.raises(GpumetaError, match="none of the 1 requested gene"):
        load_dataset(good, "cpu", genes=["NOT_A_GENE"])


def test_blocks_read_without_the_matrix_equal_slices_of_it(good, monkeypatch):
    monkeypatch.setattr(dataset_module, "PARQUET_BLOCK_BYTES", 4 * 2 * 40)  # one gene (40 rows x 2 features)
    data, lazy = load_dataset(good, "cpu"), load_dataset(good, "cpu", with_matrix=False)
    genes = [data.genes[5], data.genes[0], data.genes[2]]
    features = ["motif", "donor_score"]
    index = [data.feature_names.index(f) for f in features]
    rows = data.rows_of(genes)
    blocks = list(lazy.blocks(genes, features))
    assert len(blocks) == 3 and all(len(np.unique(lazy.gene_codes[r])) == 1 for r, _ in blocks)  # whole genes
    for source in (data, lazy):
        mapped_rows, sums = source.map_blocks(genes, lambda X: X.sum(axis=1), features)
        np.testing.assert_array_equal(mapped_rows, rows)
        np.testing.assert_allclose(sums, data.X[rows][:, index].sum(axis=1), rtol=1e-6)
        picked = rows[::7]
        np.testing.assert_array_equal(source.take(picked, features), data.X[picked][:, index])
    with pytest.raises(GpumetaError, match="lacks feature column"):
        lazy.matrix_of(genes, ["motif", "not_there"])
    with pytest.raises(GpumetaError, match="only be narrowed by whole genes"):
        lazy.subset(rows[:5]).matrix_of(genes[:1])
