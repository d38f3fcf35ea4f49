"""Has the circuit, beside solves the task: every transformer an experiment trains gets its mechanism status from
its family's probes (``interp.analysis.mechanism``: predicted / partly / absent / untested), recorded in its run
beside whether it solved the task; a summary's census counts them, so a reader sees how many seeds solved the task
and how many of those did it the way the proof does.

A run records ``measurements["mechanisms"] = {model: {"status": ..., "solved": ...}}``, one entry per model it
trained (``positional`` and ``standard``, say); ``census`` groups the entries by the run's group and model.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import RunResult

SAMPLES = 512  # probe samples: a census needs the verdicts, not the last digit of each probe's value


def mechanism(model: Any, task: Any, solved: bool, seed: int = 0, by_architecture: Sequence[str] = ()) -> dict[str, Any]:
    """The record of one trained model: its family's probes' status, and whether it ``solved`` the task (each
    experiment's own criterion). The probes run on the CPU, where the analysis is defined.

    ``by_architecture``: the names of claims the model's architecture makes true whatever it learns (Wang et al.'s
    fixed values, say); they are left out of the status, which then says what training found. A name that is not
    one of the analysis's claims raises KeyError."""
    from ..analysis.mechanism import assess
    from ..analysis.run import analyze_model  # the probes load torch: only a run that trained a model needs them
    from ..models import on_device

    # TransformerLens's patching draws a progress bar per call; from every run of a sweep they would bury the
    # sweep's own, so the census's probes run without them.
    with contextlib.redirect_stderr(io.StringIO()):
        analysis = analyze_model(on_device(model, "cpu"), task, samples=SAMPLES, seed=seed)
    fixed = {analysis.claim(name).name for name in by_architecture}
    return {"status": assess([c for c in analysis.claims if c.name not in fixed]).status, "solved": bool(solved)}


def census(results: Sequence["RunResult"]) -> list[dict[str, Any]]:
    """One entry per (group, model) of the finished runs that recorded mechanisms, in the order they first appear:
    the seeds, how many solved, and the statuses among the solving seeds and among all."""
    from ..analysis.mechanism import STATUSES

    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        if not result.ok:
            continue
        # by name: a run's measurements come back from JSON with their keys sorted
        for model, record in sorted(result.measurements.get("mechanisms", {}).items()):
            entry = entries.setdefault((result.group, model), {
                "group": result.group, "model": model, "seeds": 0, "solved": 0,
                "among_solved": dict.fromkeys(STATUSES, 0), "among_all": dict.fromkeys(STATUSES, 0)})
            entry["seeds"] += 1
            entry["among_all"][record["status"]] += 1
            if record["solved"]:
                entry["solved"] += 1
                entry["among_solved"][record["status"]] += 1
    return list(entries.values())
