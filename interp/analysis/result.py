"""What an analysis returns: graded claims, plots to draw, and a one-line statement of the mechanism."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .claims import Claim


@dataclass
class Plot:
    """A plot as data; ``draw`` writes it as a PNG (matplotlib, no display needed)."""

    name: str
    kind: str  # "bars" | "heatmap"
    title: str
    data: dict[str, Any]

    @classmethod
    def bars(cls, name: str, title: str, labels: list[str], series: dict[str, list[float]],
             highlight: list[bool] | None = None, hline: float | None = None, ylabel: str = "") -> "Plot":
        return cls(name, "bars", title, dict(labels=labels, series=series, highlight=highlight, hline=hline, ylabel=ylabel))

    @classmethod
    def heatmap(cls, name: str, title: str, matrix: np.ndarray, xlabels: list[str], ylabels: list[str]) -> "Plot":
        return cls(name, "heatmap", title, dict(matrix=np.asarray(matrix), xlabels=xlabels, ylabels=ylabels))

    def draw(self, directory: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        d = self.data
        if self.kind == "heatmap":
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
        else:
            labels, series = d["labels"], d["series"]
            fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(labels) * len(series) + 2), 3.2))
            width = 0.8 / len(series)
            for i, (name, values) in enumerate(series.items()):
                x = np.arange(len(labels)) + i * width
                colors = None
                if d.get("highlight") and len(series) == 1:
                    colors = ["tab:orange" if h else "tab:blue" for h in d["highlight"]]
                ax.bar(x, values, width, label=name, color=colors)
            ax.set_xticks(np.arange(len(labels)) + width * (len(series) - 1) / 2, labels, rotation=90, fontsize=7)
            if d.get("hline") is not None:
                ax.axhline(d["hline"], color="grey", linestyle="--", linewidth=1)
            ax.set_ylabel(d.get("ylabel", ""))
            if len(series) > 1:
                ax.legend(fontsize=7)
        ax.set_title(self.title, fontsize=9)
        fig.tight_layout()
        path = directory / f"{self.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


@dataclass
class Analysis:
    claims: list[Claim]
    plots: list[Plot] = field(default_factory=list)
    mechanism: str = ""
    circuit: list[tuple[int, int]] = field(default_factory=list)
