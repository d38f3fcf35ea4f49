import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Locally every run draws fresh examples; CI draws the same (still random) ones each run, so a red CI
# run can be reproduced rather than being a one-off draw.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def like_interp_runs():
    """The whole session (tests and the fixtures they share) set up as `interp train` and each experiment run:
    freed memory kept for reuse, and one torch thread, since float sums split over threads round differently
    and the bit-for-bit tests compare against single-threaded runs (tiny models also train fastest so)."""
    import torch

    from interp.allocator import reuse_freed_memory

    reuse_freed_memory()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SHIPPED = ("parity", "selection", "counting")


@pytest.fixture(scope="session")
def shipped_reports(tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """The default models under ``trained_models/`` (shipped, or retrained by `make train` on this machine;
    ``$INTERP_ROOT`` moves the folder) analysed once per session, with HTML reports: task -> (summary, report dir)."""
    from interp.paths import TRAINED_MODELS
    from interp.viz.report import report_checkpoint

    out = {}
    for name in SHIPPED:
        directory = tmp_path_factory.mktemp(f"report-{name}")
        summary = report_checkpoint(TRAINED_MODELS / name / "default-seed0", out=directory)
        out[name] = (summary, directory)
    return out


def run_interp(*argv) -> tuple[int, str, str]:
    """``interp ARGV`` in this process: exit status, stdout, stderr (argparse's exits included)."""
    from interp.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli():
    """``run_interp``: a test asks for ``cli`` and calls ``cli("train", ...)``."""
    return run_interp


def train_killed_after_step(step: int, train_call: str) -> subprocess.CompletedProcess:
    """Run ``train_call`` (Python source) in a child process on one torch thread, as the tests run (float sums
    split over threads round differently), that exits hard with status 9 right after writing the resume state of
    step ``step``: a run killed mid-way."""
    code = f"""
import os, torch, interp.checkpoint as c
torch.set_num_threads(1)
original = c.write_tensors
def write_then_die(path, tensors, metadata=None):
    digest = original(path, tensors, metadata)
    if metadata and '"step": {step}' in metadata["state"]:
        os._exit(9)
    return digest
c.write_tensors = write_then_die
{train_call}
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


# The experiments that train transformers (or Wang et al.'s model, or a GP-limit bridge's readout): their summaries
# carry a mechanism census. The others train nothing: constructions, random networks, discovery on hand-built models.
CENSUS_EXPERIMENTS = {"parity-minimal", "parity-ffnn", "parity-frozen-attention", "parity-online", "selection-fcn",
                      "selection-length", "selection-dynamics", "symmetry-bias", "symmetry-learning-curves",
                      "counting-attention", "counting-bias", "positional-scale", "positional-bias-free", "positional-size"}


def check_census(summary: dict) -> None:
    """A summary's census, where its experiment trains transformers: one entry per group and model, whose statuses
    count every seed once and the solving seeds among them."""
    if summary["experiment"] not in CENSUS_EXPERIMENTS:
        assert not summary["census"]
        return
    assert summary["census"]
    for entry in summary["census"]:
        assert sum(entry["among_all"].values()) == entry["seeds"] >= 1
        assert sum(entry["among_solved"].values()) == entry["solved"] <= entry["seeds"]
        assert set(entry["among_all"]) == {"predicted", "partly", "absent", "untested"}
