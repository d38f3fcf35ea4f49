"""The statistics rows are computed from: runs picked by their parameters, medians and spreads over seeds,
log-log slopes with bootstrap intervals, and the reasons a statistic could not be computed.

A statistic that could not be computed returns an ``Untested`` (``interp.grading``) in place of its value,
saying why, and the row's rule passes it on as the row's ``untested`` verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..grading import Untested
from .base import Measured, RunResult

NO_FINISHED_RUN = "none of its runs finished"  # the reason when a row's every run failed


def no_run(cells: Iterable[Any]) -> str:
    """The reason a row over ``cells`` (tasks, sizes) is untested: those of its cells with no finished run."""
    return "no run finished at " + ", ".join(map(str, cells))


def ok_results(results: Iterable[RunResult], **params: Any) -> list[RunResult]:
    """The successful results whose params match ``params`` (a group of seeds)."""
    return [r for r in results if r.ok and all(r.params.get(k) == v for k, v in params.items())]


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are there (not None), or None where none is."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are there (not None), or None where none is."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max over seeds (``None`` values, from runs that never got there, are counted)."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return {"median": None, "low": None, "high": None, "n": len(values), "missing": len(values)}
    return {"median": statistics.median(present), "low": present[0], "high": present[-1], "n": len(values),
            "missing": len(values) - len(present)}


def measured_or(value: Any, reason: str) -> Any:
    """``value``, or ``Untested(reason)`` where it is None (it could not be measured)."""
    return Untested(reason) if value is None else value


def loglog_slope(x: Sequence[float], y: Sequence[float], groups: Sequence[Any] | None = None,
                 resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Least-squares slope of ``log y`` against ``log x`` and a 95 % bootstrap interval.

    ``groups`` (e.g. the seed of each point) are resampled as wholes, so the interval reflects the spread
    over seeds rather than treating points of one seed as independent.
    """
    import numpy as np

    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(set(lx.tolist())) < 2:
        return {"slope": None, "low": None, "high": None, "points": len(lx)}

    def fit(ix: np.ndarray) -> float:
        return float(np.polyfit(lx[ix], ly[ix], 1)[0]) if len(set(lx[ix].tolist())) > 1 else float("nan")

    slope = fit(np.arange(len(lx)))
    labels = np.asarray(groups if groups is not None else np.arange(len(lx)))
    unique = np.unique(labels)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples):
        chosen = rng.choice(unique, size=len(unique), replace=True)
        ix = np.concatenate([np.flatnonzero(labels == g) for g in chosen])
        boots.append(fit(ix))
    boots = np.asarray([b for b in boots if math.isfinite(b)])
    low, high = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if len(boots) else (None, None)
    return {"slope": slope, "low": low, "high": high, "points": len(lx)}


def slope_at_least(reached: Iterable[tuple[float, float]], censored: Iterable[tuple[float, float]]) -> float | None:
    """The least log-log slope that censored points allow: a size whose quantity never reached the goal within
    the budget has it above ``bound`` (the largest tried), so against a smaller size that reached it at ``w``
    the growth between the two is more than ``log(bound / w) / log(size / smaller)``. ``reached`` and
    ``censored``: ``(size, value)`` and ``(size, bound)`` points; the smallest such bound over the pairs (each
    holds on its own), None where no censored size is larger than a reached one."""
    bounds = [math.log(bound / w) / math.log(size / smaller)
              for size, bound in censored for smaller, w in reached if size > smaller]
    return min(bounds) if bounds else None


def too_few_sizes(reached: Iterable[Any], size: str, goal: str, budget: str) -> Untested | None:
    """Untested when fewer than two distinct sizes (``reached``: those of the points a log-log fit rests on)
    reached ``goal`` within ``budget``, since a slope needs two; None when a slope can be fitted."""
    sizes = sorted(set(reached))
    if len(sizes) >= 2:
        return None
    which = f"only {size} = {sizes[0]}" if sizes else f"no {size}"
    return Untested(f"{which} reached {goal} within {budget}, and a slope needs two sizes")


def gated(statistic: Callable[[list[RunResult]], Measured],
          gate: Callable[[list[RunResult]], Untested | None]) -> Callable[[list[RunResult]], Measured]:
    """``statistic``, its value untested where ``gate`` finds the runs could not decide it (a budget that did not
    reach what the row is about); what the statistic measured is shown either way."""

    def measure(runs: list[RunResult]) -> Measured:
        found, reason = statistic(runs), gate(runs)
        return Measured(reason, found.shown, found.detail) if reason else found

    return measure
