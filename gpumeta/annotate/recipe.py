"""The feature recipe a model carries: how its training dataset's features were made, so inference can
rebuild exactly those features.

A recipe is the dataset card's build parameters (context width, k-mer sizes and window, sequence window,
site convention, thresholds, ...) and the dataset's feature columns. Training copies it into the model
manifest (``recipe_of_dataset``); `annotate` turns it back into `BuildParams` (``recipe_params``) and
refuses, in one line, a model without one or with one this gpumeta cannot reproduce.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..builder.params import BuildParams
from ..builder.rows import feature_columns
from ..errors import GpumetaError, shown
from ..schema import is_feature_column

RECIPE_FORMAT = "gpumeta-recipe/1"
_DATASET_FORMAT = "gpumeta-dataset/1"


def recipe_of_dataset(path: str | Path) -> dict | None:
    """The recipe of a dataset built by `gpumeta build` (its dataset_card.json), or None when the dataset
    has no card of that builder (the original system's datasets, synthetic ones): no recipe is known."""
    path = Path(path)
    card_file = (path if path.is_dir() else path.parent) / "dataset_card.json"
    if not card_file.is_file():
        return None
    try:
        card = json.loads(card_file.read_text())
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{card_file}: not valid JSON ({exc.msg}); fix or remove it") from None
    if card.get("format") != _DATASET_FORMAT or "parameters" not in card:
        return None
    return {"format": RECIPE_FORMAT, "parameters": card["parameters"],
            "feature_columns": [c for c in card.get("columns", []) if is_feature_column(c)],
            "created_by": card.get("created_by", "")}


def recipe_params(model, model_path: str | Path) -> BuildParams:
    """The `BuildParams` that rebuild `model`'s features; one-line refusal when the recipe is absent or
    names a parameter or feature this gpumeta cannot make."""
    recipe = getattr(model, "recipe", None)
    if not recipe:
        raise GpumetaError(f"model {model_path} carries no feature recipe (trained before recipes, or on a dataset "
                           "not made by gpumeta build); retrain it on a gpumeta build dataset")
    if recipe.get("format") != RECIPE_FORMAT:
        raise GpumetaError(f"model {model_path}: recipe format {recipe.get('format')!r} is not {RECIPE_FORMAT!r}; "
                           "use the gpumeta version that trained it")
    parameters = dict(recipe.get("parameters", {}))
    # Which genes were built and whether rows were sampled describe the training set, not its features.
    for name in ("genes", "all_positions", "batch_size", "seed", "easy_ratio", "tn_window"):
        parameters.pop(name, None)
    try:
        params = BuildParams.from_kwargs(**parameters, all_positions=True)
    except GpumetaError as exc:
        raise GpumetaError(f"model {model_path}: its recipe cannot be reproduced ({exc}); "
                           "use the gpumeta version that trained it") from None
    makeable = {name for name, _ in feature_columns(params)}
    foreign = [f for f in model.feature_names if f not in makeable]
    if foreign:
        raise GpumetaError(f"model {model_path}: feature(s) {shown(foreign)} cannot be rebuilt from its recipe; "
                           "retrain the model on a gpumeta build dataset")
    return params
