"""The Gaussian-process kernel of the simplified attention block, and its spectrum labelled by irreps of S_L.

The block (docs/theory/symmetry.md, "The simplified block"): tokens ``t_1 .. t_L`` in ``range(V)``, inputs
``x_mu = e_{t_mu} (+) p_mu`` (one-hot token, positional embedding of variance ``sp2`` per entry summed
over its width), and per head

    s_{mu nu} = q_mu . k_nu / sqrt(d_k),   q = W_Q x, k = W_K x, v = w_V . x,   weights iid N(0, 1),
    f(x) = H^-1/2 sum_h a_h sum_mu r_mu (1/L) sum_nu s_{mu nu} v_nu          (linear attention)
    f(x) = H^-1/2 sum_h a_h sum_mu r_mu sum_nu softmax_nu(s_mu)_nu v_nu     (softmax attention).

With the overlap ``G_{mu nu}(x, x') = x_mu . x'_nu = [t_mu = t'_nu] + sp2 [mu = nu]`` (infinite positional
width) the linear block's covariance is exact at any number of heads:

    K(x, x') = (sum_{mu mu'} r_mu r_mu' G_{mu mu'}) (sum_{nu nu'} G_{nu nu'}^2) / L^2,

which with mean readout ``r = 1/L`` is ``L^-4 (sum G)(sum G^2)``. The softmax block has no closed form; its
kernel is estimated by Monte Carlo over the Gaussian logit field ``E[s s'] = G (x) G``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import TaskError, check_choice, check_float, check_int
from .energy import PointIndex
from .group import Partition, canonical_permutation, character_table, partitions, z_values

ATTENTION = ("linear", "softmax")


def check_tokens(name: str, tokens: np.ndarray, V: int) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise TaskError(f"{name} must be integer token ids [N, L], got shape {list(tokens.shape)} of {tokens.dtype}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= V):
        raise TaskError(f"{name} must hold token ids in [0, {V - 1}] (V={V})")
    return tokens.astype(np.int64)


def all_sequences(V: int, L: int) -> np.ndarray:
    """``[V^L, L]``: every sequence, in base-V order (closed under permutations of positions)."""
    check_int("V", V, 1)
    check_int("L", L, 1)
    if V**L > 1 << 22:
        raise TaskError(f"V^L = {V}^{L} is too many sequences to enumerate (at most {1 << 22})")
    digits = (np.arange(V**L)[:, None] // V ** np.arange(L - 1, -1, -1)[None, :]) % V
    return digits.astype(np.int64)


def mean_readout(L: int) -> np.ndarray:
    return np.full(L, 1.0 / L)


def overlap(a: np.ndarray, b: np.ndarray, sp2: float) -> np.ndarray:
    """``G [N, M, L, L]``: ``G[n, m, mu, nu] = [a[n, mu] == b[m, nu]] + sp2 [mu == nu]``."""
    a, b = np.asarray(a), np.asarray(b)
    L = a.shape[1]
    return (a[:, None, :, None] == b[None, :, None, :]).astype(np.float64) + sp2 * np.eye(L)


def kernel_from_overlap(G: np.ndarray, readout: np.ndarray) -> np.ndarray:
    """The linear block's kernel from the overlap: ``(r G r) * sum G^2 / L^2`` (the recipe, O(N M L^2))."""
    L = G.shape[-1]
    return np.einsum("m,nkmo,o->nk", readout, G, readout) * (G**2).sum((2, 3)) / L**2


def linear_kernel(a: np.ndarray, b: np.ndarray | None = None, *, V: int, sp2: float = 1.0,
                  readout: np.ndarray | None = None) -> np.ndarray:
    """``K [N, M]`` of the linear-attention block in closed form, through token counts (O(N M (V + L))).

    ``sum r r' G = R(x).R(x') + sp2 |r|^2`` with ``R_a(x) = sum_mu r_mu [t_mu = a]``, and
    ``sum G^2 = n(x).n(x') + 2 sp2 (positions that agree) + sp2^2 L`` with ``n_a`` the count of token a.
    """
    a = check_tokens("a", a, V)
    b = a if b is None else check_tokens("b", b, V)
    check_float("sp2", sp2, 0)
    L = a.shape[1]
    if b.shape[1] != L:
        raise TaskError(f"a and b must have the same length L, got {L} and {b.shape[1]}")
    r = mean_readout(L) if readout is None else np.asarray(readout, dtype=np.float64)
    if r.shape != (L,):
        raise TaskError(f"readout must have L={L} weights, got shape {list(r.shape)}")
    onehot_a, onehot_b = np.eye(V)[a], np.eye(V)[b]  # [N, L, V]
    weighted = np.einsum("l,nlv->nv", r, onehot_a) @ np.einsum("l,nlv->nv", r, onehot_b).T + sp2 * (r**2).sum()
    counts = onehot_a.sum(1) @ onehot_b.sum(1).T
    agree = onehot_a.reshape(len(a), -1) @ onehot_b.reshape(len(b), -1).T
    return weighted * (counts + 2 * sp2 * agree + sp2**2 * L) / L**2


# --- Monte Carlo over random networks ------------------------------------------------------------


def sample_block_outputs(tokens: np.ndarray, *, V: int, sp2: float, attention: str, networks: int, seed: int,
                         d_k: int | None = 8, positional_width: int | None = None,
                         readout: np.ndarray | None = None, chunk: int = 500) -> np.ndarray:
    """``[networks, N]``: outputs of independent random one-head blocks on ``tokens [N, L]``.

    ``d_k=None`` draws the logit field directly, ``s = phi_mu^T Z phi_nu`` with Z a Gaussian matrix (the
    ``d_k -> inf`` limit, exactly Gaussian with covariance ``G (x) G``); otherwise ``s = q.k / sqrt(d_k)``.
    ``positional_width=None`` uses exact positional features ``sqrt(sp2) e_mu``; a width W draws
    ``p_mu ~ N(0, sp2/W)^W`` afresh for every network.
    """
    tokens = check_tokens("tokens", tokens, V)
    check_choice("attention", attention, ATTENTION)
    check_int("networks", networks, 1)
    N, L = tokens.shape
    r = mean_readout(L) if readout is None else np.asarray(readout, dtype=np.float64)
    rng = np.random.default_rng(seed)
    outputs = np.empty((networks, N))  # one buffer: a small array kept per chunk fragments the heap (tasks.evaluation)
    for start in range(0, networks, chunk):
        S = min(chunk, networks - start)
        W = L if positional_width is None else positional_width
        if positional_width is None:
            positions = np.broadcast_to((sp2**0.5) * np.eye(L), (S, L, L))
        else:
            positions = rng.standard_normal((S, L, W)) * (sp2 / W) ** 0.5

        def features(weights: np.ndarray) -> np.ndarray:
            """``[S, N, L, ...]``: ``weights . x_mu`` for weights ``[S, V + W, ...]`` (token row + positional part)."""
            token_part = weights[:, :V][:, tokens]  # [S, N, L, ...]
            position_part = np.einsum("slw,sw...->sl...", positions, weights[:, V:])
            return token_part + position_part[:, None]

        if d_k is None:
            left = features(rng.standard_normal((S, V + W, V + W)))  # [S, N, L, D]: phi_mu^T Z
            phi = features(np.broadcast_to(np.eye(V + W), (S, V + W, V + W)))
            scores = np.einsum("snmd,snld->snml", left, phi)
        else:
            q = features(rng.standard_normal((S, V + W, d_k)))
            k = features(rng.standard_normal((S, V + W, d_k)))
            scores = np.einsum("snmd,snld->snml", q, k) / d_k**0.5
        v = features(rng.standard_normal((S, V + W)))  # [S, N, L]
        a = rng.standard_normal((S, 1))
        if attention == "softmax":
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
        else:
            weights = scores / L
        outputs[start:start + S] = a * np.einsum("m,snml,snl->sn", r, weights, v)
    return outputs


def monte_carlo_kernel(tokens: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """The sample covariance ``mean f f^T`` over ``sample_block_outputs(tokens, **kwargs)`` networks, and the
    standard error of each entry."""
    return covariance_with_error(sample_block_outputs(tokens, **kwargs))


def covariance_with_error(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean f f^T`` over the rows of ``outputs [M, N]`` (one network each) and each entry's standard error,
    from the first two moments of the products (no ``[M, N, N]`` array)."""
    M = len(outputs)
    mean = outputs.T @ outputs / M
    second = (outputs**2).T @ (outputs**2) / M
    variance = np.clip(second - mean**2, 0, None) * M / (M - 1)
    return mean, np.sqrt(variance / M)


def relative_error(estimate: np.ndarray, exact: np.ndarray) -> float:
    """``||estimate - exact||_F / ||exact||_F``."""
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


# --- invariance -----------------------------------------------------------------------------------


def permutation_invariance(kernel, tokens: np.ndarray, seed: int = 0, trials: int = 4) -> dict[str, float]:
    """Largest ``|K(pi x, pi x') - K(x, x')|`` over random permutations applied to both sides, and the
    largest change when only one side is permuted (``kernel(a, b) -> [N, M]``)."""
    rng = np.random.default_rng(seed)
    base = kernel(tokens, tokens)
    both, one = 0.0, 0.0
    for _ in range(trials):
        p = rng.permutation(tokens.shape[1])
        both = max(both, float(np.abs(kernel(tokens[:, p], tokens[:, p]) - base).max()))
        one = max(one, float(np.abs(kernel(tokens[:, p], tokens) - base).max()))
    return {"simultaneous": both, "one_sided": one}


# --- the spectrum, labelled by irreps ------------------------------------------------------------


@dataclass
class EigenGroup:
    """One eigenvalue of ``K/N`` (the kernel operator on the uniform measure) with its eigenspace."""

    value: float
    degeneracy: int
    irreps: dict[Partition, int]  # multiplicity of each irrep in the eigenspace
    vectors: np.ndarray = field(repr=False)  # [N, degeneracy], orthonormal columns

    @property
    def label(self) -> str:
        return " + ".join(("" if m == 1 else f"{m}x") + "(" + ",".join(map(str, lam)) + ")"
                          for lam, m in self.irreps.items())

    @property
    def irrep(self) -> Partition | None:
        """The irrep when the eigenspace is exactly one copy of one irrep, else None."""
        return next(iter(self.irreps)) if len(self.irreps) == 1 and next(iter(self.irreps.values())) == 1 else None


def eigenspace_character(vectors: np.ndarray, index: PointIndex, L: int) -> np.ndarray:
    """``chi_U(mu) = Tr(P_U R_pi)`` for one permutation of each cycle type: exact, since an invariant
    subspace's character is a class function."""
    out = np.empty(len(partitions(L)))
    for i, mu in enumerate(partitions(L)):
        moved = index.rows(index.points[:, canonical_permutation(mu)])  # (R_pi u)(x) = u(x[:, p])
        out[i] = float(np.einsum("nc,nc->", vectors, vectors[moved]))
    return out


def irrep_multiplicities(char: np.ndarray, L: int) -> dict[Partition, int]:
    """Decompose a character into irreducibles: ``m_lam = sum_mu chi(mu) chi_lam(mu) / z_mu``."""
    multiplicities = character_table(L) @ (char / z_values(L))
    rounded = np.rint(multiplicities)
    if np.abs(multiplicities - rounded).max() > 1e-6:
        raise ValueError(f"not a character of S_{L}: multiplicities {multiplicities.round(4).tolist()}")
    return {lam: int(m) for lam, m in zip(partitions(L), rounded) if m}


def kernel_spectrum(K: np.ndarray, points: np.ndarray, V: int, tolerance: float = 1e-8) -> list[EigenGroup]:
    """Eigenvalues of ``K/N`` on ``points`` (closed under permutations), grouped by degeneracy, largest
    first, each labelled by the irreps its eigenspace carries. Eigenvalues below ``tolerance`` times the
    largest are left out (the kernel's null space)."""
    index = PointIndex(points, V)
    L = index.points.shape[1]
    values, vectors = np.linalg.eigh(np.asarray(K, dtype=np.float64) / len(K))
    values, vectors = values[::-1], vectors[:, ::-1]
    cut = tolerance * max(values[0], 0.0)
    groups, start = [], 0
    while start < len(values) and values[start] > cut:
        end = start + 1
        while end < len(values) and abs(values[end] - values[start]) <= max(cut, 1e-9 * abs(values[start])):
            end += 1
        block = vectors[:, start:end]
        irreps = irrep_multiplicities(eigenspace_character(block, index, L), L)
        groups.append(EigenGroup(float(values[start:end].mean()), end - start, irreps, block))
        start = end
    return groups


__all__ = ["ATTENTION", "EigenGroup", "all_sequences", "check_tokens", "covariance_with_error", "eigenspace_character",
           "irrep_multiplicities", "kernel_from_overlap", "kernel_spectrum", "linear_kernel", "mean_readout",
           "monte_carlo_kernel", "overlap", "permutation_invariance", "relative_error", "sample_block_outputs"]
