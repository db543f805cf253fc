"""Per-class probability calibration stored as plain JSON (never a pickle).

Platt scaling is a logistic regression on a learner's margin (log-odds, whatever the algorithm);
isotonic regression is stored as its breakpoints and applied by linear interpolation, which is exactly
what scikit-learn's IsotonicRegression does at predict time.
"""

from __future__ import annotations

import numpy as np

from .errors import GpumetaError

METHODS = ("platt", "isotonic", "none")


#: How far from 0 and 1 a probability is clipped before its log odds, so a score of 0 or 1 stays finite.
LOGIT_EPS = 1e-7


def log_odds(p, xp=np):
    """log(p / (1 - p)) elementwise, p clipped to [LOGIT_EPS, 1 - LOGIT_EPS]; NumPy, or CuPy as `xp`, in p's
    own dtype (callers that want float64 convert first)."""
    p = xp.clip(p, LOGIT_EPS, 1 - LOGIT_EPS)
    return xp.log(p) - xp.log1p(-p)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def fit_calibrator(margin: np.ndarray, target: np.ndarray, method: str) -> dict:
    """Fit one class's calibrator on out-of-fold margins and binary targets; returns its JSON spec."""
    margin = np.asarray(margin, dtype=np.float64)
    target = np.asarray(target, dtype=np.int8)
    if method == "none" or target.min() == target.max():
        # One class only among the out-of-fold rows: nothing to calibrate against.
        return {"method": "none"}
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin[:, None], target)
        return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(_sigmoid(margin), target)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    raise GpumetaError(f"unknown calibration {method!r}: use one of {', '.join(METHODS)}")


def apply_calibrator(spec: dict, margin: np.ndarray) -> np.ndarray:
    """Calibrated probability of the class from its learner's margin (host NumPy)."""
    method = spec.get("method", "none")
    if method == "platt":
        return _sigmoid(spec["a"] * margin + spec["b"])
    if method == "isotonic":
        return np.interp(_sigmoid(margin), np.asarray(spec["x"]), np.asarray(spec["y"]))
    if method == "none":
        return _sigmoid(margin)
    raise GpumetaError(f"model calibration {method!r} is unknown to this gpumeta version; retrain or upgrade")
