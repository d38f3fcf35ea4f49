"""Where the project keeps its files, resolved against the repository root.

The root is ``$INTERP_ROOT`` if set; else the checkout this package was imported from (an editable
install: the folder above ``interp/`` holding ``pyproject.toml``); else the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def repository_root() -> Path:
    if os.environ.get("INTERP_ROOT"):
        return Path(os.environ["INTERP_ROOT"]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "interp").is_dir():
        return checkout
    return Path.cwd()


ROOT = repository_root()
TRAINED_MODELS = ROOT / "trained_models"  # <task>/<preset>-seed<N>/: checkpoints, shipped ones included
REPORTS = ROOT / "analyses" / "reports"  # <task>/<run>/: what `interp analyze` writes
EXPERIMENTS = ROOT / "analyses" / "experiments"  # <name>/ (--quick) and <name>/full/: what `interp experiment run` writes
DISCOVERY = ROOT / "analyses" / "discovery"  # <task>/<run>/<method>-<ablation>/: what `interp discover` writes


def experiment_subfolder(name: str, quick: bool) -> str:
    """Where experiment ``name``'s summary of one scale lives under ``EXPERIMENTS``: ``<name>`` at --quick,
    ``<name>/full`` at full scale, so that a full run sits beside the quick one instead of replacing it."""
    return name if quick else f"{name}/full"


def experiment_folder(name: str, quick: bool) -> Path:
    return EXPERIMENTS / experiment_subfolder(name, quick)


def find_checkpoints(root: str | Path = TRAINED_MODELS) -> list[Path]:
    """Every checkpoint directory ``<task>/<run>/`` under ``root``."""
    return sorted(config.parent for config in Path(root).glob("*/*/config.json"))
