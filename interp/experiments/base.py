"""What an experiment is: a named grid of runs, a measurement per run, and rows that put the paper's
number beside ours with a verdict.

An ``Experiment`` subclass declares

- ``options``: its knobs at full scale (JSON values), ``quick``: the overrides of ``--quick``, and the
  number of seeds at each scale; ``--set key=value`` overrides an option by name;
- ``grid(options, seeds)``: the runs, each a ``RunSpec`` (a group, JSON-ready parameters, a seed);
- ``measure(spec, device)``: one run, returning JSON-ready measurements. It must depend on nothing but
  its arguments (no global RNG), so a run gives the same numbers whoever executes it;
- ``rows(options)``: its rows as data, ``RowSpec``s; ``plots(results, options, seeds)`` and
  ``notes(results, options, seeds)`` apart from them. ``summarize`` evaluates the rows on the results and
  puts the three together in a ``Summary``.

A ``RowSpec`` names the row, its ``Reference`` (the value, where it comes from, and what kind of number it
is), the runs it rests on, the ``statistic`` computed from those runs (``Measured``: the value the rule
grades, what the row shows as ``measured`` -- medians and spreads over seeds, a fitted slope with its
interval, from ``interp.experiments.statistics`` -- and a ``detail`` that says what was seen), and the
``rule`` (``interp.grading``) that turns the value into the verdict and states itself as the row's rule
sentence, so the sentence cannot disagree with the verdict. The resulting ``Row`` holds the verdict
(``reproduced`` / ``partial`` / ``not_reproduced`` / ``untested``) and how many runs it rests on against how
many were asked.

``untested`` is for a claim that was never put to the test: the condition it is about never arose (no seed
had that bias, none solved), or the budget did not reach the measurement (fewer than two sizes reached the
threshold, so no slope). A statistic says so by returning ``Untested(reason)`` as its value; every rule
passes it on, and the reason opens the row's detail. A measurement that was made and came out wrong stays
``not_reproduced``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..grading import Rule, Untested, Verdict
from ..plot import Plot
from ..validation import TaskError
from .census import census

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
    census: list[dict[str, Any]] = field(default_factory=list)  # interp.experiments.census, where runs recorded it


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
        """The rows ``rows`` declares, evaluated on ``results``, the plots, the notes and the mechanism census."""
        return Summary(evaluate_rows(self.rows(options), results), self.plots(results, options, seeds),
                       self.notes(results, options, seeds), census(results))

    def rows(self, options: dict[str, Any]) -> list[RowSpec]:
        raise NotImplementedError

    def plots(self, results: list[RunResult], options: dict[str, Any], seeds: int) -> list[Plot]:
        return []

    def notes(self, results: list[RunResult], options: dict[str, Any], seeds: int) -> str:
        """Markdown: what the experiment does and how to read it."""
        return ""

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


# --- rows declared as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """What a row's statistic makes of its runs: ``value`` for the rule to grade (an ``Untested`` where it could
    not be measured), ``shown`` (the row's ``measured``: medians, spreads, slopes) and the row's ``detail``."""

    value: Any
    shown: dict[str, Any]
    detail: str = ""


def every_run(result: RunResult) -> bool:
    return True


@dataclass(frozen=True)
class RowSpec:
    """A row as data: its name, the reference, the runs it rests on (``runs`` picks them), the ``statistic``
    computed from those runs, and the ``rule`` that grades the statistic's value and states itself as the row's
    rule sentence. ``reads`` picks the runs the statistic reads where they are more than those the row rests on
    (a detail that quotes the other tasks); ``shown_if`` leaves the row out of a summary whose runs it says
    nothing about."""

    name: str
    reference: Reference
    statistic: Callable[[list[RunResult]], Measured]
    rule: Rule
    runs: Callable[[RunResult], bool] = every_run
    reads: Callable[[RunResult], bool] | None = None
    shown_if: Callable[[list[RunResult]], bool] | None = None

    def evaluate(self, results: Sequence[RunResult]) -> Row | None:
        runs = [r for r in results if self.runs(r)]
        if self.shown_if is not None and not self.shown_if(runs):
            return None
        measured = self.statistic(runs if self.reads is None else [r for r in results if self.reads(r)])
        return row(self.name, self.reference, measured.shown, self.rule.sentence, self.rule.grade(measured.value),
                   measured.detail, runs)


def evaluate_rows(specs: Iterable[RowSpec], results: Sequence[RunResult]) -> list[Row]:
    """The rows of ``specs`` on ``results``, in order, leaving out those not shown."""
    return [made for spec in specs if (made := spec.evaluate(results)) is not None]


def row(name: str, reference: Reference, measured: dict[str, Any], rule: str, verdict: Verdict, detail: str = "",
        results: Sequence[RunResult] = ()) -> Row:
    """A Row resting on ``results`` (its runs, finished or not); an ``Untested`` verdict puts its reason at the
    head of the detail."""
    if isinstance(verdict, Untested):
        verdict, detail = "untested", "; ".join(part for part in (verdict.reason, detail) if part)
    return Row(name, reference, measured, rule, verdict, detail, runs=sum(r.ok for r in results),
               runs_asked=len(results))


ExperimentFactory = Callable[[], Experiment]
