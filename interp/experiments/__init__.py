"""The papers' claims, reproduced: named experiments over populations of models (``interp experiment``).

``EXPERIMENTS`` (``registry.py``) maps each name (part of the interface) to its class; ``run_experiment``
runs one. See ``base.py`` for what an experiment is and ``runner.py`` for how it runs; ``resummarize.py``
rewrites a committed summary from its stored results, without running anything.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# Imported on first use, so that the command line's parser (interp.cli) does not load torch.
__getattr__, __dir__ = lazy_exports(__name__, {
    "EXPERIMENTS": ".registry", "get_experiment": ".registry", "run_experiment": ".runner",
    **{name: ".base" for name in ("Experiment", "Reference", "Row", "RunResult", "RunSpec", "Summary")}})

__all__ = ["EXPERIMENTS", "Experiment", "Reference", "Row", "RunResult", "RunSpec", "Summary", "get_experiment",
           "run_experiment"]
