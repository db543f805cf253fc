"""scripts/study_recipe.py: the training rows a recipe's `negatives` fraction picks."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from study_recipe import training_rows


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
