"""Isotypic energies of a function f: V^L -> R^C under the permutation action of S_L.

The projector onto the irreps ``lam`` is ``P_lam = (d_lam / L!) sum_pi chi_lam(pi) R_pi`` with
``(R_pi f)(x) = f(pi^-1 x)``. For a measure that permutations leave unchanged,

    ||P_lam f||^2 = d_lam * sum_mu chi_lam(mu) A_mu / z_mu,     A_mu = E_x E_{pi in class mu} <f(x), f(pi^-1 x)>,

so the energies need only evaluations of f (docs/theory/symmetry.md, "Isotypic energies"). Three routes:

- ``decompose_table``: f given on a finite point set closed under permutations (e.g. all of V^L), uniform
  weight. Exact by enumerating S_L when L <= ``MAX_ENUMERATED``; beyond, ``A_mu`` is averaged over
  permutations sampled uniformly within each cycle type.
- ``orbit_energies``: f evaluated on every rearrangement of each of N sampled inputs (the model route, for
  rearranged sets of at most ``MAX_ORBIT`` positions): exact on each orbit, so the only randomness is the
  sample of inputs.
- ``symmetric_fraction``: f on M random rearrangements of each input: the trivial energy (the
  fully symmetric part) as an unbiased pair average, for any number of positions.

Energies are of ``f - E f`` and summed over the C output coordinates; ``Decomposition`` aggregates them
by asymmetry order ``k = L - lam_1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..validation import TaskError
from .group import (
    MAX_ENUMERATED,
    Partition,
    all_permutations,
    asymmetry_order,
    character_table,
    class_labels,
    compose,
    dimensions,
    inverse,
    partitions,
    permutation_codes,
    random_permutations_of_type,
    z_values,
)

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

MAX_ORBIT = 7  # whole orbits are enumerated up to 7! = 5040 rearrangements per input
ORBIT_BASE_POINTS = 256  # base points per orbit beyond 6! (an unbiased subsample of the pair sum)


def energies_from_autocorrelations(autocorrelation: np.ndarray, L: int) -> np.ndarray:
    """``[..., p(L)]`` energies per irrep (``partitions(L)`` order) from class autocorrelations ``[..., p(L)]``."""
    return (np.asarray(autocorrelation) / z_values(L)) @ character_table(L).T * dimensions(L)


@dataclass
class Decomposition:
    """Energies of ``f - E f`` per irrep of S_L, with the totals the symmetry score reports.

    ``energies`` maps each partition of L to ``||P_lam (f - Ef)||^2``; ``variance`` is ``E||f - Ef||^2``
    (their sum, up to sampling error when the classes are sampled). ``standard_errors`` (same keys, may be
    empty) are over the sampled inputs.
    """

    L: int
    energies: dict[Partition, float]
    variance: float
    method: str
    standard_errors: dict[Partition, float] = field(default_factory=dict)

    @property
    def by_order(self) -> list[float]:
        """``E_k`` for ``k = 0 .. L-1``: the energy in irreps with ``L - lam_1 = k``."""
        out = [0.0] * self.L
        for lam, energy in self.energies.items():
            out[asymmetry_order(lam)] += energy
        return out

    @property
    def profile(self) -> list[float]:
        """``E_k / Var f``."""
        return [e / self.variance if self.variance > 0 else float("nan") for e in self.by_order]

    @property
    def s_sym(self) -> float:
        """``||P_(L)(f - Ef)||^2 / Var f``: the fraction of the variance that is fully symmetric."""
        return self.profile[0]

    @property
    def kbar(self) -> float:
        """The mean asymmetry order ``sum_k k E_k / Var f``."""
        return float(sum(k * p for k, p in enumerate(self.profile)))


def _as_matrix(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values.reshape(values.shape[0], -1)


# --- functions on a closed point set -------------------------------------------------------------


class PointIndex:
    """Row lookup for integer sequences ``points [N, L]`` (values in ``range(V)``) by their base-V code."""

    def __init__(self, points: np.ndarray, V: int):
        self.points = np.asarray(points, dtype=np.int64)
        if self.points.ndim != 2:
            raise TaskError(f"points must be [N, L] token ids, got shape {list(self.points.shape)}")
        if self.points.min() < 0 or self.points.max() >= V:
            raise TaskError(f"points must hold token ids in [0, {V - 1}] (V={V})")
        if self.points.shape[1] * np.log2(max(V, 2)) >= 62:
            raise TaskError(f"V^L = {V}^{self.points.shape[1]} is too large to index")
        self.V = V
        self.powers = V ** np.arange(self.points.shape[1] - 1, -1, -1, dtype=np.int64)
        codes = self.points @ self.powers
        self.order = np.argsort(codes)
        self.sorted = codes[self.order]
        if len(np.unique(codes)) != len(codes):
            raise TaskError("points must not repeat (use one row per distinct sequence)")

    def rows(self, sequences: np.ndarray) -> np.ndarray:
        """Row of each sequence in ``[..., L]``; TaskError if one is not in the set (the set is not closed)."""
        codes = np.asarray(sequences) @ self.powers
        at = np.clip(np.searchsorted(self.sorted, codes), 0, len(self.sorted) - 1)
        if not np.array_equal(self.sorted[at], codes):
            raise TaskError("points are not closed under permutations of positions: a rearranged point is missing")
        return self.order[at]


def permutation_autocorrelations(values: np.ndarray, index: PointIndex, perms: np.ndarray,
                                 chunk: int = 256) -> np.ndarray:
    """``[P]``: ``A(pi) = mean over the points of <f(x), f(x[:, p])>`` for each permutation ``p`` in ``perms``."""
    f = _as_matrix(values)
    out = np.empty(len(perms))
    for start in range(0, len(perms), chunk):
        block = np.asarray(perms[start:start + chunk])
        moved = index.rows(index.points[:, block].transpose(1, 0, 2))  # [P, N]: row of x[:, p]
        out[start:start + chunk] = np.einsum("nc,pnc->p", f, f[moved]) / len(f)
    return out


def decompose_table(values: np.ndarray, points: np.ndarray, V: int, per_class: int = 64, seed: int = 0,
                    exact: bool | None = None) -> Decomposition:
    """Isotypic energies of f given by ``values [N]`` or ``[N, C]`` on ``points [N, L]`` (closed under
    permutations of positions, each point weighted equally).

    Exact (all of S_L) when ``L <= MAX_ENUMERATED`` unless ``exact=False``; otherwise ``per_class``
    permutations drawn uniformly within each cycle type (seeded by ``seed``), with standard errors from the
    spread of ``A(pi)`` within each class. High-dimensional irreps need many permutations: their energy is
    ``d_lam`` times a signed sum over classes.
    """
    index = PointIndex(points, V)
    L = index.points.shape[1]
    f = _as_matrix(values)
    if len(f) != len(index.points):
        raise TaskError(f"values has {len(f)} rows for {len(index.points)} points")
    f = f - f.mean(0)
    exact = L <= MAX_ENUMERATED if exact is None else exact
    classes = len(partitions(L))
    if exact:
        perms = all_permutations(L)
        labels = class_labels(perms)
        method = "exact (all of S_L)"
    else:
        rng = np.random.default_rng(seed)
        perms = np.concatenate([random_permutations_of_type(mu, per_class, rng) for mu in partitions(L)])
        labels = np.repeat(np.arange(classes), per_class)
        method = f"sampled ({per_class} permutations per cycle type)"
    per_perm = permutation_autocorrelations(f, index, perms)
    counts = np.bincount(labels, minlength=classes)
    autocorrelation = np.bincount(labels, per_perm, minlength=classes) / counts
    energies = energies_from_autocorrelations(autocorrelation, L)
    errors = {}
    if not exact:
        spread = np.bincount(labels, (per_perm - autocorrelation[labels]) ** 2, minlength=classes) / (counts - 1)
        weights = character_table(L) / z_values(L) * dimensions(L)[:, None]  # [lam, mu]
        errors = dict(zip(partitions(L), np.sqrt((weights**2) @ (spread / counts)).tolist()))
    return Decomposition(L, dict(zip(partitions(L), energies.tolist())), float((f**2).sum(1).mean()), method, errors)


# --- functions evaluated on whole orbits ---------------------------------------------------------


@lru_cache(maxsize=None)
def _labels_by_code(m: int) -> np.ndarray:
    """Class index of every permutation of S_m, looked up by its code."""
    lookup = np.full(m**m, -1, dtype=np.int8)
    perms = all_permutations(m)
    lookup[permutation_codes(perms)] = class_labels(perms)
    return lookup


@lru_cache(maxsize=16)
def _class_sum_operator(m: int, base_points: int | None, seed: int) -> tuple[np.ndarray, csr_matrix]:
    """The base rows ``a`` of an orbit sum and the sparse operator ``S [B * p(m), m!]`` with
    ``S[b * p + class(a_b^-1 o a), a] = 1``: ``S @ F`` gives, for each base row, the class sums of F."""
    from scipy.sparse import csr_matrix

    perms = all_permutations(m)
    size, classes = len(perms), len(partitions(m))
    rows = (np.arange(size) if base_points is None else
            np.sort(np.random.default_rng(seed).choice(size, base_points, replace=False)))
    relative = _labels_by_code(m)[permutation_codes(compose(inverse(perms[rows])[:, None, :], perms[None, :, :]))]
    index = (np.arange(len(rows))[:, None] * classes + relative).reshape(-1)
    columns = np.broadcast_to(np.arange(size), relative.shape).reshape(-1)
    return rows, csr_matrix((np.ones(len(index)), (index, columns)), shape=(len(rows) * classes, size))


def orbit_energies(table: np.ndarray, m: int, mean: np.ndarray | float = 0.0, seed: int = 0,
                   base_points: int = ORBIT_BASE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Per-input energies on whole orbits.

    ``table [N, m!, C]`` holds f on every rearrangement ``x[:, a]`` (``a`` in ``all_permutations(m)``
    order) of N inputs; ``mean`` is subtracted first (E f). Returns ``energies [N, p(m)]`` and
    ``squares [N]`` (the orbit mean of ``||f - Ef||^2``): averaged over inputs drawn from a
    permutation-invariant measure they are ``||P_lam (f - Ef)||^2`` and ``Var f``. With
    ``F(a) = f(x[:, a])``, ``E_lam(x) = d_lam / m!^2 sum_{a,b} F(a) F(b) chi_lam(a^-1 b)``; beyond 6! the
    sum over ``a`` is an unbiased sample of ``base_points`` rows.
    """
    if m > MAX_ORBIT:
        raise TaskError(f"whole orbits are enumerated for at most {MAX_ORBIT} positions, got {m}")
    table = np.asarray(table, dtype=np.float64)
    if table.ndim == 2:
        table = table[..., None]
    size, classes = len(all_permutations(m)), len(partitions(m))
    if table.shape[1] != size:
        raise TaskError(f"an orbit table for m={m} needs {size} rearrangements per input, got {table.shape[1]}")
    table = table - mean
    N, _, C = table.shape
    rows, operator = _class_sum_operator(m, None if size <= 720 else base_points, seed)
    class_sums = (operator @ table.transpose(1, 0, 2).reshape(size, N * C)).reshape(len(rows), classes, N, C)
    # (P_lam F)(a_b) = d_lam / m! sum_mu chi_lam(mu) (class sum mu at base row b)
    weights = character_table(m) * (dimensions(m)[:, None] / size)  # [lam, mu]
    at_base = table[:, rows]  # [N, B, C]
    energies = np.einsum("lp,bpnc,nbc->nl", weights, class_sums, at_base, optimize=True) / len(rows)
    energies[:, 0] = (table.mean(1) ** 2).sum(-1)  # the trivial irrep's share is exact: the squared orbit mean
    return energies, (table**2).sum(-1).mean(1)


def symmetric_fraction_pairs(table: np.ndarray, mean: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-input estimates from f on M independent uniform rearrangements of each input.

    ``table [N, M, C]``: returns the pair average ``1/(M(M-1)) sum_{i != j} <F_i, F_j>`` (unbiased for the
    squared orbit mean, whose average over inputs is the trivial energy) and the mean square, both ``[N]``.
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim == 2:
        table = table[..., None]
    M = table.shape[1]
    if M < 2:
        raise TaskError(f"the pair estimate needs at least 2 rearrangements per input, got {M}")
    table = table - mean
    total = table.sum(1)
    squares = (table**2).sum(-1)
    pairs = ((total**2).sum(-1) - squares.sum(1)) / (M * (M - 1))
    return pairs, squares.mean(1)


def ratio_with_error(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, float]:
    """``sum(num)/sum(den)`` over inputs and its delta-method standard error."""
    numerators, denominators = np.asarray(numerators, float), np.asarray(denominators, float)
    n = len(numerators)
    ratio = numerators.sum() / denominators.sum()
    if n < 2:
        return float(ratio), float("nan")
    residual = numerators - ratio * denominators
    return float(ratio), float(residual.std(ddof=1) / np.sqrt(n) / denominators.mean())


def decomposition_from_orbits(energies: np.ndarray, squares: np.ndarray, m: int, method: str) -> Decomposition:
    """A ``Decomposition`` from per-input ``orbit_energies`` (averaged over inputs, with standard errors)."""
    n = len(energies)
    se = energies.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.full(energies.shape[1], np.nan)
    return Decomposition(m, dict(zip(partitions(m), energies.mean(0).tolist())), float(squares.mean()), method,
                         dict(zip(partitions(m), se.tolist())))


__all__ = ["Decomposition", "MAX_ORBIT", "PointIndex", "permutation_autocorrelations",
           "decompose_table", "decomposition_from_orbits", "energies_from_autocorrelations", "orbit_energies",
           "ratio_with_error", "symmetric_fraction_pairs"]
