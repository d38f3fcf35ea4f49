"""Re-summarising a committed experiment from its stored results, without running anything again.

A change to how an experiment summarises (a row's rule, a new verdict) reaches its committed summary in
seconds: ``resummarize`` reads ``results.jsonl`` and the options, seeds, scale and device that ``summary.json``
records, calls the experiment's ``summarize`` with them, and writes ``summary.json``, the plots, ``summary.md``
and ``report.html`` through the runner's own writer (``interp.viz.experiments.write_summary``), as a sweep would have.
``resummarized_rows`` gives the rows alone, as ``summary.json`` holds them, to compare with the committed ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import json_text
from ..paths import experiment_folder
from ..validation import TaskError
from ..viz.experiments import write_summary
from .base import Experiment, RunResult, Summary
from .registry import get_experiment


def committed(name: str, folder: str | Path | None = None) -> tuple[Path, dict[str, Any], list[RunResult]]:
    """The folder of experiment ``name``'s committed summary (``analyses/experiments/NAME``, the quick one, unless
    ``folder``: ``NAME/full`` for the full scale's),
    its ``summary.json`` and the results of ``results.jsonl``, in the order the sweep wrote them."""
    folder = Path(folder) if folder is not None else experiment_folder(name, quick=True)
    paths = [folder / "summary.json", folder / "results.jsonl"]
    if missing := [str(path) for path in paths if not path.is_file()]:
        raise TaskError(f"cannot re-summarise {name}: {', '.join(missing)} missing")
    summary = json.loads(paths[0].read_text(encoding="utf-8"))
    if summary.get("experiment") != name:
        raise TaskError(f"{paths[0]} is the summary of {summary.get('experiment')!r}, not of {name!r}")
    lines = paths[1].read_text(encoding="utf-8").splitlines()
    return folder, summary, [RunResult.from_dict(json.loads(line)) for line in lines if line.strip()]


def summarize_committed(name: str, folder: str | Path | None = None) -> tuple[Experiment, Summary, Path, dict, list]:
    """``name``'s summary computed afresh from its committed results, with the options and seeds it records."""
    experiment = get_experiment(name)
    folder, recorded, results = committed(name, folder)
    return experiment, experiment.summarize(results, recorded["options"], recorded["seeds"]), folder, recorded, results


def resummarized_rows(name: str, folder: str | Path | None = None) -> list[dict[str, Any]]:
    """The rows re-summarising would write, as ``summary.json`` holds them (JSON, non-finite floats as None)."""
    _, summary, *_ = summarize_committed(name, folder)
    return json.loads(json_text([row.to_dict() for row in summary.rows]))


def resummarize(name: str, folder: str | Path | None = None) -> dict[str, Any]:
    """Rewrite ``name``'s committed summary, plots and reports from its committed results; returns the new
    ``summary.json`` data. Its ``seconds`` stays the sweep's: re-summarising ran nothing."""
    experiment, summary, folder, recorded, results = summarize_committed(name, folder)
    return write_summary(folder, experiment, summary, results, options=recorded["options"], seeds=recorded["seeds"],
                         quick=recorded["scale"] == "quick", device=recorded["device"], seconds=recorded["seconds"],
                         machine=recorded.get("machine"))
