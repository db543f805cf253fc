"""`gpumeta.train`: screen features, split by gene, cross-validate, fit the final model, evaluate, explain.

Modes (DESIGN.md section 4): production (80/20 gene holdout, CV and final model on the 80, evaluation on
the 20), research (`test_dataset`: CV and final on all of the dataset, evaluation on the other one),
benchmark (repeated gene holdouts, mean ± std), testing (`sample_genes`: a quick subset, not for
production). Every metric is computed on genes the model did not train on; splits.json says which.

Resume: each finished fold is written atomically under folds/, the final model under model/; a rerun with
`resume=True` skips what exists when the configuration and dataset are the same. run_info.json says
"running" until the very end, so an interrupted run never looks finished.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import __version__
from ..atomic import atomic_dir, write_csv, write_json, write_text
from ..backend import get_backend
from ..calibration import fit_calibrator
from ..dataset import MetaDataset, load_dataset
from ..errors import GpumetaError
from ..model import SITE_TYPES, EnsembleModel, MetaModel, load_model
from ..progress import Progress, Timings, run_log
from ..schema import LABELS
from .config import TrainConfig, load_config
from .screening import screen_features
from .splits import GeneSplitter, gene_groups
from .strategies import choose_strategy, fit_model


@dataclass
class TrainResult:
    """What `train` made: the run directory, the final model and its held-out figures."""

    run_dir: Path
    model: MetaModel | EnsembleModel
    evaluation: dict
    cv_metrics: pd.DataFrame
    splits: dict
    timings: dict = field(default_factory=dict)


def _prepare_run_dir(out_dir: Path, fingerprint: dict, resume: bool, overwrite: bool) -> None:
    stamp = out_dir / "run_config.json"
    if out_dir.exists() and any(out_dir.iterdir()):
        if overwrite:
            shutil.rmtree(out_dir)
        elif resume:
            if not stamp.is_file():
                raise GpumetaError(f"{out_dir}: not a gpumeta run directory (no run_config.json); "
                                   "choose another --out-dir")
            previous = json.loads(stamp.read_text())
            if previous != fingerprint:
                changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
                raise GpumetaError(f"{out_dir}: cannot resume: {', '.join(changed)} changed since the run began; "
                                   "use the same inputs, or --overwrite to start over")
            return
        else:
            raise GpumetaError(f"{out_dir}: already holds a run; use --resume to continue it or --overwrite "
                               "to start over")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(stamp, fingerprint)


class _Trainer:
    """One production run over a dataset (its training genes and its held-out genes)."""

    def __init__(self, dataset: MetaDataset, config: TrainConfig, run_dir: Path, progress: Progress,
                 timings: Timings, cluster=None, owns_dataset: bool = True):
        self.dataset, self.config, self.run_dir = dataset, config, run_dir
        self.owns_dataset = owns_dataset  # may narrow it to the screened features in place (frees memory)
        self.progress, self.timings, self.cluster = progress, timings, cluster
        self.weights = dataset.weights if config.weight_by_inclusion else None

    def fit(self, train_genes, val_genes, description: str):
        n = self.config.booster.n_estimators * len(LABELS)
        tick = self.progress.task(description, total=n)
        with self.timings.measure("xgboost"):
            model = fit_model(self.strategy, self.dataset, self.dataset.rows_of(train_genes),
                              self.dataset.rows_of(val_genes), self.features, self.logit_features,
                              self.config, self.weights, on_round=tick, cluster=self.cluster,
                              cache_dir=self.run_dir / "instances_cache" / description.split("/")[0].replace(" ", "_"))
        tick.done()
        if isinstance(model, MetaModel):  # an ensemble's training genes are those of its instances
            model.training_genes = sorted(set(train_genes) | set(val_genes))
        return model

    def margins(self, model, rows: np.ndarray) -> np.ndarray:
        with self.timings.measure("xgboost"):
            return model.margins(self.dataset.X[self.dataset.backend.asarray(rows)])

    def cross_validate(self, splitter: GeneSplitter, train_genes: list[str]) -> tuple[pd.DataFrame, np.ndarray,
                                                                                     np.ndarray, list]:
        """k-fold gene CV on the training genes; returns (fold metrics, OOF rows, OOF margins, curves)."""
        from ..evaluate.metrics import fold_metrics

        rows_per_gene = pd.Series(self.dataset.gene_ids).value_counts().to_dict()
        folds = splitter.kfold(train_genes, self.config.n_folds, rows_per_gene)
        self.splits["folds"] = []
        records, oof_rows, oof_margins, curves = [], [], [], []
        for k, test_genes in enumerate(folds, start=1):
            fold_train = sorted(set(train_genes) - set(test_genes))
            fit_genes, val_genes = splitter.holdout(fold_train, self.config.validation_fraction, salt=100 + k)
            self.splits["folds"].append({"fold": k, "train": fit_genes, "validation": val_genes, "test": test_genes})
            fold_dir = self.run_dir / "folds" / f"fold_{k}"
            rows = self.dataset.rows_of(test_genes)
            if not (fold_dir / "fold.json").is_file():
                model = self.fit(fit_genes, val_genes, f"fold {k}/{len(folds)}")
                margins = self.margins(model, rows)
                base = self.dataset.base_proba[rows]
                meta = model.calibrate_margins(margins)  # calibrators are "none" here: plain sigmoid
                metrics = fold_metrics(k, self.dataset.y[rows], base, meta, self.dataset.gene_ids[rows],
                                       None if self.weights is None else self.weights[rows])
                with atomic_dir(fold_dir) as tmp:
                    np.save(tmp / "margins.npy", margins)
                    write_json(tmp / "fold.json", {"metrics": metrics, "evals_result": model.evals_result})
            saved = json.loads((fold_dir / "fold.json").read_text())
            records.append(saved["metrics"])
            curves.append((f"fold_{k}", saved["evals_result"]))
            oof_rows.append(rows)
            oof_margins.append(np.load(fold_dir / "margins.npy"))
        return pd.DataFrame(records), np.concatenate(oof_rows), np.concatenate(oof_margins), curves

    def run(self, train_genes: list[str], test_genes: list[str], splitter: GeneSplitter,
            test_dataset: MetaDataset | None = None, eval_dataset: MetaDataset | None = None) -> TrainResult:
        from ..evaluate.heldout import evaluate_heldout
        from ..evaluate.metrics import best_f1_threshold

        cfg = self.config
        self.splits = {"seed": cfg.seed, "train": train_genes, "test": test_genes,
                       "test_dataset": str(test_dataset.path) if test_dataset is not None else None}
        screening = screen_features(self.dataset, train_genes, cfg.screening, cfg.seed)
        self.features, self.logit_features = screening.features, screening.logit_features
        write_csv(self.run_dir / "feature_manifest.csv", screening.table)
        write_text(self.run_dir / "global_excluded_features.txt",
                   "".join(f"{f}\t{why}\n" for f, why in screening.excluded.items()))
        self.dataset = self.dataset.with_features(self.features, in_place=self.owns_dataset)
        self.strategy, self.strategy_reason = choose_strategy(cfg.strategy, self.dataset, len(train_genes),
                                                              len(self.dataset.genes), cfg, self.cluster)
        self.progress.note(f"strategy: {self.strategy} ({self.strategy_reason})")

        cv, oof_rows, oof_margins, curves = self.cross_validate(splitter, train_genes)
        write_csv(self.run_dir / "gene_cv_metrics.csv", cv)

        # One calibration per class and per-type thresholds, all from out-of-fold predictions of training genes.
        y_oof = self.dataset.y[oof_rows]
        calibrators = [fit_calibrator(oof_margins[:, k], y_oof == k, cfg.calibration) for k in range(len(LABELS))]
        oof_weights = None if self.weights is None else self.weights[oof_rows]
        probe = MetaModel(boosters=[], feature_names=self.features, logit_features=[], calibrators=calibrators)
        oof_proba = probe.calibrate_margins(oof_margins)
        thresholds, base_thresholds = {}, {}
        for t in SITE_TYPES:
            k = LABELS.index(t)
            thresholds[t] = best_f1_threshold(y_oof == k, oof_proba[:, k], oof_weights)
            base_thresholds[t] = best_f1_threshold(y_oof == k, self.dataset.base_proba[oof_rows, k], oof_weights)

        fit_genes, val_genes = splitter.holdout(train_genes, cfg.validation_fraction, salt=99)
        self.splits["final"] = {"train": fit_genes, "validation": val_genes}
        model_dir = self.run_dir / "model"
        if (model_dir / "manifest.json").is_file():
            model = load_model(model_dir, self.dataset.backend)
        else:
            model = self.fit(fit_genes, val_genes, "final model")
            model.calibrators, model.thresholds, model.base_thresholds = calibrators, thresholds, base_thresholds
            model.dataset_fingerprint = self.dataset.fingerprint
            model.params = {**model.params, "booster": cfg.to_dict()["booster"], "strategy": self.strategy,
                            "calibration": cfg.calibration, "seed": cfg.seed}
            model.save(model_dir)
        curves.append(("final", model.evals_result))
        write_json(self.run_dir / "learning_curves.json", dict(curves))
        write_json(self.run_dir / "splits.json", self.splits)
        # One gene per line: `gpumeta evaluate --genes-file RUN/test_genes.txt` re-scores exactly these genes.
        write_text(self.run_dir / "test_genes.txt", "".join(f"{g}\n" for g in test_genes))

        target = test_dataset if test_dataset is not None else self.dataset
        with self.timings.measure("evaluation"):
            evaluation = evaluate_heldout(model, target, self.run_dir, genes=test_genes, full_dataset=eval_dataset,
                                          shap_genes=cfg.shap_genes, skip_shap=cfg.skip_shap,
                                          minimal=cfg.minimal_diagnostics, seed=cfg.seed, curves=curves)
        self.cv = cv
        return TrainResult(self.run_dir, model, evaluation, cv, self.splits)


def _info(dataset: MetaDataset, cfg: TrainConfig, mode: str, trainer: _Trainer | None, status: str,
          timings: Timings, device: str, extra: dict | None = None) -> dict:
    info = {
        "gpumeta_version": __version__, "status": status, "mode": mode, "device": device,
        "dataset": str(dataset.path), "dataset_fingerprint": dataset.fingerprint,
        "n_genes": len(dataset.genes), "n_rows": dataset.n_rows, "rows_are_sampled": dataset.is_sampled,
        "seed": cfg.seed, "calibration": cfg.calibration, "params": cfg.to_dict()["booster"],
        "timings": {k: round(v, 3) for k, v in timings.seconds.items()},
    }
    if trainer is not None and hasattr(trainer, "features"):
        info.update({
            "n_features": len(trainer.features), "features_used": trainer.features,
            "features_excluded": dict(
                pd.read_csv(trainer.run_dir / "feature_manifest.csv").query("status == 'excluded'")
                [["feature", "reason"]].itertuples(index=False)),
            "strategy": getattr(trainer, "strategy", None),
            "strategy_reason": getattr(trainer, "strategy_reason", None),
            "test_genes_file": "test_genes.txt",
            "artifacts": sorted(str(p.relative_to(trainer.run_dir)) for p in trainer.run_dir.rglob("*")
                                if p.is_file() and not p.name.startswith(".") and "folds" not in p.parts),
        })
    info.update(extra or {})
    return info


def train(dataset: str | Path, out_dir: str | Path, device: str = "auto",
          config: str | Path | TrainConfig | None = None,
          test_dataset: str | Path | None = None, eval_dataset: str | Path | None = None,
          benchmark_mode: bool = False, n_benchmark_splits: int = 3, sample_genes: int | None = None,
          resume: bool = False, overwrite: bool = False, quiet: bool = False, cluster=None,
          **overrides) -> TrainResult:
    """Train a meta-model on a dataset and evaluate it on genes it never saw (see module docstring).

    `overrides` set config keys (e.g. calibration="isotonic", n_folds=3, strategy="single").
    """
    from ..evaluate.report import write_report_html, write_training_summary

    started = time.perf_counter()
    timings = Timings()
    cfg = config if isinstance(config, TrainConfig) else load_config(config, overrides)
    backend = get_backend(device)
    out_dir = Path(out_dir)
    mode = ("research" if test_dataset is not None else "benchmark" if benchmark_mode
            else "testing" if sample_genes else "production")
    fingerprint = {"dataset": str(Path(dataset).resolve()), "config": cfg.to_dict(), "mode": mode,
                   "test_dataset": str(test_dataset), "eval_dataset": str(eval_dataset),
                   "sample_genes": sample_genes, "n_benchmark_splits": n_benchmark_splits if benchmark_mode else None}

    with timings.measure("load"):
        data = load_dataset(dataset, backend)
        test_data = load_dataset(test_dataset, backend) if test_dataset is not None else None
        full_data = load_dataset(eval_dataset, backend) if eval_dataset is not None else None
    if test_data is not None and test_data.feature_names != data.feature_names:
        missing = sorted(set(data.feature_names) - set(test_data.feature_names))
        extra = sorted(set(test_data.feature_names) - set(data.feature_names))
        raise GpumetaError(f"{test_dataset}: its feature columns differ from {dataset} (missing {missing[:5]}, "
                           f"extra {extra[:5]}); build both datasets with the same feature options")
    genes = list(data.genes)
    if len(genes) < 2:
        raise GpumetaError(f"{dataset}: holds {len(genes)} gene(s); gene-aware training needs at least "
                           f"{cfg.n_folds + 1} genes to split")
    fingerprint["dataset_fingerprint"] = data.fingerprint
    _prepare_run_dir(out_dir, fingerprint, resume, overwrite)
    write_text(out_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    with run_log(out_dir / "run.log"), Progress(quiet) as progress:
        if sample_genes:
            if sample_genes < cfg.n_folds + 1:
                raise GpumetaError(f"--sample-genes {sample_genes} is too few for {cfg.n_folds}-fold CV plus a "
                                   "held-out set; use more genes")
            progress.note(f"TESTING MODE: {sample_genes} of {len(genes)} genes; not for production models")
            rng = np.random.default_rng(cfg.seed)
            data = data.select_genes(rng.choice(np.asarray(genes, dtype=object), size=min(sample_genes, len(genes)),
                                                replace=False))
            genes = list(data.genes)
        if len(genes) < cfg.n_folds + 1 and test_data is None:
            raise GpumetaError(f"{dataset}: holds {len(genes)} genes; {cfg.n_folds}-fold CV plus a held-out set "
                               f"needs at least {cfg.n_folds + 2}; add genes or lower n_folds")
        sources = [data] + ([test_data] if test_data is not None else [])
        coordinates = [d.gene_coordinates() for d in sources]
        known = [c for c in coordinates if c is not None]
        groups = gene_groups(np.asarray([g for d in sources for g in d.genes], dtype=object),
                             pd.concat(known) if coordinates[0] is not None else None)
        write_json(out_dir / "run_info.json", _info(data, cfg, mode, None, "running", timings, backend.name))

        if mode == "benchmark":
            result = _benchmark(data, cfg, out_dir, progress, timings, groups, n_benchmark_splits, full_data, cluster)
            trainer = result.trainer
        else:
            splitter = GeneSplitter(groups, cfg.seed)
            if test_data is not None:
                overlap = set(test_data.genes) & set(genes)
                test_genes = sorted(set(test_data.genes) - overlap)
                if not test_genes:
                    raise GpumetaError(f"{test_dataset}: every gene is also in {dataset}; a research test set "
                                       "needs genes the model does not train on")
                if overlap:
                    progress.note(f"{len(overlap)} gene(s) of the test dataset are also training genes and are "
                                  "left out of its evaluation")
                train_genes = genes
            else:
                train_genes, test_genes = splitter.holdout(genes, cfg.test_fraction)
            trainer = _Trainer(data, cfg, out_dir, progress, timings, cluster)
            result = trainer.run(train_genes, test_genes, splitter, test_data, full_data)

        timings.seconds["total"] = time.perf_counter() - started
        result.timings = dict(timings.seconds)
        write_json(out_dir / "run_info.json", _info(data, cfg, mode, trainer, "complete", timings, backend.name))
        write_training_summary(out_dir)
        write_report_html(out_dir)
        progress.note(f"done: {out_dir}/training_summary.txt")
    return result


@dataclass
class _BenchmarkResult(TrainResult):
    trainer: _Trainer | None = None


def _benchmark(data, cfg, out_dir, progress, timings, groups, n_splits, full_data, cluster) -> _BenchmarkResult:
    """Repeated gene holdouts; each split is a full production run under split_XX/; mean ± std on top."""
    if n_splits < 2:
        raise GpumetaError(f"--n-benchmark-splits {n_splits}: a benchmark needs at least 2 splits")
    rows, last, trainer = [], None, None
    genes = list(data.genes)
    for s in range(n_splits):
        split_dir = out_dir / f"split_{s:02d}"
        split_dir.mkdir(exist_ok=True)
        splitter = GeneSplitter(groups, cfg.seed + s)
        train_genes, test_genes = splitter.holdout(genes, cfg.test_fraction)
        trainer = _Trainer(data, cfg, split_dir, progress, timings, cluster, owns_dataset=False)
        last = trainer.run(train_genes, test_genes, splitter, None, full_data)
        headline = last.evaluation[last.evaluation["headline"]]
        rows.append({"split": s, "meta_macro_f1": headline["macro_f1"]["meta"],
                     "base_macro_f1": headline["macro_f1"]["base"], "n_test_genes": len(test_genes)})
    table = pd.DataFrame(rows)
    write_csv(out_dir / "benchmark_splits.csv", table)
    stats = {c: {"mean": float(table[c].mean()), "std": float(table[c].std(ddof=1))}
             for c in ("meta_macro_f1", "base_macro_f1")}
    write_json(out_dir / "benchmark_summary.json", {"n_splits": n_splits, **stats})
    for name in ("splits.json", "meta_evaluation_summary.json", "gene_cv_metrics.csv", "feature_manifest.csv",
                 "base_vs_meta_performance.tsv", "global_excluded_features.txt", "learning_curves.json"):
        if (last.run_dir / name).is_file():
            shutil.copyfile(last.run_dir / name, out_dir / name)
    if not (out_dir / "model").exists():
        with atomic_dir(out_dir / "model") as tmp:
            shutil.copytree(last.run_dir / "model", tmp, dirs_exist_ok=True)
    trainer.run_dir = out_dir
    return _BenchmarkResult(out_dir, last.model, {**last.evaluation, "benchmark": stats}, last.cv_metrics,
                            last.splits, trainer=trainer)
