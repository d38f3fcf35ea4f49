"""Small helpers the notebooks in ``analyses/`` share: finding the repo, showing claims and figures."""

from __future__ import annotations

import io
import os
from html import escape
from pathlib import Path
from typing import Any

VERDICT_COLOURS = {"found": "#d9f2d9", "partial": "#fff2cc", "not_found": "#f8d7da"}


def repo_root() -> Path:
    """The repository: the first folder above the working directory (``analyses/`` or the root) holding
    ``pyproject.toml`` and ``interp/``, else the one the (editable) package was imported from."""
    import interp

    for start in (Path.cwd(), Path(interp.__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").exists() and (folder / "interp").is_dir():
                return folder
    raise FileNotFoundError(f"no interp repository above {Path.cwd()}")


def checkpoint_dir(task_name: str) -> Path:
    """The shipped default checkpoint of ``task_name``, or ``$INTERP_<TASK>_CHECKPOINT`` when set."""
    variable = f"INTERP_{task_name.upper()}_CHECKPOINT"
    path = Path(os.environ.get(variable, repo_root() / "trained_models" / task_name / "default-seed0"))
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} has no checkpoint: train one with `.venv/bin/interp train {task_name}`")
    return path


def claims_table(claims: list[Any]) -> Any:
    """Analysis claims as a small coloured HTML table (no pandas needed)."""
    from IPython.display import HTML

    rows = "".join(
        f"<tr style='background:{VERDICT_COLOURS.get(c.verdict, 'white')}'><td>{escape(c.name)}</td>"
        f"<td>{escape(c.expected)}</td><td>{'n/a' if c.value is None else f'{c.value:.3g}'}</td>"
        f"<td><b>{c.verdict}</b></td><td><small>{escape(c.detail)}</small></td></tr>"
        for c in claims
    )
    head = "<tr><th>claim</th><th>theory expects</th><th>measured</th><th>verdict</th><th>detail</th></tr>"
    return HTML(f"<table style='text-align:left'>{head}{rows}</table>")


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
                display(Image(filename=str(plot.draw(Path(folder)))))
