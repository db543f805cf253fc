"""Training: configuration, gene-aware splits, feature screening, strategies and the workflow."""

from .config import TrainConfig, load_config
from .workflow import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_config", "train"]
