"""What an experiment is: a named grid of runs, a measurement per run, and rows that put the paper's
number beside ours with a verdict.

An ``Experiment`` subclass declares

- ``options``: its knobs at full scale (JSON values), ``quick``: the overrides of ``--quick``, and the
  number of seeds at each scale; ``--set key=value`` overrides an option by name;
- ``grid(options, seeds)``: the runs, each a ``RunSpec`` (a group, JSON-ready parameters, a seed);
- ``measure(spec, device)``: one run, returning JSON-ready measurements. It must depend on nothing but
  its arguments (no global RNG), so a run gives the same numbers whoever executes it;
- ``summarize(results, options, seeds)``: the rows and plots.

A ``Row`` states its ``reference`` (the value, where it comes from, and what kind of number it is),
what we ``measured`` (median and spread over seeds, or a fitted slope with its interval), the ``rule``
that turns the two into a verdict, the ``verdict`` (``reproduced`` / ``partial`` / ``not_reproduced`` /
``untested``) and a ``detail`` that says what was seen, and how many runs it rests on against how many were asked.

``untested`` is for a claim that was never put to the test: the condition it is about never arose (no seed
had that bias, none solved), or the budget did not reach the measurement (fewer than two sizes reached the
threshold, so no slope). A summary says so with ``Untested(reason)`` wherever it would give a verdict (the
rules below take the reason as ``missing=`` for a value that could not be measured); the reason opens the
row's detail. A measurement that was made and came out wrong stays ``not_reproduced``.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..validation import TaskError
from ..viz.figures import Plot

VERDICTS = ("reproduced", "partial", "not_reproduced", "untested")
# What kind of number a reference is: the paper's own, the authors' released code or result files, a
# closed form derived in docs/theory, a proof-backed expectation, or a local reference run (a small
# CPU re-implementation: a target, not the paper's number).
REFERENCE_KINDS = ("paper", "authors_code", "closed_form", "proof", "reference_run")


def canonical(data: Any) -> str:
    """JSON with sorted keys and no spaces: the text a run's identity is hashed from."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid. ``group`` names the cell it belongs to (runs of one group differ by seed)."""

    group: str
    params: dict[str, Any]
    seed: int

    def run_id(self, experiment: str, device: str) -> str:
        """A hash of everything that determines the run's result."""
        text = canonical({"experiment": experiment, "group": self.group, "params": self.params, "seed": self.seed,
                          "device": device})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunResult:
    """A finished run as stored in ``runs/<id>.json`` and ``results.jsonl``. ``seconds`` is wall time, kept
    apart from ``measurements`` (which are the same whoever runs it)."""

    id: str
    experiment: str
    group: str
    params: dict[str, Any]
    seed: int
    device: str
    status: str  # "ok" | "failed"
    measurements: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Reference:
    """The number a row is checked against. ``value``: a number, a ``[low, high]`` range, a list, or text."""

    value: Any
    source: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE_KINDS:
            raise ValueError(f"reference kind must be one of {', '.join(REFERENCE_KINDS)}, got {self.kind!r}")


@dataclass(frozen=True)
class Untested:
    """The verdict of a claim that was never put to the test, and why (see the module docstring).

    ``row`` turns it into the row's ``untested`` verdict with ``reason`` opening its detail, and ``all_of``
    carries it through, so a summary has this one way to say "untested because ...".
    """

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("an untested verdict must say why")


Verdict = str | Untested  # what a summary hands to ``row``: one of VERDICTS but "untested", or an Untested
NO_FINISHED_RUN = "none of its runs finished"  # the reason when a row's every run failed


def no_run(cells: Iterable[Any]) -> str:
    """The reason a row over ``cells`` (tasks, sizes) is untested: those of its cells with no finished run."""
    return "no run finished at " + ", ".join(map(str, cells))


@dataclass
class Row:
    name: str
    reference: Reference
    measured: dict[str, Any]
    rule: str
    verdict: str
    detail: str = ""
    runs: int = 0  # finished runs the row rests on
    runs_asked: int = 0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"row {self.name!r}: verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if self.verdict == "untested" and not self.detail.strip():
            raise ValueError(f"untested row {self.name!r} must say why in its detail")

    @property
    def short_of_runs(self) -> bool:
        return self.runs < self.runs_asked

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["short_of_runs"] = self.short_of_runs
        return out


@dataclass
class Summary:
    rows: list[Row]
    plots: list[Plot] = field(default_factory=list)
    notes: str = ""  # Markdown: what the experiment does and how to read it


class Experiment:
    """Base class; see the module docstring."""

    name: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str]  # the paper(s) whose claims the rows check
    options: ClassVar[dict[str, Any]] = {}
    quick: ClassVar[dict[str, Any]] = {}
    seeds: ClassVar[int] = 5
    quick_seeds: ClassVar[int] = 3

    def grid(self, options: dict[str, Any], seeds: int) -> list[RunSpec]:
        raise NotImplementedError

    def measure(self, spec: RunSpec, device: str) -> dict[str, Any]:
        raise NotImplementedError

    def summarize(self, results: list[RunResult], options: dict[str, Any], seeds: int) -> Summary:
        raise NotImplementedError

    def resolve_options(self, quick: bool, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Full-scale options, ``quick`` overrides, then ``settings``; unknown or mistyped keys raise TaskError."""
        options = {**self.options, **(self.quick if quick else {})}
        for key, value in (settings or {}).items():
            if key not in options:
                raise TaskError(f"unknown option {key!r} for experiment {self.name}; options: {', '.join(sorted(options))}")
            options[key] = check_like(f"{self.name} option {key}", value, options[key])
        return options


def check_like(name: str, value: Any, example: Any) -> Any:
    """``value`` if it has the JSON shape of ``example`` (number, bool, string, list of the first element's kind)."""

    def kind(x: Any) -> str:
        if isinstance(x, bool):
            return "a boolean"
        if isinstance(x, int):
            return "an integer"
        if isinstance(x, float):
            return "a number"
        if isinstance(x, str):
            return "a string"
        if isinstance(x, list):
            return "a list"
        return "null" if x is None else type(x).__name__

    if isinstance(example, float) and kind(value) == "an integer":
        value = float(value)  # 1 is as good as 1.0 where a number is wanted
    if example is not None and kind(value) != kind(example):
        raise TaskError(f"{name} must be {kind(example)} like {json.dumps(example)}, got {json.dumps(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TaskError(f"{name} must be finite, got {value}")
    if isinstance(value, list):
        if not value:
            raise TaskError(f"{name} must not be empty")
        if example:
            value = [check_like(name, item, example[0]) for item in value]
    return value


# --- aggregation ----------------------------------------------------------------------------------


def ok_results(results: Iterable[RunResult], **params: Any) -> list[RunResult]:
    """The successful results whose params match ``params`` (a group of seeds)."""
    return [r for r in results if r.ok and all(r.params.get(k) == v for k, v in params.items())]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max over seeds (``None`` values, from runs that never got there, are counted)."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return {"median": None, "low": None, "high": None, "n": len(values), "missing": len(values)}
    return {"median": statistics.median(present), "low": present[0], "high": present[-1], "n": len(values),
            "missing": len(values) - len(present)}


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


# --- verdict rules ---------------------------------------------------------------------------------


def unmeasured(value: float | None, missing: str | None) -> Verdict | None:
    """What a rule says of a value that is not there, else None: untested for ``missing`` (why nothing could be
    measured) when the value is None and the caller gave that reason; not_reproduced for NaN (a run measured
    nonsense: a training that diverged) or for None without a reason."""
    if value is None and missing:
        return Untested(missing)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not_reproduced"
    return None


def at_least(value: float | None, reproduced: float, partial: float, missing: str | None = None) -> Verdict:
    if (verdict := unmeasured(value, missing)) is not None:
        return verdict
    return "reproduced" if value >= reproduced else "partial" if value >= partial else "not_reproduced"


def at_most(value: float | None, reproduced: float, partial: float, missing: str | None = None) -> Verdict:
    if (verdict := unmeasured(value, missing)) is not None:
        return verdict
    return "reproduced" if value <= reproduced else "partial" if value <= partial else "not_reproduced"


def within(value: float | None, low: float, high: float, slack: float = 0.0, missing: str | None = None) -> Verdict:
    """``reproduced`` inside ``[low, high]``, ``partial`` within ``slack`` (absolute) of it."""
    if (verdict := unmeasured(value, missing)) is not None:
        return verdict
    if low <= value <= high:
        return "reproduced"
    return "partial" if low - slack <= value <= high + slack else "not_reproduced"


def relative_error(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference) if reference else math.inf


def all_of(verdicts: Iterable[Verdict], missing: str = "no cell was measured") -> Verdict:
    """The weakest of several verdicts (a row that needs every cell to hold).

    One cell measured wrong decides the row (not_reproduced) whatever the others; short of that, a cell that
    was never tested leaves the row untested (with every such cell's reason), as does no cell at all.
    """
    verdicts = list(verdicts)
    if "not_reproduced" in verdicts:
        return "not_reproduced"
    reasons = [v.reason for v in verdicts if isinstance(v, Untested)]
    if reasons or not verdicts:
        return Untested("; ".join(dict.fromkeys(reasons)) or missing)
    return max(verdicts, key=VERDICTS.index)


def too_few_sizes(reached: Iterable[Any], size: str, goal: str, budget: str) -> Untested | None:
    """Untested when fewer than two distinct sizes (``reached``: those of the points a log-log fit rests on)
    reached ``goal`` within ``budget``, since a slope needs two; None when a slope can be fitted."""
    sizes = sorted(set(reached))
    if len(sizes) >= 2:
        return None
    which = f"only {size} = {sizes[0]}" if sizes else f"no {size}"
    return Untested(f"{which} reached {goal} within {budget}, and a slope needs two sizes")


def row(name: str, reference: Reference, measured: dict[str, Any], rule: str, verdict: Verdict, detail: str = "",
        results: Sequence[RunResult] = (), asked: int | None = None) -> Row:
    """A Row resting on ``results`` (its finished runs) out of ``asked``; an ``Untested`` verdict puts its
    reason at the head of the detail."""
    if isinstance(verdict, Untested):
        verdict, detail = "untested", "; ".join(part for part in (verdict.reason, detail) if part)
    finished = sum(r.ok for r in results)
    return Row(name, reference, measured, rule, verdict, detail, runs=finished,
               runs_asked=len(results) if asked is None else asked)


ExperimentFactory = Callable[[], Experiment]
