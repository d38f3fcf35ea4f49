"""Figures drawn to PNG with matplotlib (no display needed), from ``interp.plot.Plot`` data.

Analyses and experiments return ``Plot`` objects; only ``draw`` imports matplotlib.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..plot import Plot

HIGHLIGHT, PLAIN = "tab:orange", "tab:blue"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}


def image_data_uri(path: Path) -> str:
    """The image at ``path`` as a ``data:`` URI, so that a report embeds it and loads nothing."""
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot embed figure {path}: use one of {', '.join(IMAGE_TYPES)}")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def draw(plot: Plot, directory: str | Path) -> Path:
    """Draw ``plot`` to ``directory/<name>.png`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    d = plot.data
    if plot.kind == "heatmap":
        matrix = d["matrix"]
        fig, ax = plt.subplots(figsize=(max(5, 0.3 * matrix.shape[1] + 2), max(2.5, 0.35 * matrix.shape[0] + 1.5)))
        # Signed tables (QK, OV) get a diverging scale centred on 0; attention stays 0..max.
        if matrix.min() < 0:
            limit = float(np.abs(matrix).max())
            image = ax.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            image = ax.imshow(matrix, aspect="auto", cmap="Blues", vmin=0)
        ax.set_xticks(range(len(d["xlabels"])), d["xlabels"], rotation=90, fontsize=7)
        ax.set_yticks(range(len(d["ylabels"])), d["ylabels"], fontsize=7)
        fig.colorbar(image, ax=ax)
    elif plot.kind == "bars":
        labels, series = d["labels"], d["series"]
        fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(labels) * len(series) + 2), 3.2))
        width = 0.8 / len(series)
        for i, (name, values) in enumerate(series.items()):
            x = np.arange(len(labels)) + i * width
            colors = None
            if d.get("highlight") and len(series) == 1:
                colors = [HIGHLIGHT if h else PLAIN for h in d["highlight"]]
            ax.bar(x, [np.nan if v is None else v for v in values], width, label=name, color=colors)
        ax.set_xticks(np.arange(len(labels)) + width * (len(series) - 1) / 2, labels, rotation=90, fontsize=7)
        ax.set_ylabel(d.get("ylabel", ""))
        if len(series) > 1:
            ax.legend(fontsize=7)
    elif plot.kind == "lines":
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, values in d["series"].items():
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(d["x"], y, d["styles"].get(name, "-o"), label=name, markersize=3)
        ax.set_xscale("log" if d["logx"] else "linear")
        # A series with no value (no run got there) leaves nothing to put on a log axis.
        shown = [v for values in d["series"].values() for v in values if v is not None]
        ax.set_yscale("log" if d["logy"] and any(v > 0 for v in shown) else "linear")
        ax.set_xlabel(d["xlabel"])
        ax.set_ylabel(d["ylabel"])
        if len(d["series"]) > 1:
            ax.legend(fontsize=7)
    else:
        raise ValueError(f"unknown plot kind {plot.kind!r}; use bars, heatmap or lines")
    if d.get("hline") is not None:
        ax.axhline(d["hline"], color="grey", linestyle="--", linewidth=1)
    ax.set_title(plot.title, fontsize=9)
    fig.tight_layout()
    path = Path(directory) / f"{plot.name}.png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
