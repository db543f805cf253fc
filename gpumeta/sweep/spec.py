"""A sweep's grid, read and checked before any work: datasets × algorithms × parameter sets × seeds × devices.

The SPEC is YAML (see configs/sweep_example.yaml)::

    datasets: {small: data/small}          # name: dataset path (relative to the spec file)
    algorithms: [xgboost]                  # or {name: {algorithm params}}
    params:                                # name: training-config overrides of this parameter set
      shallow: {booster: {max_depth: 3}}
      deep: {booster: {max_depth: 8}}
    seeds: [0, 1]
    devices: [cpu]                         # cpu and/or cuda
    config: configs/quick.yaml             # optional base training config (relative to the spec file)
    train: {n_folds: 2, skip_shap: true}   # optional overrides applied to every cell
    retries: 1                             # extra attempts of a failed cell per sweep call

Every cell's training configuration is built here with `load_config` (so an unknown key or a bad value is
refused up front, naming the parameter set); a cell's id is a hash of what the cell is, so the same cell
keeps its id and its run directory across calls.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dataset import find_parquet_files
from ..errors import GpumetaError, shown
from ..learners import ALGORITHMS, DEFAULT_ALGORITHM
from ..train.config import TrainConfig, load_config

# ALGORITHMS: the names a cell may give, the learners registry itself. DEFAULT_ALGORITHM: the one training
# uses when the config names none; its cells pass no `algorithm` override.
#: A sweep records where each cell ran, so "auto" is not an axis value.
SWEEP_DEVICES = ("cpu", "cuda")
SPEC_KEYS = ("datasets", "algorithms", "params", "seeds", "devices", "config", "train", "retries")
#: Config keys an axis owns: a parameter set or `train:` may not set them.
AXIS_OWNED = {"seed": "seeds", "algorithm": "algorithms", "algorithm_params": "algorithms"}


@dataclass
class Cell:
    """One point of the grid: train `dataset_path` with these settings on `device`."""

    dataset: str                 # the dataset's name in the spec
    dataset_path: str            # resolved path
    algorithm: str
    algorithm_params: dict
    params: str                  # the parameter set's name in the spec
    overrides: dict              # training-config overrides: `train:` with the parameter set on top
    seed: int
    device: str
    config_file: str | None = None
    config_digest: str | None = None  # sha256 of the base config file's text (part of the id)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        what = {"dataset": self.dataset_path, "algorithm": self.algorithm, "algorithm_params": self.algorithm_params,
                "overrides": self.overrides, "seed": self.seed, "device": self.device, "config": self.config_digest}
        self.id = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]

    def config_overrides(self) -> dict:
        """What `load_config` gets on top of the base file: the overrides, the algorithm, the seed."""
        chosen = {} if self.algorithm == DEFAULT_ALGORITHM and not self.algorithm_params else {
            "algorithm": self.algorithm, **({"algorithm_params": self.algorithm_params} if self.algorithm_params
                                            else {})}
        return {**self.overrides, **chosen, "seed": self.seed}

    def train_config(self) -> TrainConfig:
        return load_config(self.config_file, self.config_overrides())

    def describe(self) -> dict[str, Any]:
        """The cell's columns of the results table."""
        return {"cell_id": self.id, "dataset": self.dataset, "dataset_path": self.dataset_path,
                "algorithm": self.algorithm, "params": self.params,
                "params_json": json.dumps(self.overrides, sort_keys=True),
                "algorithm_params_json": json.dumps(self.algorithm_params, sort_keys=True),
                "seed": self.seed, "device": self.device}


@dataclass
class SweepSpec:
    """A checked spec: its file, the grid's axes and how often a failed cell is tried again."""

    path: Path
    datasets: dict[str, str]
    algorithms: dict[str, dict]
    params: dict[str, dict]
    seeds: list[int]
    devices: list[str]
    config_file: str | None
    train: dict
    retries: int
    cells: list[Cell]

    @property
    def shape(self) -> dict[str, int]:
        return {"datasets": len(self.datasets), "algorithms": len(self.algorithms), "params": len(self.params),
                "seeds": len(self.seeds), "devices": len(self.devices)}


def _deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        merged[key] = (_deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict)
                       else value)
    return merged


def _named(where: str, key: str, value, default: dict | None) -> dict[str, Any]:
    """An axis given as a mapping name -> value (or, for algorithms, a list of names)."""
    if value is None:
        if default is None:
            raise GpumetaError(f"{where}: {key!r} is missing; give it as a mapping of names to values")
        return default
    if key == "algorithms" and isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, dict):
        raise GpumetaError(f"{where}: {key!r} must be a mapping of names to values, got {type(value).__name__}")
    if not value:
        raise GpumetaError(f"{where}: {key!r} is empty; give at least one entry")
    bad = [n for n in value if not isinstance(n, str) or not n.strip()]
    if bad:
        raise GpumetaError(f"{where}: {key!r} has name(s) {shown(bad, quote=True)} that are not text; name each entry")
    return value


def _listed(where: str, key: str, value, default: list, kind: type) -> list:
    if value is None:
        return default
    values = value if isinstance(value, list) else [value]
    if not values:
        raise GpumetaError(f"{where}: {key!r} is empty; give at least one value")
    bad = [v for v in values if not isinstance(v, kind) or isinstance(v, bool)]
    if bad:
        raise GpumetaError(f"{where}: {key!r} has value(s) {shown(bad, quote=True)} that are not "
                           f"{'integers' if kind is int else 'text'}")
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise GpumetaError(f"{where}: {key!r} repeats {shown(repeated, quote=True)}; list each value once")
    return values


def _mapping(where: str, what: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GpumetaError(f"{where}: {what} must be a mapping of config keys to values, got {value!r}")
    owned = [k for k in value if k in AXIS_OWNED]
    if owned:
        raise GpumetaError(f"{where}: {what} sets {shown(owned, quote=True)}, which the "
                           f"{AXIS_OWNED[owned[0]]!r} axis sets for each cell; move it there")
    return value


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise GpumetaError(f"{path}: sweep spec not found; give a YAML file (see configs/sweep_example.yaml)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise GpumetaError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise GpumetaError(f"{path}: a sweep spec is a mapping with keys {', '.join(SPEC_KEYS)}")
    return data


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; every cell's training config is built (and so checked) here."""
    path = Path(path)
    where = str(path)
    data = _read_yaml(path)
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise GpumetaError(f"{where}: unknown key(s) {shown(unknown, quote=True)}; a spec has {', '.join(SPEC_KEYS)}")

    root = path.resolve().parent
    datasets = {}
    for name, location in _named(where, "datasets", data.get("datasets"), None).items():
        if not isinstance(location, str):
            raise GpumetaError(f"{where}: dataset {name!r} must be a path, got {location!r}")
        resolved = (root / location).resolve()
        if not resolved.exists():
            raise GpumetaError(f"{where}: dataset {name!r}: {resolved} does not exist; fix the path (relative paths "
                               "are relative to the spec file)")
        try:
            find_parquet_files(resolved)
        except GpumetaError as exc:
            raise GpumetaError(f"{where}: dataset {name!r}: {exc}") from None
        datasets[name] = str(resolved)
    algorithms = _named(where, "algorithms", data.get("algorithms"), {DEFAULT_ALGORITHM: {}})
    for name, params in algorithms.items():
        if name not in ALGORITHMS:
            raise GpumetaError(f"{where}: algorithm {name!r} is unknown; use one of {', '.join(ALGORITHMS)}")
        if params is not None and not isinstance(params, dict):
            raise GpumetaError(f"{where}: algorithm {name!r} takes a mapping of its parameters, got {params!r}")
    algorithms = {name: params or {} for name, params in algorithms.items()}
    params = {name: _mapping(where, f"parameter set {name!r}", overrides)
              for name, overrides in _named(where, "params", data.get("params"), {"default": {}}).items()}
    seeds = _listed(where, "seeds", data.get("seeds"), [TrainConfig().seed], int)
    devices = _listed(where, "devices", data.get("devices"), ["cpu"], str)
    bad = [d for d in devices if d not in SWEEP_DEVICES]
    if bad:
        raise GpumetaError(f"{where}: device(s) {shown(bad, quote=True)} are not sweep devices; use "
                           f"{' and/or '.join(SWEEP_DEVICES)} (a sweep records where each cell ran, so not 'auto')")
    train = _mapping(where, "'train'", data.get("train"))
    retries = data.get("retries", 1)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise GpumetaError(f"{where}: 'retries' is {retries!r}; give a whole number >= 0")
    config_file, config_digest = None, None
    if data.get("config") is not None:
        config_path = (root / str(data["config"])).resolve()
        if not config_path.is_file():
            raise GpumetaError(f"{where}: config {config_path} not found; fix 'config' (relative to the spec file)")
        config_file, config_digest = str(config_path), hashlib.sha256(config_path.read_bytes()).hexdigest()

    cells = []
    for (d, d_path), (a, a_params), (p, p_overrides), seed, device in itertools.product(
            datasets.items(), algorithms.items(), params.items(), seeds, devices):
        cell = Cell(d, d_path, a, a_params, p, _deep_merge(train, p_overrides), seed, device, config_file,
                    config_digest)
        try:
            cell.train_config()
        except GpumetaError as exc:
            raise GpumetaError(f"{where}: parameter set {p!r} with algorithm {a!r}: {exc}") from None
        cells.append(cell)
    return SweepSpec(path, datasets, algorithms, params, seeds, devices, config_file, train, retries, cells)
