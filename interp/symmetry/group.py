"""The symmetric group S_L: partitions, characters (Murnaghan-Nakayama), dimensions, classes, permutations.

Conventions (docs/theory/symmetry.md): a permutation is an integer array ``p`` of length L with ``p[i] =
pi(i)``. S_L acts on sequences by ``(pi x)_mu = x_{pi^-1(mu)}``, so ``x[..., p]`` is ``pi^-1 x``. A
conjugacy class is a cycle type ``mu``, a partition of L written as a tuple of parts in decreasing order;
an irreducible representation is a partition ``lam`` (its Young diagram). Characters of S_L are integers
and real, so every formula below holds without complex conjugation.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import lru_cache

import numpy as np

from ..validation import TaskError, check_int

Partition = tuple[int, ...]
# Enumerating S_L (L! permutations) is the exact route up to here; beyond, classes are sampled.
MAX_ENUMERATED = 8


def check_partition(name: str, lam: Partition, n: int | None = None) -> Partition:
    """``lam`` as a tuple if it is a partition (of ``n`` when given): positive integer parts, non-increasing."""
    lam = tuple(lam)
    if not lam or any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1 for p in lam):
        raise TaskError(f"{name} must be a non-empty list of positive integers, got {list(lam)}")
    if any(a < b for a, b in zip(lam, lam[1:])):
        raise TaskError(f"{name} must be non-increasing, got {list(lam)}")
    if n is not None and sum(lam) != n:
        raise TaskError(f"{name} must sum to {n}, got {list(lam)} (sum {sum(lam)})")
    return tuple(int(p) for p in lam)


@lru_cache(maxsize=None)
def partitions(n: int) -> tuple[Partition, ...]:
    """Every partition of ``n``, from ``(n,)`` down to ``(1,)*n`` (reverse lexicographic order)."""
    check_int("n", n, 1, 60)

    def below(rest: int, largest: int) -> list[Partition]:
        if rest == 0:
            return [()]
        return [(first, *tail) for first in range(min(rest, largest), 0, -1) for tail in below(rest - first, first)]

    return tuple(below(n, n))


def asymmetry_order(lam: Partition) -> int:
    """``k = L - lam_1``: the boxes below the first row. 0 for the trivial irrep, 1 for ``(L-1, 1)``."""
    return sum(lam) - lam[0]


def hook_dimension(lam: Partition) -> int:
    """``d_lam = L! / prod(hook lengths)`` (the hook-length formula)."""
    lam = check_partition("lam", lam)
    conjugate = [sum(1 for part in lam if part > j) for j in range(lam[0])]
    hooks = math.prod(lam[i] - j + conjugate[j] - i - 1 for i in range(len(lam)) for j in range(lam[i]))
    return math.factorial(sum(lam)) // hooks


def z_value(mu: Partition) -> int:
    """``z_mu = prod_i i^{m_i} m_i!``: the centraliser order, so the class has ``L!/z_mu`` elements."""
    return math.prod(i**m * math.factorial(m) for i, m in Counter(mu).items())


def class_size(mu: Partition) -> int:
    return math.factorial(sum(mu)) // z_value(mu)


@lru_cache(maxsize=None)
def _character(beta: tuple[int, ...], mu: Partition) -> int:
    """Murnaghan-Nakayama on beta-numbers: removing a rim hook of length r moves one bead from b to b - r
    (onto a free place), with sign (-1)^(beads jumped over)."""
    if not mu:
        return 1
    r, rest = mu[0], mu[1:]
    beads = set(beta)
    total = 0
    for b in beta:
        if b - r >= 0 and b - r not in beads:
            jumped = sum(1 for c in beta if b - r < c < b)
            moved = tuple(sorted((beads - {b}) | {b - r}))
            total += (-1) ** jumped * _character(moved, rest)
    return total


def character(lam: Partition, mu: Partition) -> int:
    """``chi_lam(mu)``: the character of irrep ``lam`` on the class of cycle type ``mu`` (same L)."""
    lam, mu = check_partition("lam", lam), check_partition("mu", mu, sum(lam))
    beta = tuple(sorted(part + len(lam) - 1 - i for i, part in enumerate(lam)))
    return _character(beta, mu)


@lru_cache(maxsize=None)
def character_table(n: int) -> np.ndarray:
    """``[lam, mu]`` over ``partitions(n)`` for both axes (float64, exact integers)."""
    parts = partitions(n)
    return np.array([[character(lam, mu) for mu in parts] for lam in parts], dtype=np.float64)


@lru_cache(maxsize=None)
def dimensions(n: int) -> np.ndarray:
    """``d_lam`` for ``lam`` in ``partitions(n)`` (the character at the identity, ``mu = 1^n``)."""
    return character_table(n)[:, -1].copy()


@lru_cache(maxsize=None)
def z_values(n: int) -> np.ndarray:
    return np.array([z_value(mu) for mu in partitions(n)], dtype=np.float64)


def class_index(n: int) -> dict[Partition, int]:
    return {mu: i for i, mu in enumerate(partitions(n))}


# --- permutations -------------------------------------------------------------------------------


def cycle_type(p: np.ndarray) -> Partition:
    """The cycle type of one permutation array, as a partition."""
    return partition_of_counts(cycle_counts(np.asarray(p)[None])[0])


def cycle_counts(perms: np.ndarray) -> np.ndarray:
    """``[P, L+1]``: column ``l`` counts the cycles of length ``l`` of each permutation in ``perms [P, L]``."""
    perms = np.asarray(perms)
    P, L = perms.shape
    length = np.zeros((P, L), dtype=np.int64)
    current = perms.copy()
    identity = np.arange(L)
    for t in range(1, L + 1):  # the smallest t with p^t(i) = i is the length of i's cycle
        hit = (current == identity) & (length == 0)
        length[hit] = t
        if (length > 0).all():
            break
        current = np.take_along_axis(perms, current, axis=1)
    counts = np.zeros((P, L + 1), dtype=np.int64)
    for l in range(1, L + 1):
        counts[:, l] = (length == l).sum(1) // l
    return counts


def partition_of_counts(counts: np.ndarray) -> Partition:
    return tuple(l for l in range(len(counts) - 1, 0, -1) for _ in range(int(counts[l])))


def class_labels(perms: np.ndarray) -> np.ndarray:
    """``[P]``: the index in ``partitions(L)`` of each permutation's cycle type."""
    perms = np.asarray(perms)
    L = perms.shape[1]
    index = class_index(L)
    counts = cycle_counts(perms)
    codes = counts @ ((L + 1) ** np.arange(L + 1, dtype=np.int64))  # one integer per cycle type
    unique, first, inverse_ = np.unique(codes, return_index=True, return_inverse=True)
    return np.array([index[partition_of_counts(counts[i])] for i in first])[inverse_.reshape(-1)]


@lru_cache(maxsize=None)
def all_permutations(n: int) -> np.ndarray:
    """``[n!, n]``: every permutation of ``range(n)`` in lexicographic order (the identity first)."""
    check_int("L (to enumerate S_L)", n, 1, MAX_ENUMERATED)
    out = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    out.setflags(write=False)
    return out


def permutation_codes(perms: np.ndarray) -> np.ndarray:
    """A unique integer per permutation (base-L digits), for lookups."""
    perms = np.asarray(perms)
    L = perms.shape[-1]
    return perms @ (L ** np.arange(L, dtype=np.int64))


def canonical_permutation(mu: Partition) -> np.ndarray:
    """A permutation of cycle type ``mu``: consecutive blocks, each one cycle."""
    p, start = [], 0
    for part in mu:
        p += [start + (i + 1) % part for i in range(part)]
        start += part
    return np.array(p, dtype=np.int64)


def random_permutations_of_type(mu: Partition, count: int, rng: np.random.Generator) -> np.ndarray:
    """``[count, L]``: permutations uniform on the class of cycle type ``mu`` (the canonical one conjugated
    by uniform relabellings: sigma p sigma^-1 sends sigma(i) to sigma(p(i)))."""
    base = canonical_permutation(check_partition("mu", mu))
    L = len(base)
    sigma = np.argsort(rng.random((count, L)), axis=1)
    out = np.empty_like(sigma)
    np.put_along_axis(out, sigma, np.take_along_axis(sigma, np.broadcast_to(base, sigma.shape), 1), axis=1)
    return out


def random_permutations(count: int, L: int, rng: np.random.Generator) -> np.ndarray:
    """``[count, L]`` uniform random permutations."""
    return np.argsort(rng.random((count, L)), axis=1)


def compose(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``p o q`` (apply q first): ``(p o q)[i] = p[q[i]]``; broadcasts over leading axes."""
    p, q = np.broadcast_arrays(np.asarray(p), np.asarray(q))
    return np.take_along_axis(p, q, axis=-1)


def inverse(p: np.ndarray) -> np.ndarray:
    return np.argsort(np.asarray(p), axis=-1)


__all__ = [
    "MAX_ENUMERATED", "Partition", "all_permutations", "asymmetry_order", "canonical_permutation", "character",
    "character_table", "check_partition", "class_index", "class_labels", "class_size", "compose", "cycle_counts",
    "cycle_type", "dimensions", "hook_dimension", "inverse", "partitions", "permutation_codes",
    "random_permutations", "random_permutations_of_type", "z_value", "z_values",
]
