"""`gpumeta.train`: screen features, split by gene, cross-validate, fit the final model, evaluate, explain.

Modes (docs/ARCHITECTURE.md §6): production (80/20 gene holdout, CV and final model on the 80, evaluation on
the 20), research (`test_dataset`: CV and final on all of the dataset, evaluation on the other one),
benchmark (repeated gene holdouts, mean ± std), testing (`sample_genes`: a quick subset, not for
production). Every metric is computed on genes the model did not train on; splits.json says which.

Resume: each finished fold is written atomically under folds/, the final model under model/; a rerun with
`resume=True` skips what exists when the configuration and dataset are the same. run_info.json says
"running" until the very end, so an interrupted run never looks finished.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import __version__
from ..annotate.recipe import recipe_of_dataset
from ..atomic import atomic_dir, write_csv, write_json, write_text
from ..backend import device_errors, get_backend
from ..calibration import fit_calibrator
from ..dataset import MetaDataset, dataset_shape, load_dataset
from ..errors import GpumetaError, shown
from ..model import SITE_TYPES, EnsembleModel, MetaModel, load_model
from ..progress import Progress, Timings, log, run_log
from ..schema import LABELS
from ..structure import GeneStructure, fit_structure, gene_positions
from .config import TrainConfig, load_config
from .fit import learner_of
from .screening import read_exclude_file, screen_features
from .splits import GeneSplitter, gene_groups
from .strategies import STRATEGIES, fit_model, plan_fold_concurrency, plan_strategy, threads_each

#: Timings key of the seconds spent fitting and predicting with the learners (run_info.json "timings").
FIT_TIMING = "learner"

#: Fewer held-out genes than this, and the summary warns that its figures rest on few genes.
MIN_HELDOUT_GENES = 10


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


@dataclass
class _Fold:
    """One CV fold: the genes it is tested on, trains on, and early-stops on (none when its carved validation
    set is too small, `shortfall` saying why)."""

    k: int
    test: list[str]
    fit: list[str]
    validation: list[str]
    shortfall: str | None


def _median_rounds(records: list[dict]) -> list[int]:
    """Per class, the median of the folds' rounds (at least 1)."""
    return [max(1, round(float(np.median([r["rounds"][label] for r in records])))) for label in LABELS]


def _pooled_rounds(curves: list[dict], sizes: list[int]) -> list[int]:
    """Per class, the round minimising the logloss pooled over the folds' test rows (xgboost.cv's rule)."""
    rounds = []
    for label in LABELS:
        length = min(len(c[label]["validation"]["logloss"]) for c in curves)
        pooled = sum(n * np.asarray(c[label]["validation"]["logloss"][:length]) for c, n in zip(curves, sizes))
        rounds.append(int(np.argmin(pooled)) + 1)
    return rounds


def _f1_at(y_bin: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    called = proba >= threshold
    tp = float((called & y_bin).sum())
    denominator = 2 * tp + float((called & ~y_bin).sum()) + float((~called & y_bin).sum())
    return 2 * tp / denominator if denominator else 0.0


class _Abandoned(Exception):
    """A fold fitted beside one that failed, stopped at its next round (`_Trainer.fit_folds`)."""


class _Trainer:
    """One production run over a dataset (its training genes and its held-out genes).

    The regime (why: issue 9; calibrators and thresholds are fitted on the folds' out-of-fold margins, so
    the final model must produce margins on the same scale):

    - a fold early-stops on validation genes carved from its training genes only when they hold at least
      `min_validation_genes` genes and `min_validation_sites` sites of each type;
    - a fold whose carve-out is smaller trains on all its training genes for fixed rounds per class: the
      median of the early-stopped folds' rounds; when no fold could early-stop, the rounds minimising the
      logloss pooled over every fold's test genes (xgboost.cv's rule: every training gene votes once, so no
      single small gene set decides; the single strategy only, others fall back to the learner's round cap;
      a learner without rounds fits once);
    - the final model trains on ALL training genes, no carve-out, for the median of the folds' rounds per
      class, unscaled: each round adds to the margins, so the same rounds keep the margin scale the
      calibrators were fitted on (a 1/(1 - 1/k) scaling would push margins past it). The multi-instance and
      distributed strategies keep a carve-out for instance weights and early stopping respectively.
      With `final_model: folds` there is no refit: the folds' own models, averaged, are the served model.
    - the final model's calibrated scores on training genes are compared with the out-of-fold ones; a drop
      past `agreement_tolerance` is a warning in run_info.json.
    """

    def __init__(self, dataset: MetaDataset, config: TrainConfig, run_dir: Path, progress: Progress,
                 timings: Timings, strategy: tuple[str, str], cluster=None, owns_dataset: bool = True,
                 warnings: list[str] | None = None, label: str = ""):
        self.dataset, self.config, self.run_dir = dataset, config, run_dir
        self.strategy, self.strategy_reason = strategy  # planned before the dataset was loaded (`train`)
        self.owns_dataset = owns_dataset  # may narrow it to the screened features in place (frees memory)
        self.progress, self.timings, self.cluster = progress, timings, cluster
        self.weights = dataset.weights if config.weight_by_inclusion else None
        self.warnings = [] if warnings is None else warnings
        self.label = label  # "split 01: " in benchmark mode, so warnings say which run they concern
        self.n_features_dataset = len(dataset.feature_names)
        self.learner = learner_of(config)
        self.summary: dict = {}

    def warn(self, message: str) -> None:
        self.warnings.append(self.label + message)
        log.warning(self.label + message)

    def site_counts(self, genes, dataset: MetaDataset | None = None) -> dict[str, int]:
        data = self.dataset if dataset is None else dataset
        y = data.y[data.rows_of(genes)]
        return {t: int((y == LABELS.index(t)).sum()) for t in SITE_TYPES}

    def validation_shortfall(self, genes) -> str | None:
        """Why `genes` are too small a validation set to early-stop on; None when they suffice."""
        cfg = self.config
        sites = self.site_counts(genes)
        if len(genes) >= cfg.min_validation_genes and min(sites.values()) >= cfg.min_validation_sites:
            return None
        return f"{len(genes)} gene(s), {sites['donor']} donor and {sites['acceptor']} acceptor sites"

    def fit(self, train_genes, description: str, rounds: list[int] | None = None, val_genes=(),
            watch_rows: np.ndarray | None = None, nthread: int | None = None, stop: threading.Event | None = None):
        """A model on `train_genes`: early-stopped on `val_genes` (or `watch_rows`), or for fixed `rounds` per
        class while they are only evaluated; on `nthread` threads (default every core); abandoned at the next
        round once `stop` is set (a fold fitted beside one that failed)."""
        config = dataclasses.replace(self.config, booster=dataclasses.replace(
            self.config.booster, rounds=None if rounds is None else list(rounds)))
        val_rows = watch_rows if watch_rows is not None else self.dataset.rows_of(list(val_genes))
        tick = self.progress.task(description, total=(sum(rounds) if rounds else self.learner.max_rounds() * 3))

        def on_round() -> None:
            if stop is not None and stop.is_set():
                raise _Abandoned
            tick()

        with self.timings.measure(FIT_TIMING):
            model = fit_model(self.strategy, self.dataset, self.dataset.rows_of(train_genes), val_rows,
                              self.features, self.logit_features, config, self.weights, on_round=on_round,
                              cluster=self.cluster, nthread=nthread,
                              cache_dir=self.run_dir / "instances_cache" / description.split("/")[0].replace(" ", "_"))
        tick.done()
        failed = model.params.get("failed_instances")
        if failed:
            self.warn(f"PARTIAL ENSEMBLE ({description}): {len(failed)} of {model.params['n_instances']} instances "
                      "failed and were left out because --allow-partial-ensemble was given ("
                      + "; ".join(f"instance {i}: {why}" for i, why in failed.items())
                      + f"); {model.params['genes_lost']} training gene(s) are in no remaining instance")
        if isinstance(model, MetaModel):  # an ensemble's training genes are those of its instances
            model.training_genes = sorted(set(train_genes) | set(val_genes))
        return model

    def holdout_for_strategy(self, splitter: GeneSplitter, genes: list[str], salt: int) -> tuple[list, list]:
        """(fit genes, validation genes) of a fixed-rounds fit: all genes for the single strategy; a carve-out
        for multi-instance (its instance weights need genes no instance saw) and distributed (it early-stops)."""
        if self.strategy == "single":
            return sorted(genes), []
        return splitter.holdout(genes, self.config.validation_fraction, salt=salt)

    def margins(self, model, genes) -> tuple[np.ndarray, np.ndarray]:
        """(rows, margins) of these genes' rows in row order, a block at a time (`MetaDataset.blocks`: sliced
        from the matrix, or read from Parquet when the driver holds none), so no copy of all of them is made."""
        with self.timings.measure(FIT_TIMING):
            return self.dataset.map_blocks(genes, model.margins)

    def plan_folds(self, splitter: GeneSplitter, train_genes: list[str]) -> list[_Fold]:
        rows_per_gene = self.dataset.rows_per_gene()
        plans = []
        for k, test_genes in enumerate(splitter.kfold(train_genes, self.config.n_folds, rows_per_gene), start=1):
            fold_train = sorted(set(train_genes) - set(test_genes))
            fit_genes, val_genes = splitter.holdout(fold_train, self.config.validation_fraction, salt=100 + k)
            shortfall = self.validation_shortfall(val_genes)
            if shortfall is None:
                plans.append(_Fold(k, test_genes, fit_genes, val_genes, None))
            else:
                fit_genes, val_genes = self.holdout_for_strategy(splitter, fold_train, salt=100 + k)
                plans.append(_Fold(k, test_genes, fit_genes, val_genes, shortfall))
        return plans

    def finish_fold(self, fold: _Fold, model, rule: str, started: float) -> None:
        """Score the fold's test genes and write folds/fold_k atomically."""
        from ..evaluate.importance import fold_importance
        from ..evaluate.metrics import fold_metrics

        rows, margins = self.margins(model, fold.test)
        meta = model.calibrate_margins(margins)  # calibrators are "none" here: plain sigmoid
        metrics = fold_metrics(fold.k, self.dataset.y[rows], self.dataset.base_proba[rows], meta,
                               self.dataset.gene_ids[rows], None if self.weights is None else self.weights[rows])
        curves = model.evals_result
        rounds = {label: int(curves[label]["best_iteration"]) + 1 for label in LABELS} if LABELS[0] in curves \
            else {label: None for label in LABELS}  # an ensemble keeps per-instance curves
        loss = {label: float(curves[label]["validation"]["logloss"][rounds[label] - 1])
                for label in LABELS if rounds[label] and "validation" in curves.get(label, {})}
        with atomic_dir(self.run_dir / "folds" / f"fold_{fold.k}") as tmp:
            np.save(tmp / "margins.npy", margins)
            if self.config.final_model == "folds":  # a member of the served model
                model.save(tmp / "model")
            write_json(tmp / "fold.json", {"metrics": metrics, "evals_result": curves, "rounds": rounds,
                                           "rounds_rule": rule, "validation_logloss": loss,
                                           "importance": fold_importance(model)})
        log.info(f"{self.label}fold {fold.k} done in {time.perf_counter() - started:.1f}s: rounds "
                 f"{_pairs(rounds)} ({rule}); validation logloss at those rounds {_pairs(loss, '.4f')}; "
                 f"test macro F1 base {metrics['base_macro_f1']:.4f} -> meta {metrics['test_macro_f1']:.4f}, "
                 f"donor F1 {metrics['donor_f1']:.4f}, acceptor F1 {metrics['acceptor_f1']:.4f}, "
                 f"delta FP {metrics['delta_fp']:+g}, delta FN {metrics['delta_fn']:+g}")

    def start_fold(self, fold: _Fold, n_folds: int, rule: str) -> float:
        log.info(f"{self.label}fold {fold.k}/{n_folds} starts: {len(fold.fit)} training genes, "
                 f"{len(fold.validation)} validation genes, {len(fold.test)} test genes; {rule}")
        return time.perf_counter()

    def each_fold(self, folds: list[_Fold], job: Callable[[_Fold, int, threading.Event], None]) -> None:
        """`job(fold, nthread, stop)` for each of `folds`, `self.fold_slots` at a time in threads of this process
        sharing the cores out (`nthread` each). When one fails, `stop` is set so the others stop at their next
        round (`fit`), what they finished stays saved (--resume), and its error is raised."""
        slots = min(self.fold_slots, len(folds))
        nthread = threads_each(self.dataset.backend.n_threads, slots)
        stop = threading.Event()
        if slots <= 1:
            for fold in folds:
                job(fold, nthread, stop)
            return
        with ThreadPoolExecutor(slots, thread_name_prefix="gpumeta-fold") as pool:
            futures = [pool.submit(job, fold, nthread, stop) for fold in folds]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:  # a fold's error, or an interrupt: the others stop at their next round
                stop.set()
                for future in futures:
                    future.cancel()
                raise

    def fit_folds(self, folds: list[_Fold], n_folds: int, rule: Callable[[_Fold], str], rounds=None,
                  spent: dict[int, float] | None = None, watch_test: bool = False) -> None:
        """Fit and finish (`finish_fold`) each of `folds` not done yet (`each_fold`): early-stopped on its
        validation genes, or for fixed `rounds` while they (or, `watch_test`, its test genes) are watched;
        `rule(fold)` says how its rounds were chosen, `spent` the seconds it already took (its probe)."""
        def job(fold: _Fold, nthread: int, stop: threading.Event) -> None:
            why = rule(fold)
            started = self.start_fold(fold, n_folds, why) - (spent or {}).get(fold.k, 0.0)
            model = self.fit(fold.fit, f"fold {fold.k}/{n_folds}", rounds, val_genes=fold.validation,
                             watch_rows=self.dataset.rows_of(fold.test) if watch_test else None,
                             nthread=nthread, stop=stop)
            self.finish_fold(fold, model, why, started)

        self.each_fold([fold for fold in folds if not self.fold_done(fold)], job)

    def cross_validate(self, splitter: GeneSplitter, train_genes: list[str]) -> tuple[pd.DataFrame, np.ndarray,
                                                                                     np.ndarray, list]:
        """k-fold gene CV on the training genes; returns (fold metrics, OOF rows, OOF margins, curves)."""
        plans = self.plan_folds(splitter, train_genes)
        self.splits["folds"] = [{"fold": f.k, "train": f.fit, "validation": f.validation, "test": f.test,
                                 "early_stopped": f.shortfall is None} for f in plans]
        self.fold_slots, why = plan_fold_concurrency(
            self.config.parallel_folds, self.strategy, self.dataset.backend, len(plans),
            max(len(self.dataset.rows_of(f.fit)) for f in plans), len(self.features), self.config.booster.max_bin)
        self.fold_concurrency = {"folds_at_once": self.fold_slots, "reason": why}
        log.info(f"{self.label}CV folds fitted {self.fold_slots} at a time ({why})")
        stopped = [f for f in plans if f.shortfall is None]
        fallback = [f for f in plans if f.shortfall is not None]
        self.fit_folds(stopped, len(plans), lambda fold: f"early-stopped on {len(fold.validation)} validation genes "
                                                          f"({_pairs(self.site_counts(fold.validation))} sites)")
        if fallback:
            cfg = self.config
            self.warn(f"validation sets too small to early-stop on (fewer than {cfg.min_validation_genes} genes or "
                      f"{cfg.min_validation_sites} sites of a type) in " + "; ".join(
                          f"fold {f.k} ({f.shortfall})" for f in fallback) + f": {self.fallback_rule(stopped)}")
        if fallback and stopped:
            rounds = _median_rounds([self.read_fold(f) for f in stopped])
            rule = f"fixed {_pairs(dict(zip(LABELS, rounds)))} rounds: the median of the early-stopped folds"
            self.fit_folds(fallback, len(plans), lambda fold: rule, rounds)
        elif fallback:
            self.pooled_folds(fallback, len(plans))
        records, oof_rows, oof_margins, curves = [], [], [], []
        self.fold_rounds, self.fold_gains = {}, {}
        for fold in plans:
            saved = self.read_fold(fold)
            if "importance" in saved:  # folds written before per-fold gains were kept have none
                self.fold_gains[f"fold_{fold.k}"] = saved["importance"]
            records.append(saved["metrics"])
            curves.append((f"fold_{fold.k}", saved["evals_result"]))
            self.fold_rounds[f"fold_{fold.k}"] = {"rounds": saved["rounds"], "rule": saved["rounds_rule"]}
            oof_rows.append(self.dataset.rows_of(fold.test))
            oof_margins.append(np.load(self.run_dir / "folds" / f"fold_{fold.k}" / "margins.npy"))
        return pd.DataFrame(records), np.concatenate(oof_rows), np.concatenate(oof_margins), curves

    def fallback_rule(self, stopped: list[_Fold]) -> str:
        if stopped:
            return "those folds trained on all their training genes for the median rounds of the early-stopped folds"
        if self.strategy == "single":
            return ("every fold trained on all its training genes, for the rounds per class that minimise the "
                    "logloss pooled over all folds' test genes")
        if self.learner.max_rounds() == 1:
            return f"every fold trained on all its training genes ({self.learner.name} has no rounds to choose)"
        return (f"every fold trained for the round cap ({self.learner.max_rounds()} rounds): the "
                f"{self.strategy} strategy cannot report per-round test losses")

    def fold_done(self, fold: _Fold) -> bool:
        return (self.run_dir / "folds" / f"fold_{fold.k}" / "fold.json").is_file()

    def read_fold(self, fold: _Fold) -> dict:
        return json.loads((self.run_dir / "folds" / f"fold_{fold.k}" / "fold.json").read_text())

    def pooled_folds(self, folds: list[_Fold], n_folds: int) -> None:
        """Folds with no usable validation set, when no fold has one (see the class docstring).

        A probe per fold trains on all its training genes while its test genes are watched, until their
        loss has not improved for the learner's early-stopping patience (a bound on cost); per class, the
        round minimising the loss pooled over all folds' test rows, within the rounds every probe's curve
        reached, is chosen (xgboost.cv's rule), and every fold is refitted for those rounds: not every
        learner can cut a fitted model at a round, and a refit with the same seed repeats the probe's first
        rounds. Probes are kept (folds/probe_k) until then, so --resume refits only what is missing. A
        learner without rounds fits each fold once.
        """
        if self.strategy != "single" or self.learner.max_rounds() == 1:
            cap = [self.learner.max_rounds()] * len(LABELS)
            rule = f"fixed {cap[0]} rounds: the learner's round cap" if cap[0] > 1 else \
                f"one fit: {self.learner.name} has no rounds"
            self.fit_folds(folds, n_folds, lambda fold: rule, cap)
            return
        spent: dict[int, float] = {}

        def probe(fold: _Fold, nthread: int, stop: threading.Event) -> None:
            probe_dir = self.run_dir / "folds" / f"probe_{fold.k}"
            if (probe_dir / "manifest.json").is_file():
                return
            started = time.perf_counter()
            log.info(f"{self.label}fold {fold.k}/{n_folds} probe: {len(fold.fit)} training genes, its "
                     f"{len(fold.test)} test genes watched for the pooled choice of rounds")
            self.fit(fold.fit, f"fold {fold.k}/{n_folds} probe", watch_rows=self.dataset.rows_of(fold.test),
                     nthread=nthread, stop=stop).save(probe_dir)
            spent[fold.k] = time.perf_counter() - started  # the fold's log line counts its probe too

        if not all(self.fold_done(fold) for fold in folds):
            self.each_fold(folds, probe)
            probes = [load_model(self.run_dir / "folds" / f"probe_{fold.k}", self.dataset.backend) for fold in folds]
            rounds = _pooled_rounds([m.evals_result for m in probes],
                                    [len(self.dataset.rows_of(f.test)) for f in folds])
            rule = (f"fixed {_pairs(dict(zip(LABELS, rounds)))} rounds: the minimum of the logloss pooled over "
                    f"the {len(folds)} folds' test genes")
            # Each refit watches its test genes, as its probe did: its curves are the probe's.
            self.fit_folds(folds, n_folds, lambda fold: rule, rounds, spent=spent, watch_test=True)
        for fold in folds:  # kept until every refit is saved, so --resume pools the same rounds
            shutil.rmtree(self.run_dir / "folds" / f"probe_{fold.k}", ignore_errors=True)

    def final_model(self, splitter: GeneSplitter, train_genes: list[str]):
        """The final model, in the folds' regime (see the class docstring)."""
        known = [r["rounds"] for r in self.fold_rounds.values() if None not in r["rounds"].values()]
        if known:
            rounds = _median_rounds([{"rounds": r} for r in known])
            rule = (f"median of the {len(known)} CV folds' rounds per class ("
                    + "; ".join(f"{label} {sorted(r[label] for r in known)}" for label in LABELS)
                    + "), unscaled so the margins keep the scale the calibrators were fitted on")
        else:
            rounds = [self.learner.max_rounds()] * len(LABELS)
            rule = "the learner's round cap (the folds' ensembles report no rounds of their own)"
        fit_genes, val_genes = self.holdout_for_strategy(splitter, train_genes, salt=99)
        self.splits["final"] = {"train": fit_genes, "validation": val_genes}
        self.final_rounds = {"rounds": dict(zip(LABELS, rounds)), "rule": rule}
        log.info(f"{self.label}final model starts: {len(fit_genes)} training genes, {len(val_genes)} validation "
                 f"genes; rounds {_pairs(self.final_rounds['rounds'])} ({rule})")
        started = time.perf_counter()
        model = self.fit(fit_genes, "final model", rounds, val_genes=val_genes)
        model.params = {**model.params, "rounds": self.final_rounds["rounds"], "rounds_rule": rule}
        log.info(f"{self.label}final model done in {time.perf_counter() - started:.1f}s")
        return model

    def fold_ensemble(self, train_genes: list[str]) -> EnsembleModel:
        """The served model of final_model "folds": the CV folds' models, margins averaged with equal weights.

        No refit: the calibration and thresholds come from these very models' out-of-fold margins, where a
        refit trains on more genes than any of them. An option, not the default: over five fold draws at every
        nucleotide it makes fewer errors than the refit on chr22 and more on the synthetic genome
        (docs/STUDY.md, session 7), and it predicts and explains with k models instead of one.
        """
        folds = self.splits["folds"]
        members = [load_model(self.run_dir / "folds" / f"fold_{f['fold']}" / "model", self.dataset.backend)
                   for f in folds]
        self.splits["final"] = {"train": sorted(train_genes), "validation": []}
        self.final_rounds = {"rounds": None, "rule": f"no refit: the {len(members)} CV folds' models averaged"}
        log.info(f"{self.label}final model: the {len(members)} CV folds' models averaged (final_model folds)")
        return EnsembleModel(instances=members, weights=[1.0] * len(members),
                             params={"rounds_rule": self.final_rounds["rule"]})

    def check_agreement(self, model, oof_rows: np.ndarray, oof_proba: np.ndarray) -> dict:
        """The final model's calibrated scores on training genes against the out-of-fold ones, per type."""
        tolerance = self.config.agreement_tolerance
        genes = self.dataset.gene_names[np.unique(self.dataset.gene_codes[oof_rows])]
        rows, margins = self.margins(model, genes)
        final_proba = model.calibrate_margins(margins[np.searchsorted(rows, oof_rows)],
                                              self.dataset.base_proba[oof_rows])
        y = self.dataset.y[oof_rows]
        figures = {}
        for t in SITE_TYPES:
            k = LABELS.index(t)
            sites = y == k
            if not sites.any():
                continue
            f = figures[t] = {
                "oof_mean_proba_at_sites": float(oof_proba[sites, k].mean()),
                "final_mean_proba_at_sites": float(final_proba[sites, k].mean()),
                "oof_f1_at_threshold": _f1_at(sites, oof_proba[:, k], model.thresholds[t]),
                "final_f1_at_threshold": _f1_at(sites, final_proba[:, k], model.thresholds[t]),
            }
            log.info(f"{self.label}final vs CV, {t}: mean calibrated probability at true training sites "
                     f"{f['final_mean_proba_at_sites']:.4f} (out-of-fold {f['oof_mean_proba_at_sites']:.4f}); "
                     f"F1 at the tuned threshold {model.thresholds[t]:.4f}: {f['final_f1_at_threshold']:.4f} "
                     f"(out-of-fold {f['oof_f1_at_threshold']:.4f})")
            if (f["final_mean_proba_at_sites"] < f["oof_mean_proba_at_sites"] - tolerance
                    or f["final_f1_at_threshold"] < f["oof_f1_at_threshold"] - tolerance):
                self.warn(f"the final model disagrees with the CV models on {t} sites: on its own training genes "
                          f"its mean calibrated {t} probability at true sites is "
                          f"{f['final_mean_proba_at_sites']:.3f} (out-of-fold {f['oof_mean_proba_at_sites']:.3f}) "
                          f"and its F1 at the tuned threshold {f['final_f1_at_threshold']:.3f} (out-of-fold "
                          f"{f['oof_f1_at_threshold']:.3f}), more than {tolerance} below: its calibration and "
                          "threshold may not transfer")
        return figures

    def model_metadata(self, model) -> dict:
        """RUN/model_metadata.json, where the original's users look for what a model is (docs/METASPLICEAI.md)."""
        return {"model_dir": "model", "kind": model.kind, "algorithm": model.params.get("algorithm", "xgboost"),
                "model_type": ("three one-vs-rest boosters (neither, donor, acceptor), per-class calibration"
                               + ("; the CV folds' models averaged" if self.config.final_model == "folds" else "")),
                "evaluation_method": "gene-aware cross-validation on training genes; figures on held-out genes",
                "data_leakage_free": True, "cv_folds": self.config.n_folds, "final_model": self.config.final_model,
                "calibration": self.config.calibration,
                "base_blend": model.base_blend,
                "thresholds": model.thresholds, "n_features": len(model.feature_names),
                "n_training_genes": len(model.training_genes), "strategy": self.strategy,
                "gpumeta_version": __version__}

    def check_heldout_size(self, target: MetaDataset, test_genes: list[str]) -> None:
        sites = self.site_counts(test_genes, target)
        few = [f"{n} {t}" for t, n in sites.items() if n < self.config.min_validation_sites]
        if len(test_genes) < MIN_HELDOUT_GENES or few:
            self.warn(f"the held-out set is small: {len(test_genes)} gene(s), {sites['donor']} donor and "
                      f"{sites['acceptor']} acceptor sites (fewer than {MIN_HELDOUT_GENES} genes or "
                      f"{self.config.min_validation_sites} sites of a type): its figures rest on few sites and "
                      "can swing with one gene")

    def fit_gene_structure(self, oof_rows: np.ndarray, oof_proba: np.ndarray, thresholds: dict,
                           base_thresholds: dict) -> dict[str, GeneStructure]:
        """Gene-structure decoding (gpumeta.structure) of the meta-model's and the base model's probabilities,
        each fitted on the out-of-fold rows (the violation and cuts with the fewest FP+FN); {} when the rows
        cannot be placed in their genes (no position column, or a nucleotide given twice)."""
        genes = self.dataset.gene_codes[oof_rows]
        positions, why_not = gene_positions(genes, self.dataset.meta.iloc[oof_rows])
        if positions is None:
            log.warning(f"{self.label}gene structure: not fitted, {why_not} ({self.dataset.path})")
            return {}
        y = self.dataset.y[oof_rows]
        donor, acceptor = LABELS.index("donor"), LABELS.index("acceptor")
        fitted = {}
        for who, proba, tuned in (("meta", oof_proba, thresholds),
                                  ("base", self.dataset.base_proba[oof_rows], base_thresholds)):
            fitted[who], errors = fit_structure(genes, positions, y == donor, y == acceptor, proba[:, donor],
                                                proba[:, acceptor], (tuned["donor"], tuned["acceptor"]))
            log.info(f"{self.label}gene structure ({who}): violation {fitted[who].violation:g}, posterior cuts "
                     f"donor {fitted[who].cuts[0]:g}, acceptor {fitted[who].cuts[1]:g}; {errors:,} FP+FN on the "
                     "out-of-fold rows")
        return fitted

    def run(self, train_genes: list[str], test_genes: list[str], splitter: GeneSplitter,
            test_dataset: MetaDataset | None = None, eval_dataset: MetaDataset | None = None) -> TrainResult:
        from ..evaluate.heldout import evaluate_heldout
        from ..evaluate.importance import analyse_feature_importance
        from ..evaluate.metrics import best_f1_threshold
        from ..evaluate.plots import figure_formats
        from ..evaluate.report import COMBINATION_RULE, ENSEMBLE_FILE, ensemble_table

        cfg = self.config
        self.splits = {"seed": cfg.seed, "train": train_genes, "test": test_genes,
                       "test_dataset": str(test_dataset.path) if test_dataset is not None else None}
        log.info(f"{self.label}{len(train_genes)} training genes, {len(test_genes)} held-out genes")
        with self.timings.measure("screening"):
            screening = screen_features(self.dataset, train_genes, cfg.screening, cfg.seed)
        self.features, self.logit_features = screening.features, screening.logit_features
        log.info(f"{self.label}screening: {len(self.features)} of {self.n_features_dataset} features used, "
                 f"{len(screening.excluded)} excluded ({shown(screening.excluded)})")
        write_csv(self.run_dir / "feature_manifest.csv", screening.table)
        write_text(self.run_dir / "global_excluded_features.txt",
                   "".join(f"{f}\t{why}\n" for f, why in screening.excluded.items()))
        self.dataset = self.dataset.with_features(self.features, in_place=self.owns_dataset)

        with self.timings.measure("cross-validation"):
            cv, oof_rows, oof_margins, curves = self.cross_validate(splitter, train_genes)
        write_csv(self.run_dir / "gene_cv_metrics.csv", cv)

        # One calibration per class and per-type thresholds, all from out-of-fold predictions of training genes.
        y_oof = self.dataset.y[oof_rows]
        calibrators = [fit_calibrator(oof_margins[:, k], y_oof == k, cfg.calibration) for k in range(len(LABELS))]
        oof_weights = None if self.weights is None else self.weights[oof_rows]
        probe = MetaModel(learners=[], feature_names=self.features, logit_features=[], calibrators=calibrators,
                          base_blend=cfg.base_blend)
        oof_proba = probe.calibrate_margins(oof_margins, self.dataset.base_proba[oof_rows])
        thresholds, base_thresholds = {}, {}
        for t in SITE_TYPES:
            k = LABELS.index(t)
            thresholds[t] = best_f1_threshold(y_oof == k, oof_proba[:, k], oof_weights)
            base_thresholds[t] = best_f1_threshold(y_oof == k, self.dataset.base_proba[oof_rows, k], oof_weights)
        log.info(f"{self.label}calibration {cfg.calibration} on {len(oof_rows):,} out-of-fold rows; tuned "
                 f"thresholds meta {_pairs(thresholds, '.4f')}, base {_pairs(base_thresholds, '.4f')}")

        model_dir = self.run_dir / "model"
        if (model_dir / "manifest.json").is_file():
            model = load_model(model_dir, self.dataset.backend)
            fit_genes, val_genes = self.holdout_for_strategy(splitter, train_genes, salt=99)
            self.splits["final"] = {"train": fit_genes, "validation": val_genes}
            self.final_rounds = {"rounds": model.params.get("rounds"), "rule": model.params.get("rounds_rule")}
        else:
            with self.timings.measure("final model"):
                model = self.final_model(splitter, train_genes) if cfg.final_model == "refit" \
                    else self.fold_ensemble(train_genes)
            model.calibrators, model.thresholds, model.base_thresholds = calibrators, thresholds, base_thresholds
            model.base_blend = cfg.base_blend
            if cfg.gene_structure:
                with self.timings.measure("gene structure"):
                    model.gene_structure = self.fit_gene_structure(oof_rows, oof_proba, thresholds, base_thresholds)
            model.dataset_fingerprint = self.dataset.fingerprint
            # The build recipe, so `gpumeta annotate` rebuilds exactly these features for new regions.
            model.recipe = recipe_of_dataset(self.dataset.path)
            model.params = {**model.params, **_learner_params(cfg), "strategy": self.strategy,
                            "calibration": cfg.calibration, "seed": cfg.seed}
            model.save(model_dir)
        write_json(self.run_dir / "model_metadata.json", self.model_metadata(model))
        ensemble = ensemble_table(model_dir)
        if ensemble is not None:  # the original's per-instance table; the summary explains it in words
            write_csv(self.run_dir / ENSEMBLE_FILE, ensemble)
            log.info(f"{self.label}ensemble of {len(ensemble)} instances (" + "; ".join(
                f"{r.n_genes} genes, skill {r.validation_skill:.4f}" for r in ensemble.itertuples())
                + f"); combined as {COMBINATION_RULE}")
        self.agreement = self.check_agreement(model, oof_rows, oof_proba)
        curves.append(("final", model.evals_result))
        write_json(self.run_dir / "learning_curves.json", dict(curves))
        write_json(self.run_dir / "splits.json", self.splits)
        # One gene per line: `gpumeta evaluate --genes-file RUN/test_genes.txt` re-scores exactly these genes.
        write_text(self.run_dir / "test_genes.txt", "".join(f"{g}\n" for g in test_genes))

        target = test_dataset if test_dataset is not None else self.dataset
        self.check_heldout_size(target, test_genes)
        with self.timings.measure("evaluation"), figure_formats(cfg.figure_formats):
            def importance() -> None:  # computed while the evaluation's figures are drawn
                analyse_feature_importance(model, target, self.run_dir, self.fold_gains, genes=test_genes,
                                           max_rows=cfg.importance_rows, max_features=cfg.importance_features,
                                           seed=cfg.seed)

            evaluation = evaluate_heldout(model, target, self.run_dir, genes=test_genes, full_dataset=eval_dataset,
                                          shap_genes=cfg.shap_genes, skip_shap=cfg.skip_shap,
                                          minimal=cfg.minimal_diagnostics, seed=cfg.seed, curves=curves,
                                          max_shap_rows=cfg.max_shap_rows,
                                          meanwhile=None if cfg.skip_feature_importance or cfg.minimal_diagnostics
                                          else importance)
        headline = evaluation[evaluation["headline"]]
        log.info(f"{self.label}held-out ({evaluation['headline']}, {evaluation['n_test_genes']} genes): macro F1 "
                 f"base {headline['macro_f1']['base']:.4f} -> meta {headline['macro_f1']['meta']:.4f}")
        self.cv = cv
        return TrainResult(self.run_dir, model, evaluation, cv, self.splits)


def _learner_params(cfg: TrainConfig) -> dict:
    """The algorithm and every parameter it trained with (its defaults included), for run_info and the model."""
    learner = learner_of(cfg)
    return {"algorithm": learner.name, "params": learner.get_params()}


def _pairs(values: dict, fmt: str = "") -> str:
    """"donor 40, acceptor 38" from {"donor": 40, "acceptor": 38}."""
    return ", ".join(f"{k} {v:{fmt}}" if v is not None else f"{k} -" for k, v in values.items())


def _info(dataset: MetaDataset, cfg: TrainConfig, mode: str, trainer: _Trainer | None, status: str,
          timings: Timings, device: str, extra: dict | None = None) -> dict:
    info = {
        "gpumeta_version": __version__, "status": status, "mode": mode, "device": device,
        "device_reason": dataset.backend.reason,
        "dataset": str(dataset.path), "dataset_fingerprint": dataset.fingerprint,
        "n_genes": len(dataset.genes), "n_rows": dataset.n_rows, "rows_are_sampled": dataset.is_sampled,
        "seed": cfg.seed, "calibration": cfg.calibration, "base_blend": cfg.base_blend, **_learner_params(cfg),
        "timings": {k: round(v, 3) for k, v in timings.seconds.items()},
    }
    if trainer is not None:
        info["warnings"] = list(trainer.warnings)
    if trainer is not None and hasattr(trainer, "features"):
        info.update({
            "n_features": len(trainer.features), "n_features_dataset": trainer.n_features_dataset,
            "n_features_used": len(trainer.features), "features_used": trainer.features,
            "features_excluded": dict(
                pd.read_csv(trainer.run_dir / "feature_manifest.csv").query("status == 'excluded'")
                [["feature", "reason"]].itertuples(index=False)),
            "strategy": getattr(trainer, "strategy", None),
            "strategy_reason": getattr(trainer, "strategy_reason", None),
            "fold_concurrency": getattr(trainer, "fold_concurrency", None),
            "test_genes_file": "test_genes.txt",
            "fold_rounds": getattr(trainer, "fold_rounds", None),
            "final_rounds": getattr(trainer, "final_rounds", None),
            "final_vs_cv": getattr(trainer, "agreement", None),
            "artifacts": sorted(str(p.relative_to(trainer.run_dir)) for p in trainer.run_dir.rglob("*")
                                if p.is_file() and not p.name.startswith(".") and "folds" not in p.parts),
        })
    info.update(extra or {})
    return info


def _check_arguments(cfg: TrainConfig, benchmark_mode: bool, n_benchmark_splits: int, sample_genes: int | None,
                     cluster) -> None:
    """Everything checkable before a dataset is read (so a bad call creates nothing)."""
    if sample_genes is not None and sample_genes < cfg.n_folds + 2:
        raise GpumetaError(f"--sample-genes {sample_genes}: testing mode needs at least {cfg.n_folds + 2} genes "
                           f"({cfg.n_folds}-fold CV plus a held-out set); give more, or leave it out")
    if benchmark_mode and n_benchmark_splits < 2:
        raise GpumetaError(f"--n-benchmark-splits {n_benchmark_splits}: a benchmark needs at least 2 splits")
    if cfg.strategy not in STRATEGIES:
        raise GpumetaError(f"unknown strategy {cfg.strategy!r}: use one of {', '.join(STRATEGIES)}")
    if cfg.strategy == "distributed" and cluster is None:
        raise GpumetaError("--strategy distributed needs a dask cluster: add --cluster local or "
                           "--scheduler-address tcp://HOST:PORT")
    if cfg.screening.exclude_file is not None:
        read_exclude_file(cfg.screening.exclude_file)




def train(dataset: str | Path, out_dir: str | Path, device: str = "auto",
          config: str | Path | TrainConfig | None = None,
          test_dataset: str | Path | None = None, eval_dataset: str | Path | None = None,
          benchmark_mode: bool = False, n_benchmark_splits: int = 3, sample_genes: int | None = None,
          resume: bool = False, overwrite: bool = False, quiet: bool = False, cluster=None,
          **overrides) -> TrainResult:
    """Train a meta-model on a dataset and evaluate it on genes it never saw (see module docstring).

    `overrides` set config keys (e.g. calibration="isotonic", n_folds=3, strategy="single"). Every input is
    checked before the run directory is touched: a call that fails validation creates nothing.
    """
    from ..evaluate.drawing import drawing
    from ..evaluate.report import write_report_html, write_training_summary

    started = time.perf_counter()
    timings = Timings()
    cfg = config if isinstance(config, TrainConfig) else load_config(config, overrides)
    _check_arguments(cfg, benchmark_mode, n_benchmark_splits, sample_genes, cluster)
    backend = get_backend(device)
    out_dir = Path(out_dir)
    mode = ("research" if test_dataset is not None else "benchmark" if benchmark_mode
            else "testing" if sample_genes is not None else "production")
    fingerprint = {"dataset": str(Path(dataset).resolve()), "config": cfg.recipe(), "mode": mode,
                   "test_dataset": str(test_dataset), "eval_dataset": str(eval_dataset),
                   "sample_genes": sample_genes, "n_benchmark_splits": n_benchmark_splits if benchmark_mode else None}

    # The strategy is chosen from the Parquet footers before any matrix is read: multi-instance tasks read
    # their own genes from Parquet, so its driver loads none and every later step that reads features
    # (screening, out-of-fold margins, evaluation, SHAP) reads blocks of genes; a dataset larger than one
    # device, or than this host, then trains. The other strategies fit from the matrix in memory.
    shape = dataset_shape(dataset)
    strategy = plan_strategy(cfg.strategy, shape, backend, cfg, cluster,
                             train_share=1.0 if test_dataset is not None else None)
    if cfg.final_model == "folds" and strategy[0] == "multi-instance":
        raise GpumetaError(f"final_model folds serves the CV folds' models, but the multi-instance strategy's "
                           f"folds are ensembles already ({strategy[1]}): use final_model refit, or another strategy")
    with_matrix = strategy[0] != "multi-instance"
    plan = {"strategy": strategy[0], "strategy_reason": strategy[1], "matrix_in_memory": with_matrix,
            "planned_from": {"n_rows": shape.n_rows, "n_features": shape.n_features}}
    with timings.measure("load"):
        data = load_dataset(dataset, backend, with_matrix=with_matrix)
        test_data = load_dataset(test_dataset, backend, with_matrix=with_matrix) if test_dataset is not None else None
        full_data = load_dataset(eval_dataset, backend, with_matrix=with_matrix) if eval_dataset is not None else None
    if test_data is not None and test_data.feature_names != data.feature_names:
        missing = sorted(set(data.feature_names) - set(test_data.feature_names))
        extra = sorted(set(test_data.feature_names) - set(data.feature_names))
        raise GpumetaError(f"{test_dataset}: its feature columns differ from {dataset} (missing {missing[:5]}, "
                           f"extra {extra[:5]}); build both datasets with the same feature options")
    genes = list(data.genes)
    n_dataset_genes = len(genes)
    if len(genes) < 2:
        raise GpumetaError(f"{dataset}: holds {len(genes)} gene(s); gene-aware training needs at least "
                           f"{cfg.n_folds + 1} genes to split")
    if sample_genes is not None:
        if sample_genes < len(genes):
            rng = np.random.default_rng(cfg.seed)
            data = data.select_genes(rng.choice(np.asarray(genes, dtype=object), size=sample_genes, replace=False))
        genes = list(data.genes)
    if len(genes) < cfg.n_folds + 2 and test_data is None:
        raise GpumetaError(f"{dataset}: holds {len(genes)} genes; {cfg.n_folds}-fold CV plus a held-out set "
                           f"needs at least {cfg.n_folds + 2}; add genes or lower n_folds")
    if test_data is not None:
        overlap = set(test_data.genes) & set(genes)
        if not set(test_data.genes) - overlap:
            raise GpumetaError(f"{test_dataset}: every gene is also in {dataset}; a research test set "
                               "needs genes the model does not train on")
    fingerprint["dataset_fingerprint"] = data.fingerprint
    _prepare_run_dir(out_dir, fingerprint, resume, overwrite)
    write_text(out_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    # Figure workers start now, so they have imported matplotlib before the first figure (drawing.py).
    with run_log(out_dir / "run.log"), Progress(quiet) as progress, device_errors("training"), \
            drawing(0 if cfg.minimal_diagnostics else cfg.figure_workers):
        log.info(f"gpumeta {__version__} train, {mode} mode{' (resumed)' if resume else ''}: {dataset} "
                 f"({n_dataset_genes} genes, {data.n_rows:,} rows, {len(data.feature_names)} features, "
                 f"{'sampled rows' if data.is_sampled else 'every nucleotide'}); device "
                 f"{backend.reason}; seed {cfg.seed}, {cfg.n_folds} folds, calibration "
                 f"{cfg.calibration}; loaded in {timings.seconds['load']:.1f}s")
        log.info(f"strategy {strategy[0]} ({strategy[1]}), planned from the Parquet footers ({shape.n_rows:,} rows "
                 f"x {shape.n_features} features) before loading: " + (
                     "the matrix is in memory" if with_matrix else "no matrix loaded; each instance reads its genes "
                     "from Parquet, and screening, margins, evaluation and SHAP read blocks of genes"))
        progress.note(f"strategy: {strategy[0]} ({strategy[1]})")
        if sample_genes is not None:
            progress.note(f"TESTING MODE: {len(genes)} of {n_dataset_genes} genes; not for production models")
        sources = [data] + ([test_data] if test_data is not None else [])
        coordinates = [d.gene_coordinates() for d in sources]
        known = [c for c in coordinates if c is not None]
        groups = gene_groups(np.asarray([g for d in sources for g in d.genes], dtype=object),
                             pd.concat(known) if coordinates[0] is not None else None)
        write_json(out_dir / "run_info.json", _info(data, cfg, mode, None, "running", timings, backend.name, plan))

        if mode == "benchmark":
            result = _benchmark(data, cfg, out_dir, progress, timings, groups, n_benchmark_splits, full_data,
                                strategy, cluster)
            trainer = result.trainer
        else:
            splitter = GeneSplitter(groups, cfg.seed)
            if test_data is not None:
                overlap = set(test_data.genes) & set(genes)
                test_genes = sorted(set(test_data.genes) - overlap)
                if overlap:
                    progress.note(f"{len(overlap)} gene(s) of the test dataset are also training genes and are "
                                  "left out of its evaluation")
                train_genes = genes
            else:
                train_genes, test_genes = splitter.holdout(genes, cfg.test_fraction)
            trainer = _Trainer(data, cfg, out_dir, progress, timings, strategy, cluster)
            result = trainer.run(train_genes, test_genes, splitter, test_data, full_data)

        timings.seconds["total"] = time.perf_counter() - started
        result.timings = dict(timings.seconds)
        write_json(out_dir / "run_info.json", _info(data, cfg, mode, trainer, "complete", timings, backend.name,
                                                    plan))
        write_training_summary(out_dir)
        write_report_html(out_dir)
        log.info("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.seconds.items()))
        for warning in trainer.warnings:
            progress.note(f"warning: {warning}")
        progress.note(f"done: {out_dir}/training_summary.txt")
    return result


@dataclass
class _BenchmarkResult(TrainResult):
    trainer: _Trainer | None = None


#: Why benchmark mode leaves one split's model rather than an ensemble of the split models (the original's).
BENCHMARK_MODEL_NOTE = (
    "model/ is the last split's production model, not an ensemble of the split models: each split model "
    "held out different genes, so their ensemble has trained on every gene and no honest held-out figure "
    "would exist for it; the last split's held-out genes are in test_genes.txt and every figure of model/ "
    "is on them. For a model of all genes, train in production mode.")


def _benchmark(data, cfg, out_dir, progress, timings, groups, n_splits, full_data, strategy,
               cluster) -> _BenchmarkResult:
    """Repeated gene holdouts; each split is a full production run under split_XX/; on top, every figure's
    mean ± std with a 95 % interval over splits and paired tests of meta vs base (benchmark_summary.json)."""
    from ..evaluate.statistics import across_splits, split_row

    rows, last, trainer, warnings = [], None, None, []
    genes = list(data.genes)
    for s in range(n_splits):
        split_dir = out_dir / f"split_{s:02d}"
        split_dir.mkdir(exist_ok=True)
        splitter = GeneSplitter(groups, cfg.seed + s)
        train_genes, test_genes = splitter.holdout(genes, cfg.test_fraction)
        # Each split screens its own features: a column selection of the one matrix, never a copy per split.
        trainer = _Trainer(data, cfg, split_dir, progress, timings, strategy, cluster, owns_dataset=False,
                           warnings=warnings, label=f"split {s:02d}: ")
        last = trainer.run(train_genes, test_genes, splitter, None, full_data)
        rows.append(split_row(s, len(test_genes), last.evaluation[last.evaluation["headline"]]))
    table = pd.DataFrame(rows)
    write_csv(out_dir / "benchmark_splits.csv", table)
    aggregate, tests = across_splits(table)
    stats = {c: aggregate[c] for c in ("meta_macro_f1", "base_macro_f1")}
    write_json(out_dir / "benchmark_summary.json", {
        "n_splits": n_splits, **stats, "metrics": aggregate, "tests": tests,
        "interval": "95 % t interval of the mean over splits", "model": BENCHMARK_MODEL_NOTE})
    for name in ("splits.json", "meta_evaluation_summary.json", "gene_cv_metrics.csv", "feature_manifest.csv",
                 "base_vs_meta_performance.tsv", "global_excluded_features.txt", "learning_curves.json",
                 "test_genes.txt"):
        if (last.run_dir / name).is_file():
            shutil.copyfile(last.run_dir / name, out_dir / name)
    if (last.run_dir / "feature_importance_analysis").is_dir():
        shutil.copytree(last.run_dir / "feature_importance_analysis", out_dir / "feature_importance_analysis",
                        dirs_exist_ok=True)
    if not (out_dir / "model").exists():
        with atomic_dir(out_dir / "model") as tmp:
            shutil.copytree(last.run_dir / "model", tmp, dirs_exist_ok=True)
    trainer.run_dir = out_dir
    return _BenchmarkResult(out_dir, last.model, {**last.evaluation, "benchmark": stats}, last.cv_metrics,
                            last.splits, trainer=trainer)
