"""Small helpers the notebooks in ``analyses/`` share: finding a checkpoint, showing figures."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ..paths import TRAINED_MODELS
from .claims import show_claims  # noqa: F401  (notebooks import it from here with the other helpers)
from .figures import draw


def checkpoint_dir(task_name: str, run: str = "default-seed0") -> Path:
    """The shipped checkpoint ``run`` of ``task_name``, or ``$INTERP_<TASK>_CHECKPOINT`` when set."""
    variable = f"INTERP_{task_name.upper()}_CHECKPOINT"
    path = Path(os.environ.get(variable, TRAINED_MODELS / task_name / run))
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} has no checkpoint: train one with `.venv/bin/interp train {task_name}`")
    return path


def show_figure(fig: Any) -> None:
    """Display a matplotlib figure as PNG, whatever the active backend, and close it."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue()))


def show_plots(analysis: Any, names: tuple[str, ...]) -> None:
    """Display the analysis plots called ``names`` (drawn to PNG in a temporary folder)."""
    import tempfile

    from IPython.display import Image, display

    with tempfile.TemporaryDirectory() as folder:
        for plot in analysis.plots:
            if plot.name in names:
                display(Image(filename=str(draw(plot, folder))))
