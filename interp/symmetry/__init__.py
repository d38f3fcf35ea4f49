"""Permutation symmetry (Lavie, Gur-Ari & Ringel 2024): transformers in the Gaussian-process limit prefer
functions symmetric under permutations of positions, and the symmetric group S_L predicts their learning
curves. Derivations, reference numbers and what is known of the paper: docs/theory/symmetry.md.

- ``group``: partitions, characters (Murnaghan-Nakayama), dimensions, classes, permutations of S_L;
- ``energy``: isotypic energies of any function of a sequence, aggregated by asymmetry order;
- ``kernel``: the simplified block's GP kernel (closed form, Monte Carlo) and its spectrum by irreps;
- ``block``: the same block as a TransformerBridge (empirical kernel, readout training);
- ``learning``: eigenlearning predictions and exact GP regression;
- ``score``: the symmetry score of a toolkit model on its task (in every ``interp analyze`` report).
"""

from .energy import Decomposition, decompose_table, orbit_energies
from .group import character, character_table, dimensions, hook_dimension, partitions
from .kernel import kernel_spectrum, linear_kernel, monte_carlo_kernel
from .score import DOMAINS, symmetry_score

__all__ = ["DOMAINS", "Decomposition", "character", "character_table", "decompose_table", "dimensions",
           "hook_dimension", "kernel_spectrum", "linear_kernel", "monte_carlo_kernel", "orbit_energies", "partitions",
           "symmetry_score"]
