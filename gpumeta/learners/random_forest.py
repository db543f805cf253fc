"""`random_forest`: scikit-learn's RandomForestClassifier on cpu, cuML's on cuda, served as xgboost trees.

The fitted forest is converted into an xgboost model (one round of parallel trees), so it is saved as
UBJSON, predicts and explains with xgboost (TreeSHAP, GPUTreeShap on cuda) and loading runs no code. A
leaf's value is the log-odds of its class fraction, smoothed by half a pseudo-row each way so pure leaves
stay finite, divided by the number of trees: the forest's margin is the mean leaf log-odds (a
geometric mean of the trees' odds), additive over trees as SHAP needs. Calibration then maps margins to
probabilities as for every learner.

cuML's forest is read through its scikit-learn export (``as_sklearn``, via Treelite), so one converter
serves both. Splits: scikit-learn sends x <= t left, xgboost x < c; for float32 x this is the same as
c = the next float32 above the largest float32 <= t.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import GpumetaError
from .base import Learner, OnRound, tick
from .xgboost_learner import XGBoostBinary

_ROOT_PARENT = 2147483647  # xgboost's "no parent"


@dataclass
class TreeArrays:
    """One binary tree in node arrays (root 0; -1 children mark leaves)."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray      # x <= threshold goes left
    positive_fraction: np.ndarray
    weight: np.ndarray         # (weighted) training rows reaching the node
    missing_left: np.ndarray
    gain: np.ndarray           # weighted impurity decrease of each split (0 at leaves)


def trees_from_sklearn(forest) -> list[TreeArrays]:
    trees = []
    for estimator in forest.estimators_:
        t = estimator.tree_
        n = t.node_count
        positive_column = list(forest.classes_).index(1) if 1 in list(forest.classes_) else None
        value = t.value[:, 0, :]
        fraction = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
        trees.append(TreeArrays(
            left=t.children_left.astype(np.int64), right=t.children_right.astype(np.int64),
            feature=np.maximum(t.feature, 0).astype(np.int64), threshold=t.threshold.astype(np.float64),
            positive_fraction=(fraction[:, positive_column] if positive_column is not None else np.zeros(n)),
            weight=t.weighted_n_node_samples.astype(np.float64),
            missing_left=np.asarray(getattr(t, "missing_go_to_left", np.zeros(n)), dtype=np.int64),
            gain=_impurity_decrease(t)))
    return trees


def _impurity_decrease(t) -> np.ndarray:
    """scikit-learn's split gain: w·impurity of a node minus that of its children (what
    feature_importances_ sums)."""
    weighted = t.weighted_n_node_samples * t.impurity
    split = t.children_left >= 0
    gain = np.zeros(t.node_count)
    gain[split] = (weighted[split] - weighted[t.children_left[split]] - weighted[t.children_right[split]])
    return np.nan_to_num(gain)  # trees exported from cuML (through Treelite) may carry no impurity


def _xgboost_split(threshold: np.ndarray) -> np.ndarray:
    floor = threshold.astype(np.float32)
    floor = np.where(floor.astype(np.float64) > threshold, np.nextafter(floor, np.float32(-np.inf)), floor)
    return np.nextafter(floor, np.float32(np.inf))


def _siblings_adjacent(tree: TreeArrays) -> TreeArrays:
    """The tree renumbered breadth-first, each right child right after its left one: xgboost's predictor
    finds the right child at left + 1 (scikit-learn numbers depth-first)."""
    order, position = [0], 0
    while position < len(order):
        node = order[position]
        if tree.left[node] >= 0:
            order.extend((tree.left[node], tree.right[node]))
        position += 1
    order = np.asarray(order)
    new_id = np.full(len(tree.left), -1)
    new_id[order] = np.arange(len(order))
    renumber = lambda children: np.where(children[order] >= 0, new_id[np.maximum(children[order], 0)], -1)
    return TreeArrays(left=renumber(tree.left), right=renumber(tree.right), feature=tree.feature[order],
                      threshold=tree.threshold[order], positive_fraction=tree.positive_fraction[order],
                      weight=tree.weight[order], missing_left=tree.missing_left[order], gain=tree.gain[order])


def _xgboost_tree(tree: TreeArrays, tree_id: int, n_trees: int, n_features: int) -> dict:
    tree = _siblings_adjacent(tree)
    n = len(tree.left)
    is_leaf = tree.left < 0
    p = (tree.positive_fraction * tree.weight + 0.5) / (tree.weight + 1.0)
    leaf_value = np.log(p / (1 - p)) / n_trees
    parents = np.full(n, _ROOT_PARENT, dtype=np.int64)
    for i in np.flatnonzero(~is_leaf):
        parents[tree.left[i]] = parents[tree.right[i]] = i
    condition = np.where(is_leaf, leaf_value, _xgboost_split(tree.threshold)).astype(np.float32)
    return {
        "base_weights": leaf_value.astype(np.float32).tolist(), "categories": [], "categories_nodes": [],
        "categories_segments": [], "categories_sizes": [],
        "default_left": np.where(is_leaf, 0, tree.missing_left).astype(int).tolist(), "id": tree_id,
        "left_children": tree.left.astype(int).tolist(), "right_children": tree.right.astype(int).tolist(),
        "loss_changes": tree.gain.tolist(), "parents": parents.tolist(),
        "split_conditions": condition.tolist(),
        "split_indices": np.where(is_leaf, 0, tree.feature).astype(int).tolist(), "split_type": [0] * n,
        "sum_hessian": tree.weight.tolist(),
        "tree_param": {"num_deleted": "0", "num_feature": str(n_features), "num_nodes": str(n),
                       "size_leaf_vector": "1"},
    }


def forest_to_booster(trees: list[TreeArrays], n_features: int):
    """An xgboost Booster whose margin is the forest's mean leaf log-odds (zero base margin)."""
    import xgboost as xgb

    # A one-stump model made by this xgboost gives the JSON layout of the installed version.
    template = xgb.train({"objective": "binary:logistic", "base_score": 0.5, "max_depth": 1, "nthread": 1},
                         xgb.DMatrix(np.zeros((2, n_features), dtype=np.float32), label=[0, 1]), 1)
    model = json.loads(template.save_raw("json"))
    gbtree = model["learner"]["gradient_booster"]["model"]
    gbtree["trees"] = [_xgboost_tree(t, i, len(trees), n_features) for i, t in enumerate(trees)]
    gbtree["tree_info"] = [0] * len(trees)
    gbtree["iteration_indptr"] = [0, len(trees)]
    gbtree["gbtree_model_param"] = {"num_parallel_tree": str(len(trees)), "num_trees": str(len(trees))}
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(model).encode()))
    return booster


class RandomForestLearner(Learner):
    """Bootstrapped trees with a feature subsample per split; no rounds, so no early stopping."""

    name = "random_forest"
    DEFAULTS: ClassVar[dict] = {"n_estimators": 200, "max_depth": 16, "min_samples_leaf": 5, "max_features": 0.3,
                "max_samples": 1.0}
    model_class = XGBoostBinary

    def fit_binary(self, backend, X_train, y_train, w_train, X_val, y_val, w_val, *, n_rounds=None,
                   seed: int, nthread: int, on_round: OnRound = None) -> XGBoostBinary:
        estimator = backend.sklearn_like("sklearn.ensemble.RandomForestClassifier",
                                         "cuml.ensemble.RandomForestClassifier")
        p = self.params
        forest = estimator(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                           min_samples_leaf=p["min_samples_leaf"], max_features=p["max_features"],
                           max_samples=p["max_samples"], random_state=seed)
        if "n_jobs" in forest.get_params():  # scikit-learn's threads (cuML has none to set)
            forest.set_params(n_jobs=nthread)
        fit_args = {}
        if w_train is not None:
            if "sample_weight" not in inspect.signature(forest.fit).parameters:
                raise GpumetaError(f"random_forest: {type(forest).__module__} fits no row weights; turn "
                                   "weight_by_inclusion off or use --algorithm xgboost-rf")
            fit_args["sample_weight"] = w_train
        forest.fit(X_train, backend.xp.asarray(y_train).astype(backend.xp.int32), **fit_args)
        tick(on_round)
        fitted = forest.as_sklearn() if hasattr(forest, "as_sklearn") else forest  # cuML → scikit-learn trees
        booster = forest_to_booster(trees_from_sklearn(fitted), X_train.shape[1])
        return XGBoostBinary(booster, backend, 0, {})
