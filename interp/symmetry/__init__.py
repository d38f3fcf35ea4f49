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

from ..lazy import lazy_exports

# Imported on first use, so that what does not score models (a family's declaration, the listings) never loads torch.
__getattr__, __dir__ = lazy_exports(__name__, {
    "DOMAINS": ".score", "symmetry_score": ".score", "kernel_spectrum": ".kernel", "linear_kernel": ".kernel",
    "monte_carlo_kernel": ".kernel", "Decomposition": ".energy", "decompose_table": ".energy",
    "orbit_energies": ".energy", **{name: ".group" for name in (
        "character", "character_table", "dimensions", "hook_dimension", "partitions")}})

__all__ = ["DOMAINS", "Decomposition", "character", "character_table", "decompose_table", "dimensions",
           "hook_dimension", "kernel_spectrum", "linear_kernel", "monte_carlo_kernel", "orbit_energies", "partitions",
           "symmetry_score"]
