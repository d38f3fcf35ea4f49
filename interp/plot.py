"""A figure as plain data: what analyses and experiments return and ``interp.viz`` draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Plot:
    """A figure as data. ``kind``: ``bars`` (one bar group per label), ``heatmap`` (a matrix) or ``lines``
    (series over a shared x axis)."""

    name: str
    kind: str
    title: str
    data: dict[str, Any]

    @classmethod
    def bars(cls, name: str, title: str, labels: list[str], series: dict[str, list[float]],
             highlight: list[bool] | None = None, hline: float | None = None, ylabel: str = "") -> "Plot":
        return cls(name, "bars", title, dict(labels=labels, series=series, highlight=highlight, hline=hline, ylabel=ylabel))

    @classmethod
    def heatmap(cls, name: str, title: str, matrix: Any, xlabels: list[str], ylabels: list[str]) -> "Plot":
        return cls(name, "heatmap", title, dict(matrix=np.asarray(matrix, dtype=float), xlabels=xlabels, ylabels=ylabels))

    @classmethod
    def lines(cls, name: str, title: str, x: list[float], series: dict[str, list[float | None]], xlabel: str = "",
              ylabel: str = "", logx: bool = False, logy: bool = False, hline: float | None = None,
              styles: dict[str, str] | None = None) -> "Plot":
        """``series`` maps a legend label to y values over ``x`` (None leaves a gap); ``styles`` maps a label
        to a matplotlib format string such as ``"--"`` (a prediction) or ``"o"`` (points only)."""
        return cls(name, "lines", title, dict(x=list(x), series=series, xlabel=xlabel, ylabel=ylabel, logx=logx,
                                              logy=logy, hline=hline, styles=styles or {}))


__all__ = ["Plot"]
