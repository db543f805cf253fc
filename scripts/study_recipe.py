"""Which feature recipe and training rows make the meta-model beat the base model used well?

The question (issue 11): on genes the model never saw, judged at EVERY nucleotide, does the meta-model make
fewer errors than the base model with its thresholds tuned on the same training genes? Each recipe is judged
by an outer gene cross-validation over all genes of one genome:

  1. one wide build of the genome, twice from the same predictions: sampled rows (the training rows) and
     every nucleotide (the judge), with the widest options any recipe uses (base-score context and score shape
     at +-5, one-hot nucleotides at +-20, 3-mers, gene-structure features);
  2. a recipe = which training rows (the sampled rows plus a fraction of the other nucleotides: 0 = the
     builder's sampling, 1 = every nucleotide) + which feature families (the rest are given to `gpumeta
     train` as its exclude file, so every recipe reads the same files);
  3. per outer fold: `gpumeta.train` on the other folds' genes (its own inner gene CV fits calibration and the
     tuned thresholds of meta AND base on those genes), then the fold's genes scored at every nucleotide under
     two scoring rules: `every` (the meta-model's probability everywhere) and `gated` (gpumeta.gating: the
     meta-model only where the base model is unsure, as `gpumeta annotate` scores; the base probability
     elsewhere);
  4. pooled over folds: FP+FN per type at the tuned thresholds (each fold's own), AP, per-gene top-k, and a
     gene-bootstrap 95 % interval of the relative change in FP+FN against the tuned base model.

Usage:
  python scripts/study_recipe.py chr22 --workdir /work/chr22 --out docs/study
  python scripts/study_recipe.py synth --genes 120 --workdir /tmp/study-synth --out docs/study
  (--recipes a,b,c picks recipes; --folds 5; --fold-seeds 11,3,5 repeats the outer CV with other gene folds and
   pools them: with 18 genes the folds alone move chr22's count by 20 errors; --nthread 2;
   --learning-rate/--early-stopping-rounds/--booster-param KEY=VALUE/--boost-from-base set the booster, the same
   for every recipe, so the comparison stays fair)
The chr22 genome is the one `scripts/chr22_spliceai_example.py` writes (real GRCh37, real SpliceAI scores).
Writes OUT/<genome>_recipes.csv (one row per recipe and scoring rule) and OUT/<genome>_recipes.md (the table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpumeta.atomic import atomic_path, write_text
from gpumeta.builder.partners import PARTNER_COLUMNS
from gpumeta.builder.site_strength import SITE_STRENGTH_COLUMNS
from gpumeta.calibration import log_odds
from gpumeta.dataset import load_dataset
from gpumeta.evaluate.metrics import average_precision, gene_codes, top_k_per_gene
from gpumeta.evaluate.statistics import error_change_interval
from gpumeta.features import GENE_STRUCTURE_COLUMNS, SITE_TYPES
from gpumeta.gating import gate_rows, gated_proba
from gpumeta.model import load_model
from gpumeta.schema import LABELS
from gpumeta.structure import fit_structure, site_posteriors
from gpumeta.train.config import BoosterParams
from gpumeta.train.splits import GeneSplitter

#: The outer folds' seed of the single-draw tables (sessions 3-5); other seeds' runs live under seed<S>/.
FIRST_FOLD_SEED = 11

#: The widest build every recipe is cut from.
WIDE = {"context_width": 5, "shape_width": 5, "seq_window": 20, "kmer_sizes": [3], "site_strength": True,
        "partner_window": 5000}


def _offset(label: str) -> int:
    return 0 if label == "0" else int(label[1:])


FAMILIES = {
    # base-score context beyond +-2 (donor_context_m3 ...)
    "context_wide": lambda c: (m := re.fullmatch(r"(donor|acceptor)_context_([mp]\d+)", c)) is not None
    and _offset(m.group(2)) > 2,
    # score shape over +-5 (written by the builder when it has them)
    "shape": lambda c: re.fullmatch(r"(donor|acceptor)_shape_.+", c) is not None,
    # one-hot nucleotides beyond +-10, and all of them
    "nt_wide": lambda c: (m := re.fullmatch(r"nt_([mp]\d+|0)_[ACGT]", c)) is not None and _offset(m.group(1)) > 10,
    "nt": lambda c: re.fullmatch(r"nt_([mp]\d+|0)_[ACGT]", c) is not None,
    "kmers": lambda c: re.fullmatch(r"\d+mer_[ACGT]+", c) is not None,
    "gene": lambda c: c in GENE_STRUCTURE_COLUMNS,
    # splice-site sequence strength (build --site-strength)
    "site": lambda c: c in SITE_STRENGTH_COLUMNS,
    # exon-definition partners (build --partner-window)
    "partner": lambda c: c in PARTNER_COLUMNS,
    # one site type's own columns (its context, shape, derived and PWM columns; not its base score)
    "own_donor": lambda c: c.startswith("donor_") and c != "donor_score",
    "own_acceptor": lambda c: c.startswith("acceptor_") and c != "acceptor_score",
}


@dataclass(frozen=True)
class Recipe:
    description: str
    drop: tuple[str, ...]              # feature families left out
    negatives: float = 0.0             # fraction of the not-sampled nucleotides added to the sampled rows (1: all)
    train: dict = field(default_factory=dict)  # extra train() config overrides
    site: bool = False                 # keep the site-strength columns (build --site-strength)
    per_type: bool = False             # one train() per site type, without the other type's own columns
    partner: bool = False              # keep the exon-definition partner columns (build --partner-window)

    @property
    def dropped(self) -> tuple[str, ...]:
        return self.drop + (() if self.site else ("site",)) + (() if self.partner else ("partner",))


#: Today's defaults first; each other recipe changes one thing, the last ones combine what helped.
RECIPES = {
    "default": Recipe("today's build defaults: context +-2, nt +-10, 3-mers, gene features",
                      ("context_wide", "shape", "nt_wide")),
    "no_gene": Recipe("default without gene-structure features", ("context_wide", "shape", "nt_wide", "gene")),
    "base_blend": Recipe("default, probabilities blended half-and-half with the base model's (train base_blend 0.5)",
                         ("context_wide", "shape", "nt_wide"), train={"base_blend": 0.5}),
    "isotonic": Recipe("default, isotonic calibration instead of Platt's (train calibration isotonic)",
                       ("context_wide", "shape", "nt_wide"), train={"calibration": "isotonic"}),
    "fold_ensemble": Recipe("default, serving the inner CV folds' models averaged instead of a refit "
                            "(train final_model folds)", ("context_wide", "shape", "nt_wide"),
                            train={"final_model": "folds"}),
    "multilabel": Recipe("default, one multi-label booster for the three classes (train algorithm "
                         "xgboost-multilabel: one tree per round, a leaf value per class)",
                         ("context_wide", "shape", "nt_wide"), train={"algorithm": "xgboost-multilabel"}),
    "no_kmers": Recipe("default without k-mer counts", ("context_wide", "shape", "nt_wide", "kmers")),
    "no_nt": Recipe("default without one-hot nucleotides", ("context_wide", "shape", "nt")),
    "nt20": Recipe("default with one-hot nucleotides at +-20", ("context_wide", "shape")),
    "context5": Recipe("default with base-score context at +-5", ("shape", "nt_wide")),
    "shape5": Recipe("default with score-shape features over +-5", ("context_wide", "nt_wide")),
    "all_rows": Recipe("default, trained on every nucleotide", ("context_wide", "shape", "nt_wide"), negatives=1.0),
    "neg10": Recipe("default, trained on the sampled rows + 10 % of the other nucleotides",
                    ("context_wide", "shape", "nt_wide"), negatives=0.1),
    "neg30": Recipe("default, trained on the sampled rows + 30 % of the other nucleotides",
                    ("context_wide", "shape", "nt_wide"), negatives=0.3),
    "shape5_no_gene": Recipe("default with score-shape features over +-5, without gene-structure features",
                             ("context_wide", "nt_wide", "gene")),
    "combined": Recipe("context and shape at +-5, nt +-10, no gene features, no k-mers",
                       ("nt_wide", "gene", "kmers")),
    "shape5_nt20": Recipe("default with score-shape features over +-5 and one-hot nucleotides at +-20",
                          ("context_wide",)),
    "site": Recipe("default with splice-site sequence strength (build --site-strength)",
                   ("context_wide", "shape", "nt_wide"), site=True),
    "shape5_site": Recipe("default with score shape over +-5 and splice-site sequence strength",
                          ("context_wide", "nt_wide"), site=True),
    "shape5_nt20_site": Recipe("shape5_nt20 with splice-site sequence strength", ("context_wide",), site=True),
    "site_no_nt": Recipe("default with splice-site sequence strength instead of one-hot nucleotides",
                         ("context_wide", "shape", "nt"), site=True),
    "per_type": Recipe("default, one model per site type without the other type's own columns",
                       ("context_wide", "shape", "nt_wide"), per_type=True),
    "per_type_shape5_site": Recipe("shape5_site, one model per site type without the other type's own columns",
                                   ("context_wide", "nt_wide"), site=True, per_type=True),
    "partner": Recipe("default with exon-definition partners (build --partner-window 5000)",
                      ("context_wide", "shape", "nt_wide"), partner=True),
    "shape5_partner": Recipe("default with score shape over +-5 and exon-definition partners",
                             ("context_wide", "nt_wide"), partner=True),
    "shape5_nt20_partner": Recipe("shape5_nt20 with exon-definition partners", ("context_wide",), partner=True),
    "compact": Recipe("base scores, context +-2 and derived, score shape +-5, site strength; no nt, k-mers or gene "
                      "features", ("context_wide", "nt", "kmers", "gene"), site=True),
}


def build_inputs(kind: str, workdir: Path, n_genes: int) -> tuple[Path, Path, Path, list[str] | None]:
    """(fasta, annotation, predictions, genes) of the genome the study runs on."""
    if kind == "chr22":
        import importlib.util

        fasta, predictions = workdir / "chr22_slice.fa", workdir / "ds_sampled" / "predictions"
        if not (fasta.is_file() and predictions.is_dir()):
            raise SystemExit(f"{workdir}: run scripts/chr22_spliceai_example.py --workdir {workdir} first")
        spec = importlib.util.find_spec("spliceai")
        if spec is None:
            raise SystemExit("the chr22 study reads SpliceAI's annotation: pip install 'gpumeta[spliceai]'")
        annotation = Path(next(iter(spec.submodule_search_locations))) / "annotations" / "grch37.txt"
        from chr22_spliceai_example import genes_inside  # a sibling script: scripts/ is on sys.path

        return fasta, annotation, predictions, genes_inside(annotation)
    from gpumeta.synth import synth_genome

    genome = workdir / "genome"
    if not (genome / "genome.fa").is_file():
        synth_genome(genome, n_genes=n_genes, seed=7)
    return genome / "genome.fa", genome / "annotation.gtf", genome / "predictions", None


def wide_builds(fasta: Path, annotation: Path, predictions: Path, genes, workdir: Path) -> dict[str, Path]:
    from gpumeta.builder import build_dataset

    out = {}
    for rows, extra in (("sampled", {}), ("all", {"all_positions": True})):
        target = workdir / f"wide_{rows}"
        if not (target / "master").is_dir() or not any((target / "master").glob("*.parquet")):
            build_dataset(fasta, annotation, target, predictions=predictions, genes=genes, device="cpu",
                          **WIDE, **extra)
        out[rows] = target
    return out


def _rows_of(source: Path, genes: list[str]) -> pa.Table:
    return pads.dataset(str(source / "master"), format="parquet").to_table(
        filter=pads.field("gene_id").isin(genes)).replace_schema_metadata(None)


def _write(table: pa.Table, target: Path) -> Path:
    (target / "master").mkdir(parents=True, exist_ok=True)
    with atomic_path(target / "master" / "part.parquet") as scratch:
        pq.write_table(table, scratch)
    return target


def gene_subset(source: Path, genes: list[str], target: Path) -> Path:
    """The rows of `genes` from a dataset, as one Parquet file of the same columns."""
    if not (target / "master" / "part.parquet").is_file():
        _write(_rows_of(source, genes), target)
    return target


def training_rows(builds: dict[str, Path], genes: list[str], negatives: float, fold_dir: Path, seed: int) -> Path:
    """The training rows of `genes`: the builder's sampled rows plus a random `negatives` fraction of the
    nucleotides it left out (0: the sampled rows as built; 1: every nucleotide)."""
    if negatives <= 0:
        return gene_subset(builds["sampled"], genes, fold_dir / "train_sampled")
    if negatives >= 1:
        return gene_subset(builds["all"], genes, fold_dir / "train_all")
    target = fold_dir / f"train_neg{negatives:g}"
    if not (target / "master" / "part.parquet").is_file():
        sampled, every = _rows_of(builds["sampled"], genes), _rows_of(builds["all"], genes)
        keys = ["gene_id", "position"]
        taken = pd.MultiIndex.from_frame(sampled.select(keys).to_pandas())
        left_out = ~pd.MultiIndex.from_frame(every.select(keys).to_pandas()).isin(taken)
        drawn = left_out & (np.random.default_rng(seed).random(every.num_rows) < negatives)
        added = every.filter(pa.array(drawn)).select(sampled.column_names).cast(sampled.schema)
        _write(pa.concat_tables([sampled, added]), target)
    return target


def outer_folds(dataset: Path, n_folds: int, seed: int) -> list[list[str]]:
    gene_ids = pads.dataset(str(dataset / "master"), format="parquet").to_table(columns=["gene_id"])
    counts = gene_ids.column("gene_id").to_pandas().value_counts().to_dict()
    splitter = GeneSplitter({g: i for i, g in enumerate(sorted(counts))}, seed)
    return splitter.kfold(sorted(counts), n_folds, counts, salt=7)


def booster_tag(booster: dict) -> str:
    """The booster settings as a directory name: numbers and booleans as numbers (True is 1), lists of class
    names (booster.boost_from_base) joined by '+'."""
    def shown(value) -> str:
        return "+".join(map(str, value)) if isinstance(value, list) else f"{value:g}"

    return "-".join(f"{key}{shown(value)}" for key, value in sorted(booster.items()))


def fold_predictions(recipe: Recipe, name: str, builds: dict[str, Path], folds: list[list[str]],
                     workdir: Path, booster: dict, inner_folds: int = 3) -> dict[str, pd.DataFrame]:
    """Every nucleotide of every gene, scored by the fold model that did not train on it, under each
    scoring rule ("every", "gated"). `inner_folds`: train's own gene CV inside each outer fold (calibration
    and tuned thresholds come from its out-of-fold rows; train's default is 5, the tables used 3)."""
    from gpumeta.train import train

    columns = pq.read_schema(next((builds["all"] / "master").glob("*.parquet"))).names
    # One train() run per fold; with recipe.per_type one per site type, each without the other type's own
    # columns, and the type's probability, calls and thresholds taken from its run.
    setups = {}
    for t in (SITE_TYPES if recipe.per_type else (None,)):
        families = recipe.dropped + ((f"own_{'acceptor' if t == 'donor' else 'donor'}",) if t else ())
        dropped = sorted(c for c in columns if any(FAMILIES[f](c) for f in families))
        label = name if t is None else f"{name}-{t}"
        exclude = workdir / "recipes" / f"{label}.exclude.txt"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("".join(f"{c}\n" for c in dropped) or "# nothing excluded\n")
        setups[t] = (label, exclude)
    all_genes = sorted({g for fold in folds for g in fold})
    # The gate annotate's selective mode uses: the build's hard-negative threshold and context width.
    built = json.loads((builds["all"] / "dataset_card.json").read_text())["parameters"]
    parts: dict[str, list[pd.DataFrame]] = {"every": [], "gated": []}
    for k, test_genes in enumerate(folds, start=1):
        train_genes = sorted(set(all_genes) - set(test_genes))
        fold_dir = workdir / "folds" / f"fold_{k}"
        train_ds = training_rows(builds, train_genes, recipe.negatives, fold_dir, seed=k)
        test_ds = gene_subset(builds["all"], test_genes, fold_dir / "test_all")
        inner = "" if inner_folds == 3 else f"-inner{inner_folds}"
        models = {}
        for t, (label, exclude) in setups.items():
            run = workdir / "runs" / f"{label}_{booster_tag(booster)}{inner}" / f"fold_{k}"  # a run per setting
            if not (run / "model" / "manifest.json").is_file():
                train(train_ds, run, device="cpu", test_dataset=test_ds, overwrite=True, quiet=True,
                      n_folds=inner_folds, skip_shap=True, minimal_diagnostics=True,
                      screening={"exclude_file": str(exclude)}, booster=booster, **recipe.train)
            models[t] = load_model(run / "model", "cpu")
        typed = {t: models[t if recipe.per_type else None] for t in SITE_TYPES}
        data = load_dataset(test_ds, "cpu")
        every = np.zeros((len(data.y), len(LABELS)))
        for t, model in typed.items():
            i = LABELS.index(t)
            every[:, i] = model.predict_proba(model.matrix(data))[:, i]
        rescored = gate_rows(data.gene_ids, data.meta["position"].to_numpy(), data.base_proba,
                             floor=built["hard_prob"], context=built["context_width"])
        bases = pq.read_table(next((test_ds / "master").glob("*.parquet")),
                              columns=["nt_p1_G", "nt_p2_T", "nt_m2_A", "nt_m1_G"]).to_pandas()
        canonical = {"donor": (bases["nt_p1_G"].to_numpy() == 1) & (bases["nt_p2_T"].to_numpy() == 1),
                     "acceptor": (bases["nt_m2_A"].to_numpy() == 1) & (bases["nt_m1_G"].to_numpy() == 1)}
        for rule, proba in (("every", every), ("gated", gated_proba(data.base_proba, every, rescored))):
            frame = pd.DataFrame({"gene_id": data.gene_ids, "position": data.meta["position"].to_numpy(),
                                  "y": data.y, "fold": k, "rescored": rescored,
                                  **{f"canonical_{t}": canonical[t] for t in SITE_TYPES}})
            for t in SITE_TYPES:
                i = LABELS.index(t)
                frame[f"base_{t}"] = data.base_proba[:, i]
                frame[f"meta_{t}"] = proba[:, i]
                frame[f"base_call_{t}"] = data.base_proba[:, i] >= typed[t].base_thresholds[t]
                frame[f"meta_call_{t}"] = proba[:, i] >= typed[t].thresholds[t]
                frame[f"base_threshold_{t}"] = typed[t].base_thresholds[t]
                frame[f"meta_threshold_{t}"] = typed[t].thresholds[t]
            parts[rule].append(frame)
    return {rule: pd.concat(frames, ignore_index=True) for rule, frames in parts.items()}


def margin_probe(name: str, builds: dict[str, Path], folds: list[list[str]], workdir: Path, booster: dict,
                 nthread: int) -> pd.DataFrame:
    """Does the meta-model lose the base model's ranking of its strongest candidates?

    Each fold model's booster of one site type is refitted on the fold's training rows with the same
    features, parameters and rounds, twice: from zero (as `train` fits it) and boosting from the base
    model's logit of that type (xgboost's base_margin), so that where the features add nothing the base
    model's order survives. Every nucleotide of the held-out genes is scored; AP and per-gene top-k of the
    raw scores, pooled over folds, beside the base model's. Run after the recipe's folds are trained.
    """
    import xgboost as xgb

    from gpumeta.model import logit_columns

    found = {t: {who: ([], [], []) for who in ("base", "from_zero", "from_base")} for t in SITE_TYPES}
    tag = booster_tag(booster)
    for k, test_genes in enumerate(folds, start=1):
        model = load_model(workdir / "runs" / f"{name}_{tag}" / f"fold_{k}" / "model", "cpu")
        params = BoosterParams(**booster).xgb_params("cpu", nthread, seed=42)
        train_ds = training_rows(builds, sorted({g for f in folds for g in f} - set(test_genes)),
                                 RECIPES[name].negatives, workdir / "folds" / f"fold_{k}", seed=k)
        sets = [load_dataset(path, "cpu", features=model.feature_names)
                for path in (train_ds, workdir / "folds" / f"fold_{k}" / "test_all")]
        X_train, X_test = (model.transform(model.matrix(d)) for d in sets)
        for t in SITE_TYPES:
            i = LABELS.index(t)
            base_logit = [logit_columns(d.base_proba[:, [i]].astype(np.float64), [0], np)[:, 0] for d in sets]
            truth = sets[1].y == i
            found[t]["base"][0].append(truth)
            found[t]["base"][1].append(sets[1].base_proba[:, i])
            for who, margins in (("from_zero", (None, None)), ("from_base", base_logit)):
                fit = xgb.DMatrix(X_train, label=(sets[0].y == i).astype(np.float32), base_margin=margins[0])
                booster_fit = xgb.train(params, fit, num_boost_round=int(model.params["rounds"][t]))
                found[t][who][0].append(truth)
                found[t][who][1].append(booster_fit.predict(xgb.DMatrix(X_test, base_margin=margins[1]),
                                                            output_margin=True))
            for who in found[t]:
                found[t][who][2].append(sets[1].gene_ids)
    rows = {}
    for t, by_who in found.items():
        for who, (truths, scores, genes) in by_who.items():
            truth, score_, gene = np.concatenate(truths), np.concatenate(scores), np.concatenate(genes)
            uniques, codes = gene_codes(gene)
            hits, k = top_k_per_gene(truth, score_, codes, len(uniques))
            rows[t, who] = {"ap": average_precision(truth, score_), "topk": float(hits.sum() / max(k.sum(), 1))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["site_type", "scorer"])


def oof_rows(run: Path, train_ds: Path) -> tuple[np.ndarray, ...]:
    """(labels, base probabilities, calibrated meta probabilities, gene ids, positions) of the out-of-fold rows
    from which `train` tuned the run's thresholds: its inner folds' saved margins, in the order train read
    them."""
    model = load_model(run / "model", "cpu")
    data = load_dataset(train_ds, "cpu", features=model.feature_names)
    splits = json.loads((run / "splits.json").read_text())
    rows = np.concatenate([data.rows_of(fold["test"]) for fold in splits["folds"]])
    margins = np.concatenate([np.load(run / "folds" / f"fold_{fold['fold']}" / "margins.npy")
                              for fold in splits["folds"]])
    return (data.y[rows], data.base_proba[rows], model.calibrate_margins(margins, data.base_proba[rows]),
            np.asarray(data.gene_ids)[rows], data.meta["position"].to_numpy()[rows])


def _cut_errors(y_bin: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reachable cuts in descending order, FP+FN when calling every row >= that cut)."""
    order = np.argsort(-score, kind="stable")
    s, hit = score[order], y_bin[order]
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    last = np.r_[s[1:] != s[:-1], True]
    return s[last], (fp + (hit.sum() - tp))[last]


def errors_threshold(y_bin: np.ndarray, score: np.ndarray) -> float:
    """The cut with the fewest FP+FN on the given rows (ties: the highest)."""
    cuts, errors = _cut_errors(y_bin, score)
    return float(cuts[int(np.argmin(errors))])


def plateau_threshold(y_bin: np.ndarray, score: np.ndarray, slack: float = 0.05) -> float:
    """The middle (median of the cuts, by score) of every cut whose FP+FN is within `slack` x positives of the
    fewest: one argmax over a flat error curve is a coin toss between its ends."""
    cuts, errors = _cut_errors(y_bin, score)
    near = cuts[errors <= errors.min() + max(1.0, slack * y_bin.sum())]
    return float(np.median(near))


#: Threshold rules a study can apply to the inner out-of-fold rows (meta and base alike); "f1" is train's.
THRESHOLD_RULES = {"errors": errors_threshold, "plateau": plateau_threshold}


def half_calls(pred: pd.DataFrame) -> pd.DataFrame:
    """The meta-model's calls at 0.5 on its calibrated probability (the Bayes rule for FP+FN when the
    probability is calibrated), no tuned threshold; the base model keeps its tuned thresholds."""
    out = pred.copy()
    for t in SITE_TYPES:
        out[f"meta_threshold_{t}"] = 0.5
        out[f"meta_call_{t}"] = pred[f"meta_{t}"].to_numpy() >= 0.5
    return out


def rethreshold(pred: pd.DataFrame, rule: str, oof: dict[int, tuple]) -> pd.DataFrame:
    """The same predictions with each fold's calls at thresholds chosen by `rule` on that fold's inner
    out-of-fold rows (`oof[k]` = oof_rows of fold k), for the base and the meta-model alike."""
    out = pred.copy()
    fold = pred["fold"].to_numpy()
    for k, (y, base, meta, *_) in oof.items():
        rows = fold == k
        for t in SITE_TYPES:
            i = LABELS.index(t)
            for who, proba in (("base", base), ("meta", meta)):
                threshold = THRESHOLD_RULES[rule](y == i, proba[:, i].astype(np.float64))
                out.loc[rows, f"{who}_threshold_{t}"] = threshold
                out.loc[rows, f"{who}_call_{t}"] = pred.loc[rows, f"{who}_{t}"].to_numpy() >= threshold
    return out


def _mixed_logit(base, meta, weight: float) -> np.ndarray:
    """(1 - w) logit(base) + w logit(meta), in float64."""
    return (1 - weight) * log_odds(np.asarray(base, dtype=np.float64)) + weight * log_odds(
        np.asarray(meta, dtype=np.float64))


def blend(pred: pd.DataFrame, oof: dict[int, tuple], weight: float = 0.5) -> pd.DataFrame:
    """The meta-model's scores replaced by a blend with the base model's, sigmoid((1 - w) logit(base) +
    w logit(meta)), each fold's threshold the F1 maximum of the same blend on its inner out-of-fold rows
    (train's rule, as the base model's own thresholds); the base model's calls are left as they are."""
    from gpumeta.evaluate.metrics import best_f1_threshold

    out = pred.copy()
    fold = pred["fold"].to_numpy()
    for t in SITE_TYPES:
        mixed = _mixed_logit(pred[f"base_{t}"], pred[f"meta_{t}"], weight)
        out[f"meta_{t}"] = 1 / (1 + np.exp(-mixed))
    for k, (y, base, meta, *_) in oof.items():
        rows = fold == k
        for t in SITE_TYPES:
            i = LABELS.index(t)
            mixed = _mixed_logit(base[:, i], meta[:, i], weight)
            threshold = best_f1_threshold(y == i, 1 / (1 + np.exp(-mixed)))
            out.loc[rows, f"meta_threshold_{t}"] = threshold
            out.loc[rows, f"meta_call_{t}"] = out.loc[rows, f"meta_{t}"].to_numpy() >= threshold
    return out


def structure_calls(pred: pd.DataFrame, oof: dict[int, tuple]) -> pd.DataFrame:
    """Both models' scores replaced by their gene-structure posteriors (`gpumeta.structure`), each fold's
    violation and cuts fitted on that fold's inner out-of-fold rows (fewest FP+FN), the calls the posteriors
    at those cuts. The probabilities enter at each model's own tuned thresholds."""
    out = pred.astype({f"{who}_{t}": np.float64 for who in ("base", "meta") for t in SITE_TYPES})
    fold = pred["fold"].to_numpy()
    donor, acceptor = LABELS.index("donor"), LABELS.index("acceptor")
    for k, (y, base, meta, oof_genes, oof_positions) in oof.items():
        rows = fold == k
        held = pred[rows]
        for who, proba in (("base", base), ("meta", meta)):
            thresholds = tuple(float(held[f"{who}_threshold_{t}"].iat[0]) for t in SITE_TYPES)
            structure, _ = fit_structure(oof_genes, oof_positions, y == donor, y == acceptor, proba[:, donor],
                                         proba[:, acceptor], thresholds)
            posterior = site_posteriors(held["gene_id"].to_numpy(), held["position"].to_numpy(),
                                        held[f"{who}_donor"].to_numpy(), held[f"{who}_acceptor"].to_numpy(),
                                        thresholds, structure)
            print(f"fold {k} {who}: violation {structure.violation}, cuts {structure.cuts}", flush=True)
            for j, t in enumerate(SITE_TYPES):
                out.loc[rows, f"{who}_{t}"] = posterior[:, j]
                out.loc[rows, f"{who}_threshold_{t}"] = structure.cuts[j]
                out.loc[rows, f"{who}_call_{t}"] = posterior[:, j] >= structure.cuts[j]
    return out


def local_max(pred: pd.DataFrame, column: str, k: int) -> np.ndarray:
    """Whether each nucleotide's `column` is the largest within +-k nt of its gene (ties: the most upstream
    one). Rows in any order; genes' positions need not be contiguous (a missing neighbour is no rival)."""
    out = np.zeros(len(pred), dtype=bool)
    for _, rows in pred.groupby("gene_id", sort=False).indices.items():
        pos = pred["position"].to_numpy()[rows]
        order = np.argsort(pos, kind="stable")
        rows, pos = rows[order], pos[order]
        track = np.full(int(pos[-1]) + 1 + 2 * k, -np.inf)
        track[pos + k] = pred[column].to_numpy()[rows]
        windows = np.lib.stride_tricks.sliding_window_view(track, 2 * k + 1)[pos]
        own = windows[:, k]
        out[rows] = (own > windows[:, :k].max(axis=1, initial=-np.inf)) & (
            own >= windows[:, k + 1:].max(axis=1, initial=-np.inf))
    return out


def nms_calls(pred: pd.DataFrame, k: int) -> pd.DataFrame:
    """The same predictions with every call (base and meta, each site type) kept only where its probability
    is the local maximum within +-k nt of that type (non-maximum suppression at the tuned thresholds)."""
    out = pred.copy()
    for who in ("base", "meta"):
        for t in SITE_TYPES:
            out[f"{who}_call_{t}"] = pred[f"{who}_call_{t}"].to_numpy() & local_max(pred, f"{who}_{t}", k)
    return out


#: Error categories of `anatomy`, in table order.
FP_KINDS = ("FP shifted 1-5 nt from a site of its type", "FP at a site of the other type", "FP isolated")
FN_KINDS = ("FN at a site without GT (donor) / AG (acceptor)", "FN, base score < 0.1",
            "FN, base score 0.1 .. tuned threshold", "FN, base score >= tuned threshold")


def anatomy(pred: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every FP and FN of the base and the meta-model at their tuned thresholds, categorised.

    Returns (errors: one row per (gene, position, site type, FP/FN, model) with its category and scores,
    summary: counts per category for base, meta, shared (both err the same way at the same nucleotide),
    fixed (base only) and introduced (meta only))."""
    pos = pred["position"].to_numpy()
    gene = pred["gene_id"].to_numpy()
    rows = []
    for t in SITE_TYPES:
        other = "acceptor" if t == "donor" else "donor"
        truth = pred["y"].to_numpy() == LABELS.index(t)
        truth_other = pred["y"].to_numpy() == LABELS.index(other)
        sites = set(zip(gene[truth], pos[truth]))
        near = np.zeros(len(pred), dtype=bool)
        for o in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
            near |= pd.MultiIndex.from_arrays([gene, pos + o]).isin(list(sites))
        offset = np.zeros(len(pred), dtype=np.int64)
        for o in (5, -5, 4, -4, 3, -3, 2, -2, 1, -1):  # the nearest site written last
            hit = pd.MultiIndex.from_arrays([gene, pos + o]).isin(list(sites))
            offset[hit] = o
        base_score = pred[f"base_{t}"].to_numpy()
        for who in ("base", "meta"):
            call = pred[f"{who}_call_{t}"].to_numpy()
            for kind, mask in (("FP", call & ~truth), ("FN", truth & ~call)):
                for i in np.nonzero(mask)[0]:
                    if kind == "FP":
                        category = FP_KINDS[0] if near[i] else FP_KINDS[1] if truth_other[i] else FP_KINDS[2]
                    else:
                        category = (FN_KINDS[0] if not pred[f"canonical_{t}"].iat[i] else FN_KINDS[1]
                                    if base_score[i] < 0.1 else FN_KINDS[2]
                                    if base_score[i] < pred[f"base_threshold_{t}"].iat[i] else FN_KINDS[3])
                    rows.append({"gene_id": gene[i], "position": int(pos[i]), "site_type": t, "kind": kind,
                                 "model": who, "category": category,
                                 "site_offset": int(offset[i]) if kind == "FP" and near[i] else 0,
                                 "base_score": float(base_score[i]), "meta_score": float(pred[f"meta_{t}"].iat[i]),
                                 "base_threshold": float(pred[f"base_threshold_{t}"].iat[i]),
                                 "meta_threshold": float(pred[f"meta_threshold_{t}"].iat[i]),
                                 "fold": int(pred["fold"].iat[i])})
    errors = pd.DataFrame(rows)
    if errors.empty:
        return errors, pd.DataFrame()
    key = ["gene_id", "position", "site_type", "kind"]
    both = errors.pivot_table(index=key, columns="model", values="fold", aggfunc="size", fill_value=0)
    both = both.reindex(columns=["base", "meta"], fill_value=0)
    status = np.where((both["base"] > 0) & (both["meta"] > 0), "shared",
                      np.where(both["base"] > 0, "fixed", "introduced"))
    errors = errors.merge(pd.DataFrame({"status": status}, index=both.index).reset_index(), on=key)
    summary = {}
    for (t, category), group in errors.groupby(["site_type", "category"]):
        summary[t, category] = {
            "base": int((group["model"] == "base").sum()), "meta": int((group["model"] == "meta").sum()),
            "shared": int(((group["status"] == "shared") & (group["model"] == "meta")).sum()),
            "fixed": int((group["status"] == "fixed").sum()),
            "introduced": int((group["status"] == "introduced").sum())}
    table = pd.DataFrame.from_dict(summary, orient="index").rename_axis(["site_type", "category"])
    order = {c: i for i, c in enumerate(FP_KINDS + FN_KINDS)}
    table = table.sort_index(key=lambda level: level.map(order) if level.name == "category" else level)
    return errors.sort_values(["model", "site_type", "kind", "gene_id", "position"]), table


def gene_errors(pred: pd.DataFrame) -> pd.DataFrame:
    """Per gene and scorer: FP+FN summed over site types at the tuned thresholds."""
    out = {}
    for who in ("base", "meta"):
        errors = np.zeros(len(pred), dtype=np.int64)
        for t in SITE_TYPES:
            truth = pred["y"].to_numpy() == LABELS.index(t)
            errors += truth ^ pred[f"{who}_call_{t}"].to_numpy()
        out[who] = pd.Series(errors).groupby(pred["gene_id"].to_numpy()).sum()
    return pd.DataFrame(out)


def oracle_errors(pred: pd.DataFrame) -> dict:
    """A diagnostic, not a result: FP+FN of each model at the one threshold per site type that is best on the
    judged nucleotides themselves (pooled over folds); no decision rule applied."""
    out = {}
    for who in ("base", "meta"):
        total = 0
        for t in SITE_TYPES:
            truth = pred["y"].to_numpy() == LABELS.index(t)
            total += int(min(_cut_errors(truth, pred[f"{who}_{t}"].to_numpy(np.float64))[1].min(), truth.sum()))
        out[f"oracle_{who}"] = total
    return out


def score(by_seed: list[pd.DataFrame]) -> dict:
    """One recipe and rule judged over one or more fold seeds (each frame: every nucleotide once). FP+FN and the
    best-cut diagnostic are summed over seeds, the gene-bootstrap interval resamples genes with their errors
    summed over seeds (a gene's seeds are not independent), AP and per-gene top-k are means over seeds."""
    per_gene = sum(gene_errors(pred) for pred in by_seed)
    change, low, high = error_change_interval(per_gene["base"], per_gene["meta"])
    first = by_seed[0]
    row = {"genes": len(per_gene), "nucleotides": len(first),
           "rescored": float(np.mean([pred["rescored"].mean() for pred in by_seed])),
           **pd.DataFrame([oracle_errors(pred) for pred in by_seed]).sum().astype(int).to_dict(),
           "fp_fn_base": int(per_gene["base"].sum()), "fp_fn_meta": int(per_gene["meta"].sum()),
           "change": change, "change_low": low, "change_high": high}
    ranking: dict[str, list[float]] = {}
    for pred in by_seed:
        uniques, codes = gene_codes(pred["gene_id"].to_numpy())
        for t in SITE_TYPES:
            truth = pred["y"].to_numpy() == LABELS.index(t)
            for who in ("base", "meta"):
                score_of = pred[f"{who}_{t}"].to_numpy()
                ranking.setdefault(f"ap_{t}_{who}", []).append(average_precision(truth, score_of))
                hits, k = top_k_per_gene(truth, score_of, codes, len(uniques))
                ranking.setdefault(f"topk_{t}_{who}", []).append(hits.sum() / max(k.sum(), 1))
    for t in SITE_TYPES:
        row[f"sites_{t}"] = int((first["y"].to_numpy() == LABELS.index(t)).sum())
        for who in ("base", "meta"):
            row[f"ap_{t}_{who}"] = float(np.mean(ranking[f"ap_{t}_{who}"]))
            row[f"topk_{t}_{who}"] = float(np.mean(ranking[f"topk_{t}_{who}"]))
    return row


def markdown(table: pd.DataFrame, kind: str) -> str:
    first = {k: int(v) for k, v in table.iloc[0].items() if k in ("genes", "nucleotides", "sites_donor",
                                                                    "sites_acceptor", "folds")}
    lines = [f"### {kind}: {first['genes']} genes, {first['nucleotides']:,} nucleotides, "
             f"{first['sites_donor']} donor + {first['sites_acceptor']} acceptor sites; "
             f"outer {first['folds']}-fold gene CV, every nucleotide, tuned thresholds"
             + (f"; fold seeds {seeds}: FP+FN summed over seeds, AP and top-k their means"
                if "," in (seeds := str(table.iloc[0].get("fold_seeds", FIRST_FOLD_SEED))) else ""), "",
             "| recipe | scoring | FP+FN base (tuned) | FP+FN meta | change [95 % gene bootstrap] | "
             "AP donor base/meta | AP acceptor base/meta | top-k donor base/meta | top-k acceptor base/meta | "
             "wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (name, rule), r in table.iterrows():
        lines.append(
            f"| {name} | {rule} | {r.fp_fn_base:.0f} | {r.fp_fn_meta:.0f} | {r.change:+.1%} "
            f"[{r.change_low:+.1%}, "
            f"{r.change_high:+.1%}] | {r.ap_donor_base:.3f} / {r.ap_donor_meta:.3f} | "
            f"{r.ap_acceptor_base:.3f} / {r.ap_acceptor_meta:.3f} | {r.topk_donor_base:.3f} / "
            f"{r.topk_donor_meta:.3f} | {r.topk_acceptor_base:.3f} / {r.topk_acceptor_meta:.3f} | "
            f"{r.seconds:.0f} |")
    share = table.xs("gated", level="scoring")["rescored"]
    lines += ["", "Recipes: " + "; ".join(f"**{n}**: {RECIPES[n].description}"
                                         for n in dict.fromkeys(table.index.get_level_values("recipe"))),
              "", "Scoring: **every**: the meta-model's probability at every nucleotide; **gated**: the meta-model "
              f"only where the base model is unsure ({share.min():.1%} of the nucleotides), the base probability "
              "elsewhere (gpumeta.gating, the rule of `gpumeta annotate`'s selective mode). The base model's figures "
              "are the same under both rules."]
    rules = set(table.index.get_level_values("scoring"))
    if any(r.startswith("nms") or "+nms" in r for r in rules):
        lines[-1] += (" **nmsK**: the meta-model at every nucleotide, each call (base and meta alike) kept only "
                      "where its probability is the local maximum of its type within +-K nt.")
    if any(r.startswith("thr_") for r in rules):
        lines[-1] += (" **thr_errors** / **thr_plateau**: each fold's thresholds (base and meta alike) re-chosen on "
                      "train's inner out-of-fold rows: the fewest FP+FN / the median of the cuts within max(1, 5 % "
                      "of the sites) errors of the fewest (instead of train's F1 maximum); **+nmsK** adds the "
                      "local-maximum rule.")
    if "half" in rules:
        lines[-1] += (" **half**: the meta-model's calls at 0.5 on its calibrated probability instead of its tuned "
                      "thresholds (the base model keeps its tuned thresholds; with +nmsK both get the local-maximum "
                      "rule).")
    if "blend" in rules:
        lines[-1] += (" **blend**: the meta-model's scores replaced by sigmoid((logit(base) + logit(meta)) / 2), "
                      "thresholds the F1 maximum of the same blend on train's inner out-of-fold rows (AP and top-k "
                      "in its row are the blend's).")
    if "structure" in rules:
        lines[-1] += (" **structure**: both models' calls decoded by gene structure (gpumeta.structure: a transcript's "
                      "sites alternate donor, acceptor, ...), each fold's violation and posterior cuts fitted on "
                      "train's inner out-of-fold rows (AP and top-k in its row are the posteriors'); "
                      "**meta_structure**: the meta-model decoded, the base model at its plain tuned thresholds.")
    lines.append("")
    return "\n".join(lines)


def seed_suffix(fold_seed: int) -> str:
    """The suffix of a fold seed's files and folders: none for FIRST_FOLD_SEED, whose runs came first."""
    return "" if fold_seed == FIRST_FOLD_SEED else f"seed{fold_seed}"


def seed_work(work: Path, fold_seed: int) -> Path:
    """Where the folds and fits of one fold seed live (FIRST_FOLD_SEED's at the top)."""
    return work / seed_suffix(fold_seed)


def seed_predictions(name: str, fold_seed: int, builds: dict[str, Path], booster: dict, nms: list[int],
                     rules: list[str], args) -> dict[str, pd.DataFrame]:
    """Every nucleotide of every gene scored once by one outer CV (folds of `fold_seed`), under each scoring
    rule the options ask for; the meta-model's scores are saved under WORK/predictions/."""
    work = args.workdir / "study"
    folds = outer_folds(builds["all"], args.folds, seed=fold_seed)
    runs = seed_work(work, fold_seed)
    preds = fold_predictions(RECIPES[name], name, builds, folds, runs, booster, args.inner_folds)
    tag = f"{name}_{booster_tag(booster)}" + ("" if args.inner_folds == 3 else f"-inner{args.inner_folds}")
    (work / "predictions").mkdir(exist_ok=True)
    saved = "-".join(filter(None, (tag, seed_suffix(fold_seed))))
    preds["every"].to_parquet(work / "predictions" / f"{saved}.parquet")
    for k in nms:
        preds[f"nms{k}"] = nms_calls(preds["every"], k)
    if args.half:
        preds["half"] = half_calls(preds["every"])
        for k in nms:
            preds[f"half+nms{k}"] = nms_calls(preds["half"], k)
    if (rules or args.blend or args.structure) and RECIPES[name].per_type:
        print(f"{name}: --thresholds, --blend and --structure read one run's out-of-fold rows; skipped for a "
              "per-type recipe")
    elif rules or args.blend or args.structure:
        oof = {k: oof_rows(runs / "runs" / tag / f"fold_{k}",
                           training_rows(builds, sorted({g for f in folds for g in f} - set(test_genes)),
                                         RECIPES[name].negatives, runs / "folds" / f"fold_{k}", seed=k))
               for k, test_genes in enumerate(folds, start=1)}
        if args.blend:
            preds["blend"] = blend(preds["every"], oof)
            for k in nms:
                preds[f"blend+nms{k}"] = nms_calls(preds["blend"], k)
        if args.structure:
            preds["structure"] = structure_calls(preds["every"], oof)
            # The measure: the decoded meta-model against SpliceAI at its plain tuned thresholds.
            base_columns = [c for c in preds["every"].columns if c.startswith("base_")]
            preds["meta_structure"] = preds["structure"].assign(**preds["every"][base_columns])
        for rule in rules:
            preds[f"thr_{rule}"] = rethreshold(preds["every"], rule, oof)
            for k in nms:
                preds[f"thr_{rule}+nms{k}"] = nms_calls(preds[f"thr_{rule}"], k)
    if args.anatomy:
        write_anatomy(preds["every"], name, tag, args)
    return preds


def _integers(option: str, value: str, expected: str) -> list[int]:
    """A comma-separated option's integers; SystemExit naming the option and what it expects."""
    try:
        return [int(k) for k in value.split(",") if k]
    except ValueError:
        raise SystemExit(f"{option} {value!r}: give {expected}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genome", choices=["chr22", "synth"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/study"))
    parser.add_argument("--genes", type=int, default=120, help="synthetic genes (synth only)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=3,
                        help="train's gene CV inside each outer fold (its default is 5; the tables used 3)")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--margin-probe", action="store_true",
                        help="also refit each recipe's boosters from zero and from the base model's logit "
                             "(margin_probe): writes OUT/<genome>_margin_probe.csv")
    parser.add_argument("--nms", default="",
                        help="comma-separated k: also score with calls kept only at the local maximum within +-k nt "
                             "of their type (base and meta alike), rule 'nmsK'")
    parser.add_argument("--thresholds", default="",
                        help=f"comma-separated rules ({', '.join(THRESHOLD_RULES)}): also score with each fold's "
                             "thresholds re-chosen by that rule on train's inner out-of-fold rows (base and meta "
                             "alike), rule 'thr_RULE' (and 'thr_RULE+nmsK' with --nms)")
    parser.add_argument("--half", action="store_true",
                        help="also score the meta-model's calls at 0.5 on its calibrated probability (no tuned "
                             "threshold; the base model keeps its tuned ones), rule 'half' (and 'half+nmsK')")
    parser.add_argument("--blend", action="store_true",
                        help="also score the blend sigmoid((logit(base) + logit(meta)) / 2), its thresholds the F1 "
                             "maximum on train's inner out-of-fold rows, rule 'blend' (and 'blend+nmsK')")
    parser.add_argument("--structure", action="store_true",
                        help="also score both models decoded by gene structure (gpumeta.structure: sites alternate "
                             "donor, acceptor, ...), violation and cuts fitted on train's inner out-of-fold rows; "
                             "rule 'structure' (scores are the posteriors), and 'meta_structure' (the meta-model "
                             "decoded, the base model at its plain tuned thresholds)")
    parser.add_argument("--anatomy", action="store_true",
                        help="write every FP and FN of base and meta (rule 'every'), categorised: "
                             "OUT/<genome>_errors_<recipe>.csv and OUT/<genome>_anatomy.md")
    parser.add_argument("--boost-from-base", default="",
                        help="booster.boost_from_base: 'all' (every class starts from the base model's logit) or "
                             "a comma-separated list of classes, e.g. neither,acceptor")
    parser.add_argument("--booster-param", action="append", default=[], metavar="KEY=VALUE",
                        help="any other booster setting (train's `booster` block), e.g. max_depth=4; repeatable")
    parser.add_argument("--fold-seeds", default=str(FIRST_FOLD_SEED),
                        help="seeds of the outer gene folds, comma-separated: each seed is a full outer CV, and the "
                             "table pools them (errors summed, AP and top-k averaged); a seed other than "
                             f"{FIRST_FOLD_SEED} runs under WORKDIR/study/seed<S>/")
    parser.add_argument("--nthread", type=int, default=2, help="CPU cores the study may use")
    parser.add_argument("--learning-rate", type=float, default=0.3, help="booster learning rate (train's default)")
    parser.add_argument("--early-stopping-rounds", type=int, default=None,
                        help="booster patience in rounds (default: train's)")
    parser.add_argument("--max-bin", type=int, default=256, help="booster histogram bins (train's default)")
    parser.add_argument("--n-estimators", type=int, default=1000,
                        help="booster rounds at most (train's default); small gene sets stop near 50 at 0.1")
    args = parser.parse_args()
    names = [n for n in args.recipes.split(",") if n]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}: use {', '.join(RECIPES)}")
    nms = _integers("--nms", args.nms, "comma-separated integers >= 1, e.g. 2,5")
    if any(k < 1 for k in nms):
        raise SystemExit(f"--nms {args.nms!r}: every k must be >= 1")
    rules = [r for r in args.thresholds.split(",") if r]
    if set(rules) - set(THRESHOLD_RULES):
        raise SystemExit(f"--thresholds {args.thresholds!r}: use rules among {', '.join(THRESHOLD_RULES)}")
    fold_seeds = _integers("--fold-seeds", args.fold_seeds, "comma-separated integers, e.g. 11,3,5")
    if not fold_seeds or (args.anatomy and len(fold_seeds) > 1):
        raise SystemExit("--fold-seeds: give at least one seed (and one only with --anatomy)")
    if args.margin_probe and args.inner_folds != 3:
        raise SystemExit("--margin-probe refits the runs of 3 inner folds: drop --inner-folds")
    if hasattr(os, "sched_setaffinity"):  # xgboost and the builder use every core the process may run on
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.nthread])
    booster = {"learning_rate": args.learning_rate, "max_bin": args.max_bin, "n_estimators": args.n_estimators}
    if args.early_stopping_rounds is not None:
        booster["early_stopping_rounds"] = args.early_stopping_rounds
    for setting in args.booster_param:
        key, _, value = setting.partition("=")
        if key not in BoosterParams.__dataclass_fields__ or not value:
            raise SystemExit(f"--booster-param {setting!r}: give KEY=VALUE with KEY among "
                             f"{', '.join(BoosterParams.__dataclass_fields__)}")
        booster[key] = yaml.safe_load(value)
    if args.boost_from_base:
        booster["boost_from_base"] = True if args.boost_from_base == "all" else args.boost_from_base.split(",")
    work = args.workdir / "study"
    work.mkdir(parents=True, exist_ok=True)
    builds = wide_builds(*build_inputs(args.genome, args.workdir, args.genes), work)
    rows = {}
    for name in names:
        started = time.perf_counter()
        by_rule: dict[str, list[pd.DataFrame]] = {}
        for seed in fold_seeds:
            for rule, pred in seed_predictions(name, seed, builds, booster, nms, rules, args).items():
                by_rule.setdefault(rule, []).append(pred)
        seconds = time.perf_counter() - started
        for rule, by_seed in by_rule.items():
            row = rows[name, rule] = {**score(by_seed), "folds": args.folds,
                                      "fold_seeds": ",".join(map(str, fold_seeds)), "seconds": seconds}
            print(f"{name} ({rule}): FP+FN base {row['fp_fn_base']} meta {row['fp_fn_meta']} ({row['change']:+.1%})",
                  flush=True)
        write_tables(rows, args)  # after each recipe: a stopped study keeps what it finished
        if args.margin_probe:
            probe = margin_probe(name, builds, outer_folds(builds["all"], args.folds, seed=fold_seeds[0]),
                                 seed_work(work, fold_seeds[0]), booster, args.nthread)
            path = args.out / f"{args.genome}_margin_probe.csv"
            earlier = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["recipe"])
            probe = pd.concat([earlier[earlier["recipe"] != name], probe.reset_index().assign(recipe=name)])
            write_text(path, probe.to_csv(index=False, float_format="%.4f"))
            print(probe.to_string(index=False), flush=True)


def write_anatomy(pred: pd.DataFrame, name: str, tag: str, args) -> None:
    """OUT/<genome>_errors_<recipe>.csv (every error) and the recipe's section of OUT/<genome>_anatomy.md."""
    errors, table = anatomy(pred)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / f"{args.genome}_errors_{name}.csv", errors.to_csv(index=False, float_format="%.4g"))
    lines = [f"#### {args.genome}, recipe {name} ({tag}), rule every: FP and FN at the tuned thresholds", "",
             "| site type | category | base | meta | shared | fixed by meta | introduced by meta |",
             "|---|---|---|---|---|---|---|"]
    for (t, category), r in table.iterrows():
        lines.append(f"| {t} | {category} | {r.base} | {r.meta} | {r.shared} | {r.fixed} | {r.introduced} |")
    total = table.sum()
    lines.append(f"| all | all | {total.base} | {total.meta} | {total.shared} | {total.fixed} | {total.introduced} |")
    section = "\n".join(lines) + "\n"
    path = args.out / f"{args.genome}_anatomy.md"
    earlier = path.read_text() if path.is_file() else ""
    kept = [s for s in earlier.split("#### ") if s and not s.startswith(f"{args.genome}, recipe {name} (")]
    write_text(path, "".join("#### " + s for s in kept) + section + "\n")
    print(section, flush=True)


def write_tables(rows: dict, args) -> None:
    """The table of this run's recipes plus those an earlier run of the same genome wrote (rerun ones replaced)."""
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["recipe", "scoring"]
    csv = args.out / f"{args.genome}_recipes.csv"
    if csv.is_file():
        earlier = pd.read_csv(csv, index_col=["recipe", "scoring"])
        table = pd.concat([earlier.drop(index=table.index, errors="ignore"), table])
    args.out.mkdir(parents=True, exist_ok=True)
    order = {n: i for i, n in enumerate(RECIPES)}
    table = table.sort_index(key=lambda level: level.map(order) if level.name == "recipe" else level)
    write_text(csv, table.to_csv())
    write_text(args.out / f"{args.genome}_recipes.md", markdown(table, args.genome))
    print(markdown(table, args.genome))


if __name__ == "__main__":
    main()
