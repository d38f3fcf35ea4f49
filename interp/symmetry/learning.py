"""Learning curves of kernel (GP) regression: the eigenlearning prediction and exact GP regression.

On a finite input set with the uniform measure, the kernel operator ``(T g)(x) = E_x' K(x, x') g(x')`` has
eigenvalues ``lam_i`` (those of ``K/N``) and eigenfunctions ``phi_i = sqrt(N) u_i``. A target
``y = sum_i g_i phi_i`` learned from P samples with noise (ridge) ``sigma^2`` is predicted
(docs/theory/symmetry.md, "Learning curves") through the effective regulariser ``kappa``:

    kappa = sigma^2 + kappa sum_i lam_i / (P lam_i + kappa),        learn_i = P lam_i / (P lam_i + kappa),

the learnability ``L(P) = sum_i learn_i g_i^2 / sum_i g_i^2`` (the expected ``<y, f_hat> / <y, y>``) and the
generalisation error ``E_g = (1 - gamma)^-1 sum_i (kappa / (P lam_i + kappa))^2 g_i^2`` with
``gamma = sum_i P lam_i^2 / (P lam_i + kappa)^2``. ``gpr_learnability`` measures the same learnability by
exact GP regression on random training sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import TaskError, check_float, check_int


@dataclass
class Eigensystem:
    """``values [N]`` of ``K/N`` (descending, clipped at 0) and orthonormal ``vectors [N, N]`` in columns."""

    values: np.ndarray
    vectors: np.ndarray

    @classmethod
    def of(cls, K: np.ndarray) -> "Eigensystem":
        values, vectors = np.linalg.eigh(np.asarray(K, dtype=np.float64) / len(K))
        return cls(np.clip(values[::-1], 0, None), vectors[:, ::-1])

    def coefficients(self, y: np.ndarray) -> np.ndarray:
        """``g_i = <y, phi_i>`` under the uniform measure (so ``sum g_i^2 = mean y^2``)."""
        return self.vectors.T @ np.asarray(y, dtype=np.float64) / math.sqrt(len(self.values))


def kappa(values: np.ndarray, P: float, noise: float) -> float:
    """The root of ``noise / kappa + sum lam / (P lam + kappa) = 1``, which lies in
    ``[noise, noise + sum lam]`` (the left side falls from above 1 to at most 1 across that range)."""
    check_float("noise", noise, 0, low_open=True)
    check_float("P", P, 0)
    values = np.asarray(values, dtype=np.float64)
    low, high = noise, noise + values.sum()

    def excess(k: float) -> float:
        return noise / k + (values / (P * values + k)).sum() - 1

    for _ in range(200):
        middle = math.sqrt(low * high)
        if excess(middle) > 0:
            low = middle
        else:
            high = middle
        if high / low - 1 < 1e-13:
            break
    return math.sqrt(low * high)


def mode_learnabilities(values: np.ndarray, P: float, noise: float) -> np.ndarray:
    k = kappa(values, P, noise)
    return P * values / (P * values + k)


def theory_learnability(values: np.ndarray, coefficients: np.ndarray, P: float, noise: float) -> float:
    """``sum learn_i g_i^2 / sum g_i^2`` (eigenlearning)."""
    weights = np.asarray(coefficients) ** 2
    return float((mode_learnabilities(values, P, noise) * weights).sum() / weights.sum())


def plain_learnability(values: np.ndarray, coefficients: np.ndarray, P: float, noise: float) -> float:
    """The plain equivalent-kernel estimate ``lam / (lam + noise / P)`` (kappa replaced by the bare noise)."""
    weights = np.asarray(coefficients) ** 2
    return float((values / (values + noise / P) * weights).sum() / weights.sum())


def theory_error(values: np.ndarray, coefficients: np.ndarray, P: float, noise: float) -> float:
    """The predicted generalisation error ``E_g`` (noiseless target)."""
    k = kappa(values, P, noise)
    values = np.asarray(values)
    residual = k / (P * values + k)
    gamma = (P * values**2 / (P * values + k) ** 2).sum()
    return float((residual**2 * np.asarray(coefficients) ** 2).sum() / (1 - gamma))


def half_sample_size(values: np.ndarray, coefficients: np.ndarray, noise: float, level: float = 0.5,
                     largest: float = 1e9) -> float | None:
    """The (real) P at which the predicted learnability reaches ``level``; None if it never does below
    ``largest`` (a target partly outside the kernel's span can stay below it)."""
    check_float("level", level, 0, 1, low_open=True, high_open=True)
    if theory_learnability(values, coefficients, largest, noise) < level:
        return None
    low, high = 1e-6, largest
    for _ in range(200):
        middle = math.sqrt(low * high)
        if theory_learnability(values, coefficients, middle, noise) >= level:
            high = middle
        else:
            low = middle
        if high / low - 1 < 1e-10:
            break
    return high


def gpr_predictions(K: np.ndarray, y: np.ndarray, indices: np.ndarray, noise: float) -> np.ndarray:
    """Posterior mean on every point from noisy observations of ``y [N, T]`` at ``indices`` (repeats allowed:
    c copies of one noiseless label are one observation with noise ``noise / c``)."""
    unique, counts = np.unique(indices, return_counts=True)
    system = K[np.ix_(unique, unique)] + np.diag(noise / counts)
    return K[:, unique] @ np.linalg.solve(system, np.asarray(y)[unique])


def learnability(y: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``<y, f> / <y, y>`` per target column under the uniform measure."""
    y, prediction = np.atleast_2d(np.asarray(y).T).T, np.atleast_2d(np.asarray(prediction).T).T
    return (y * prediction).sum(0) / (y * y).sum(0)


def training_sets(N: int, P: int, draws: int, seed: int) -> np.ndarray:
    """``[draws, P]`` indices drawn uniformly with replacement (i.i.d. samples of the uniform measure)."""
    check_int("P", P, 1)
    check_int("draws", draws, 1)
    return np.random.default_rng(seed).integers(0, N, size=(draws, P))


def gpr_learnability(K: np.ndarray, y: np.ndarray, P: int, noise: float, draws: int, seed: int) -> np.ndarray:
    """``[draws, T]``: exact GP-regression learnability of each target column on ``draws`` training sets."""
    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if len(y) != len(K):
        raise TaskError(f"y has {len(y)} rows for a kernel on {len(K)} points")
    return np.stack([learnability(y, gpr_predictions(K, y, idx, noise)) for idx in training_sets(len(K), P, draws, seed)])


__all__ = ["Eigensystem", "gpr_learnability", "gpr_predictions", "half_sample_size", "kappa", "learnability",
           "mode_learnabilities", "plain_learnability", "theory_error", "theory_learnability", "training_sets"]
