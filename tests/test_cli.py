"""The command line's boundary: every bad value is refused up front with one line naming it and exit
status 2, memory beyond the machine is refused with the estimate and the limit, no raw exception escapes
for bad input (hypothesis over settings and over corrupted checkpoints), and nothing is left half-written.
Faults met while working (a training that diverges, a full disk, an output folder another run holds, a
damaged file read back) end in one line too, with status 1, and lose nothing already written."""

import dataclasses
import inspect
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import interp
from interp import checkpoint, limits
from interp.checkpoint import CheckpointError, load_checkpoint
from interp.defaults import configure
from interp.family import family_of
from interp.files import exclusive
from interp.models import ModelConfig, build_model
from interp.tasks import TASKS, evaluate, make_task
from interp.training import TrainConfig, train

from conftest import run_interp  # this folder's conftest: the in-process command line

ROOT = Path(__file__).resolve().parents[1]
TINY_TASK = {"n": 6, "k": 2}
TINY_MODEL = {"d_model": 32, "n_heads": 2, "d_mlp": 32}
# `interp train parity` with the tiny task and model, quietly, scored on few samples.
TINY_TRAIN = ["train", "parity", *[a for k, v in {**TINY_TASK, **TINY_MODEL}.items() for a in ("--set", f"{k}={v}")],
              "--quiet", "--eval-samples", "64"]
# `interp experiment run` of two runs of the parity construction (a second or two), without --out.
TINY_SWEEP = ["experiment", "run", "parity-construction", "--set", "ns=[6]", "--set", "ks=[2]", "--set", "samples=64",
              "--set", "reference_cells=[[6, 2]]", "--seeds", "1", "--jobs", "1", "--device", "cpu", "--quiet"]


cli = run_interp  # ``interp ARGV`` in this process: exit status, stdout, stderr


def run_cli(*args, cwd=None, **kwargs):
    """``python -m interp ARGS`` in a child process, as a user runs it; ``kwargs`` go to ``subprocess.run``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "interp", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, **kwargs)


def assert_one_line_error(code, err, *names, status=2):
    """Exit status ``status`` (2: bad input, 1: a fault met while working) and exactly one stderr line,
    ``interp ...: error: ...`` naming each of ``names``."""
    lines = err.splitlines()
    assert code == status, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.match(r"^interp( [a-z]+)?: error: ", lines[0]), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])


def stray_files(*folders: Path) -> list[Path]:
    """Temporary files an interrupted atomic write would leave (``.<name>.<random>``)."""
    return [p for folder in folders if folder.exists() for p in folder.rglob(".*")]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 5-step parity model, trained once for the module."""
    task = make_task("parity", **TINY_TASK)
    out = tmp_path_factory.mktemp("tiny") / "run"
    train(task, ModelConfig.for_task(task, **TINY_MODEL),
          TrainConfig(max_steps=5, batch_size=32, eval_every=5, eval_samples=64), out, progress=False)
    return out


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- the table of hand-picked bad inputs ----------------------------------------------------------
# Each row: id, argv ("{ckpt}" is a fresh copy of the tiny checkpoint, "{tmp}" a fresh folder, "{file}" a
# regular file), the text the one-line error must contain, and how to damage the copy first (or None).

def drop(*keys):
    """Damage: delete the key at path ``keys`` from config.json."""
    def change(config):
        for key in keys[:-1]:
            config = config[key]
        del config[keys[-1]]
    return lambda ckpt: edit_json(ckpt / "config.json", change)


def grow_d_model(ckpt: Path):
    edit_json(ckpt / "config.json", lambda config: config["model"].update(d_model=48))


def config_is_a_folder(ckpt: Path):
    (ckpt / "config.json").unlink()
    (ckpt / "config.json").mkdir()


DRY = ("--dry-run", "--out", "{tmp}/run")
BAD_INPUTS = [
    ("beta1 = 1", ["train", "parity", "--set", "beta1=1.0", *DRY], "beta1", None),
    ("beta2 < 0", ["train", "parity", "--set", "beta2=-0.1", *DRY], "beta2", None),
    ("lr nan", ["train", "parity", "--set", "lr=NaN", *DRY], "lr", None),
    ("p_one inf", ["train", "counting", "--set", "p_one=Infinity", *DRY], "p_one", None),
    ("weight_decay -inf", ["train", "parity", "--set", "weight_decay=-Infinity", *DRY], "weight_decay", None),
    ("grad_clip string", ["train", "parity", "--set", "grad_clip=big", *DRY], "grad_clip", None),
    ("target string", ["train", "parity", "--set", 'target="high"', *DRY], "target", None),
    ("target bool", ["train", "selection", "--set", "target=true", *DRY], "target", None),
    ("target list", ["train", "selection", "--set", "target=[0.1]", *DRY], "target", None),
    ("init_mode", ["train", "parity", "--set", "init_mode=orthogonal", *DRY], "init_mode", None),
    ("freeze_attention int", ["train", "parity", "--set", "freeze_attention=1", *DRY], "freeze_attention", None),
    ("lr_schedule", ["train", "parity", "--set", "lr_schedule=linear", *DRY], "lr_schedule", None),
    ("act_fn", ["train", "parity", "--set", "act_fn=tanh", *DRY], "act_fn", None),
    ("--threads 0", ["train", "parity", "--threads", "0", *DRY], "--threads", None),
    ("--threads text", ["train", "parity", "--threads", "two", *DRY], "--threads", None),
    ("--eval-samples 0", ["train", "parity", "--eval-samples", "0", *DRY], "--eval-samples", None),
    ("--seed negative", ["train", "parity", "--seed", "-1", *DRY], "--seed", None),
    ("eval --samples negative", ["eval", "{ckpt}", "--samples", "-5"], "--samples", None),
    ("--out is a file", ["train", "parity", "--dry-run", "--out", "{file}"], "--out", None),
    ("--out under a file", ["train", "parity", "--dry-run", "--out", "{file}/run"], "--out", None),
    # /proc takes no new folders, whoever asks (root included, for whom permission bits say yes).
    ("--out cannot be created", ["train", "parity", "--dry-run", "--out", "/proc/nope/x"], "--out", None),
    ("construct --out cannot be created", ["construct", "parity", "--out", "/proc/nope/x"], "--out", None),
    ("analyze --out cannot be created", ["analyze", "{ckpt}", "--out", "/proc/nope/x"], "--out", None),
    ("discover --out cannot be created", ["discover", "{ckpt}", "--method", "node", "--out", "/proc/nope/x"], "--out",
     None),
    ("experiment run --out cannot be created", ["experiment", "run", "parity-construction", "--out", "/proc/nope/x"],
     "--out", None),
    ("experiment table --readme cannot be created", ["experiment", "table", "--readme", "/proc/nope/README.md"],
     "--readme", None),
    ("truncated resume file", [*TINY_TRAIN, "--resume", "--out", "{ckpt}"], "resume.safetensors is not a readable",
     lambda ckpt: (ckpt / "resume.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:300])),
    ("resume file without a training state", [*TINY_TRAIN, "--resume", "--out", "{ckpt}"], "no interp training state",
     lambda ckpt: shutil.copy(ckpt / "model.safetensors", ckpt / "resume.safetensors")),
    ("construct --out is a file", ["construct", "parity", "--out", "{file}"], "--out", None),
    ("analyze --out is a file", ["analyze", "{ckpt}", "--out", "{file}"], "--out", None),
    ("--resume with nothing", ["train", "parity", "--resume", *DRY], "--resume", None),
    ("config.json without weights", ["eval", "{ckpt}"], "'weights'", drop("weights")),
    ("config.json without weights.sha256", ["eval", "{ckpt}"], "weights.sha256", drop("weights", "sha256")),
    ("config.json without task", ["analyze", "{ckpt}", "--out", "{tmp}/report"], "'task'", drop("task")),
    ("config.json without a model field", ["eval", "{ckpt}"], "d_model", drop("model", "d_model")),
    ("config.json without a task field", ["eval", "{ckpt}"], "subset", drop("task", "params", "subset")),
    ("config.json shapes do not match weights", ["eval", "{ckpt}"], "embed.weight has shape [3, 32], the model needs [3, 48]",
     grow_d_model),
    ("unreadable checkpoint folder", ["analyze", "{ckpt}", "--out", "{tmp}/report"], "cannot be read",
     config_is_a_folder),
    ("metrics.json corrupt", ["eval", "{ckpt}"], "metrics.json",
     lambda ckpt: (ckpt / "metrics.json").write_text('{"steps": 5, "hist')),
    ("metrics.json history not a list", ["analyze", "{ckpt}", "--out", "{tmp}/report"], "history must be a list",
     lambda ckpt: (ckpt / "metrics.json").write_text('{"steps": 5, "history": null}')),
    ("metrics.json history with other heads", ["analyze", "{ckpt}", "--out", "{tmp}/report"], "attention_on_relevant",
     lambda ckpt: (ckpt / "metrics.json").write_text(
         '{"history": [{"step": 1, "attention_on_relevant": {"L0H0": 0.1}}, {"step": 2, "attention_on_relevant": {}}]}')),
    ("memory beyond the machine", ["train", "selection", "--set", "T=100000", *DRY], "GiB available", None),
    ("unknown task", ["train", "sorting", *DRY], "sorting", None),
    ("unknown key", ["train", "parity", "--set", "width=3", *DRY], "width", None),
    ("ambiguous key", ["train", "parity", "--set", "seed=3", *DRY], "ambiguous", None),
    ("k > n", ["train", "parity", "--set", "n=5", "--set", "k=6", *DRY], "k", None),
    ("q > T", ["train", "selection", "--set", "T=4", "--set", "q=5", *DRY], "q", None),
    ("negative size", ["train", "parity", "--set", "d_model=-3", *DRY], "d_model", None),
    ("negative L", ["train", "counting", "--set", "L=-1", *DRY], "L", None),
    ("string for an int", ["train", "parity", "--set", 'n="twenty"', *DRY], "n must be", None),
    ("bool for an int", ["train", "parity", "--set", "batch_size=true", *DRY], "batch_size", None),
    ("float for an int", ["train", "selection", "--set", "T=16.0", *DRY], "T", None),
    ("bool for a float", ["train", "counting", "--set", "p_one=false", *DRY], "p_one", None),
    ("subset not a list", ["train", "parity", "--set", "subset=3", *DRY], "subset", None),
    ("model does not fit the task", ["train", "parity", "--set", "n_ctx=4", *DRY], "n_ctx", None),
    ("unknown preset", ["train", "parity", "--preset", "huge", *DRY], "huge", None),
    ("eval with a model setting", ["eval", "{ckpt}", "--set", "d_model=8"], "task settings", None),
    ("eval on a longer task than the model", ["eval", "{ckpt}", "--set", "n=30", "--set", "task.subset=[1,2]"],
     "n_ctx", None),
    ("eval a missing folder", ["eval", "{tmp}/nothing"], "no checkpoint directory", None),
    ("analyze nothing", ["analyze"], "--all", None),
    ("unknown command", ["sort"], "invalid choice", None),
    ("--set without =", ["train", "parity", "--set", "n", *DRY], "key=value", None),
    ("value task with n < 2", ["train", "cumsum", "--set", "n=1", *DRY], "n must be", None),
    ("value scale c = 0", ["train", "sort", "--set", "c=0", *DRY], "c must be", None),
    ("negative value scale", ["train", "cummin", "--set", "c=-3", *DRY], "c must be", None),
    ("NaN value scale", ["train", "cummedian", "--set", "c=NaN", *DRY], "c must be", None),
    ("unknown value task", ["train", "cumsumm", *DRY], "cumsumm", None),
    ("positional attention on a bridge", ["train", "cumsum", "--set", "architecture=bridge", *DRY],
     "positional='attention' needs architecture", None),
    ("concat layer without an MLP", ["train", "cumsum", "--set", "layer=concat", "--set", "d_mlp=0", *DRY], "d_mlp",
     None),
    ("standard attention on the scan construction",
     ["construct", "cumsum", "--set", "construction.positional=learned", "--out", "{tmp}/scan"], "positional", None),
    ("rotary attention on the scan construction",
     ["construct", "cummin", "--set", "construction.positional=rotary", "--out", "{tmp}/scan"], "positional", None),
    ("construction for a task that has none", ["construct", "sort", "--out", "{tmp}/scan"], "no construction", None),
]


@pytest.mark.parametrize("argv, names, prepare", [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_refused_with_one_line(argv, names, prepare, tiny_checkpoint, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    if prepare is not None:
        prepare(ckpt)
    (tmp_path / "a-file").write_text("not a folder")
    before = sorted(p for p in tmp_path.rglob("*"))
    args = [a.format(ckpt=ckpt, tmp=tmp_path, file=tmp_path / "a-file") for a in argv]
    code, out, err = cli(*args)
    assert_one_line_error(code, err, names)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written, not even a folder


def test_the_table_covers_the_issue():
    assert len(BAD_INPUTS) >= 20
    ids = " ".join(row[0] for row in BAD_INPUTS)
    for item in ("beta1", "nan", "inf", "target", "init_mode", "--threads", "--eval-samples", "--out is a file",
                 "--out under a file", "--out cannot be created", "truncated resume", "without weights",
                  "shapes do not match", "unreadable", "memory",
                 "unknown task", "unknown key", "k > n", "q > T", "negative"):
        assert item in ids, item


def test_unwritable_out_folder_is_refused(tmp_path):
    """A read-only folder for --out. Root ignores permission bits, so as root a read-only mount stands in."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root: chmod does not stop writes
            folder = next((Path(p) for p in ("/proc/sys", "/sys/fs") if Path(p).is_dir() and not os.access(p, os.W_OK)),
                          None)
            if folder is None:
                pytest.skip("running as root with no read-only folder on this machine to stand in")
        code, _, err = cli("train", "parity", "--dry-run", "--out", folder / "run")
        assert_one_line_error(code, err, "--out", "not writable")
        code, _, err = cli("analyze", ROOT / "trained_models" / "parity" / "default-seed0", "--out", folder / "report")
        assert_one_line_error(code, err, "--out", "not writable")
    finally:
        (tmp_path / "read-only").chmod(0o755)


def test_unreadable_checkpoint_folder_is_refused(tiny_checkpoint, tmp_path):
    """chmod 000 where permissions hold (not root); the config-as-a-folder row of the table covers root."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    (ckpt / "config.json").chmod(0o000)
    try:
        if os.access(ckpt / "config.json", os.R_OK):
            pytest.skip("root reads files whatever their permission bits; see the 'unreadable checkpoint folder' row")
        code, _, err = cli("eval", ckpt)
        assert_one_line_error(code, err, "cannot be read")
    finally:
        (ckpt / "config.json").chmod(0o644)


def test_real_command_line_refuses_without_a_traceback(tiny_checkpoint, tmp_path):
    """The same boundary through ``python -m interp`` (exit status and stderr as a shell sees them)."""
    (tmp_path / "a-file").write_text("x")
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    drop("model")(ckpt)
    for args, name in [
        (("train", "parity", "--threads", "0"), "--threads"),
        (("train", "parity", "--set", "beta2=1", "--out", tmp_path / "run"), "beta2"),
        (("train", "parity", "--out", tmp_path / "a-file"), "--out"),
        (("eval", ckpt), "'model'"),
    ]:
        result = run_cli(*args)
        assert_one_line_error(result.returncode, result.stderr, name)
    assert not (tmp_path / "run").exists()


# --- faults met while working: status 1, one line, and what was written stays ------------------------

DIVERGED = re.compile(r"training diverged: (?:(?:loss|gradient norm) is -?(?:nan|inf) at step (\d+)"
                      r"|the weights are not finite after step (\d+))")


def strict_json(text: str):
    """``text`` parsed as JSON that has no NaN or Infinity (which Python writes, and strict readers refuse)."""
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_diverging_training_stops_and_keeps_the_last_finite_resume_state(tmp_path):
    """lr=1000 makes the loss non-finite within a few steps: the run stops at that step, says so, writes no
    checkpoint, and the resume state of the step before stays (a resume state every step)."""
    out = tmp_path / "run"
    result = run_cli(*TINY_TRAIN, "--set", "lr=1000", "--set", "checkpoint_every=1", "--set", "eval_every=1",
                     "--out", out)
    assert_one_line_error(result.returncode, result.stderr, "training diverged", status=1)
    step = int(next(g for g in DIVERGED.search(result.stderr).groups() if g))
    assert step > 1  # the first step starts from finite weights
    assert sorted(p.name for p in out.iterdir()) == ["resume.safetensors"]  # no checkpoint, no metrics.json
    tensors, metadata = checkpoint.read_tensors_and_metadata(out / "resume.safetensors")
    state = strict_json(metadata["state"])
    assert state["step"] == step - 1
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    # Without clipping the gradient norm is computed to be checked all the same.
    code, _, err = cli(*TINY_TRAIN, "--set", "lr=1000", "--set", "grad_clip=0", "--out", tmp_path / "unclipped")
    assert_one_line_error(code, err, "training diverged", status=1)
    assert DIVERGED.search(err) and not (tmp_path / "unclipped").exists()


def test_a_full_scale_sweep_goes_beside_the_quick_one_with_its_machine_and_time(tmp_path):
    """Without --out, `interp experiment run NAME` writes the full scale to analyses/experiments/NAME/full/ and --quick
    to NAME/, so that neither replaces the other; each summary names the machine and the seconds it took."""
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "INTERP_ROOT": str(tmp_path)}
    folder = tmp_path / "analyses" / "experiments" / "parity-construction"
    for extra in ([], ["--quick"]):
        done = subprocess.run([sys.executable, "-m", "interp", *TINY_SWEEP, *extra], capture_output=True, text=True,
                              env=env)
        assert done.returncode == 0, done.stderr
    full, quick = (json.loads((path / "summary.json").read_text()) for path in (folder / "full", folder))
    assert (full["scale"], quick["scale"]) == ("full", "quick")
    for summary in (full, quick):
        assert "cores" in summary["machine"] and summary["seconds"] >= 0
    assert f"device cpu ({full['machine']}), {full['seconds']:g} s." in (folder / "full" / "summary.md").read_text()


def test_several_runs_train_over_workers_and_a_fault_in_one_spares_the_others(tmp_path, cli):
    """`make train`'s form, `interp train task:preset ... --jobs N`: each run goes to its default folder; one whose
    folder another process holds fails with one line naming it, and the others finish and are kept."""
    root = tmp_path / "root"
    held = root / "trained_models" / "cumsum" / "standard-seed0"
    with exclusive("--out", held):
        done = subprocess.run([sys.executable, "-m", "interp", "train", "cumsum", "cumsum:standard", "--jobs", "2",
                               "--quiet", "--eval-samples", "64"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd(), "INTERP_ROOT": str(root)})
    assert_one_line_error(done.returncode, done.stderr, "1 of 2 runs failed", "cumsum:standard", "in use", status=1)
    assert "cumsum/default-seed0" in done.stdout
    assert (root / "trained_models" / "cumsum" / "default-seed0" / "model.safetensors").is_file()
    assert not (held / "model.safetensors").exists()
    # What several runs cannot share, and runs that say their preset or seed twice, are refused before any trains.
    for argv, names in ((("parity", "cumsum", "--out", tmp_path / "x"), ("--out", "one run")),
                        (("parity", "cumsum", "--set", "lr=1"), ("--set",)),
                        (("parity:default", "--preset", "minimal"), ("parity:default", "not both")),
                        (("parity:default:x",), ("whole number",))):
        code, _, err = cli("train", *argv)
        assert_one_line_error(code, err, *names)
    assert not (tmp_path / "x").exists()


def test_a_diverging_run_in_an_experiment_is_a_failed_run(tmp_path):
    out = tmp_path / "sweep"
    code, _, err = cli("experiment", "run", "positional-size", "--set", "ns=[4]", "--set", "epochs=20", "--set", "train_size=64",
                       "--set", "batch_size=32", "--set", "lr=1000",
                       "--set", "test_samples=64", "--seeds", "1", "--jobs", "1", "--device", "cpu", "--quiet",
                       "--out", out)
    assert code == 0, err  # the sweep goes on; the run is recorded as failed, with the reason
    summary = strict_json((out / "summary.json").read_text())
    assert summary["runs"] == {"asked": 1, "finished": 0, "failed": 1}
    assert DIVERGED.search(summary["failures"][0]["error"]), summary["failures"]
    [line] = [strict_json(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert line["status"] == "failed" and line["error"].startswith("TrainingDiverged: training diverged")


def test_every_json_written_is_strict(tmp_path):
    """NaN and infinities become null, in nested objects and lists alike."""
    from interp.files import json_text, write_json

    data = {"loss": float("nan"), "history": [{"norm": float("inf")}, (1.5, float("-inf"))], "ok": 2}
    write_json(tmp_path / "x.json", data)
    assert strict_json((tmp_path / "x.json").read_text()) == {"loss": None, "history": [{"norm": None}, [1.5, None]],
                                                              "ok": 2}
    assert strict_json(json_text(data)) == strict_json((tmp_path / "x.json").read_text())


def file_size_limit(limit: int):
    """A ``preexec_fn`` that caps the size of any file the child writes: past it a write fails with EFBIG
    ("File too large"), as on a full disk (CPython ignores the SIGXFSZ that comes with it)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


class Killed(BaseException):
    """Stands in for a kill in the middle of saving (not an Exception, like KeyboardInterrupt)."""


def test_a_failed_write_loses_nothing(tiny_checkpoint, tmp_path, monkeypatch):
    """A write that fails (here a file-size limit, as a full disk would) ends in one line and status 1; the
    file it was replacing, the resume state and everything else written before stay as they were, and no
    temporary file is left."""
    # A run killed while saving its checkpoint leaves its resume state (at its last step, 4).
    run = tmp_path / "run"
    train_argv = [*TINY_TRAIN, "--set", "max_steps=4", "--set", "checkpoint_every=2", "--out", run]

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(checkpoint, "save", killed)
    with pytest.raises(Killed):
        cli(*train_argv)
    monkeypatch.undo()
    resume = (run / "resume.safetensors").read_bytes()
    limit = file_size_limit(4096)  # below every checkpoint's weights

    result = run_cli(*train_argv, "--resume", preexec_fn=limit)  # resumes at step 4, then saves the checkpoint
    assert_one_line_error(result.returncode, result.stderr, "cannot write", "model.safetensors", "File too large",
                          status=1)
    assert sorted(p.name for p in run.iterdir()) == ["resume.safetensors"]
    assert (run / "resume.safetensors").read_bytes() == resume
    assert run_cli(*train_argv, "--resume").returncode == 0  # and it resumes from there once there is room

    report = tmp_path / "report"
    result = run_cli("analyze", tiny_checkpoint, "--out", report, preexec_fn=limit)
    analysis_progress = re.compile(r"^\s*$|^.*\d+%\|.*\|")  # the analysis's own progress bars, before the error
    err = "\n".join(line for line in result.stderr.splitlines() if not analysis_progress.match(line))
    assert_one_line_error(result.returncode, err, "cannot write", str(report), status=1)
    assert not report.exists()  # the folder it made for the report held nothing, and is gone

    sweep = tmp_path / "sweep"
    result = run_cli(*TINY_SWEEP, "--out", sweep, preexec_fn=file_size_limit(64))  # below any run's result
    assert_one_line_error(result.returncode, result.stderr, "cannot write", "runs", status=1)
    assert stray_files(run, report, sweep) == []


LOCK_HOLDER = """
import sys, time
from interp.files import exclusive
with exclusive("--out", sys.argv[1]):
    print("held", flush=True)
    time.sleep(300)
"""


def test_a_second_run_into_the_same_out_is_refused(tiny_checkpoint, tmp_path):
    """While one process writes into a folder, every writing command asked for that folder is refused at once;
    once the holder is killed (no cleanup), the folder is free again."""
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(out)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline() == "held\n"
        result = run_cli(*TINY_TRAIN, "--out", out)
        assert_one_line_error(result.returncode, result.stderr, "--out", "in use by another interp run", status=1)
        for argv in (["construct", "parity", "--set", "n=6", "--set", "k=2", "--out", out],
                     ["analyze", tiny_checkpoint, "--out", out],
                     ["discover", tiny_checkpoint, "--method", "node", "--out", out],
                     ["experiment", "run", "parity-construction", "--jobs", "1", "--out", out]):
            code, _, err = cli(*argv)
            assert_one_line_error(code, err, "in use by another interp run", status=1)
        assert [p.name for p in out.iterdir()] == [".lock"]  # nothing written beside the holder's lock
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / ".lock").exists()  # a killed holder leaves its lock file, but not the lock
    code, _, err = cli(*TINY_TRAIN, "--set", "max_steps=2", "--out", out)
    assert code == 0, err
    assert load_checkpoint(out) and not (out / ".lock").exists()


def test_a_damaged_run_result_is_computed_again(tmp_path):
    """A per-run result file cut short (and a results.jsonl cut mid-line) in an experiment folder: the next
    sweep warns in one line, computes that run again and writes the same results."""
    out = tmp_path / "sweep"
    argv = [*TINY_SWEEP, "--out", out]
    code, _, err = cli(*argv)
    assert code == 0, err

    def without_timing():
        return [{k: v for k, v in strict_json(line).items() if k != "seconds"}
                for line in (out / "results.jsonl").read_text().splitlines()]

    before = without_timing()
    cut, garbled = sorted((out / "runs").glob("*.json"))
    cut.write_bytes(cut.read_bytes()[:40])
    garbled.write_bytes(b"\xff\xfe" + garbled.read_bytes()[2:])  # not even UTF-8
    results = (out / "results.jsonl").read_bytes()
    (out / "results.jsonl").write_bytes(results[: len(results) - 30])
    result = run_cli(*argv)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    for line, path in zip(lines, (cut, garbled)):
        assert line.startswith(f"warning: {path} is damaged") and line.endswith("its run is computed again")
        assert strict_json(path.read_text())["status"] == "ok"
    assert without_timing() == before


# --- memory ----------------------------------------------------------------------------------------

def test_memory_beyond_the_machine_is_refused_up_front(monkeypatch, tmp_path):
    """No model is built and no training starts: the estimate alone refuses, with the estimate and the limit."""
    import interp.models
    import interp.training

    def must_not_run(*args, **kwargs):
        raise AssertionError("work started before the memory check")

    monkeypatch.setattr(interp.models, "build_model", must_not_run)
    monkeypatch.setattr(interp.training, "train", must_not_run)
    started = time.perf_counter()
    code, _, err = cli("train", "selection", "--set", "T=100000", "--out", tmp_path / "run")
    elapsed = time.perf_counter() - started
    assert_one_line_error(code, err, "memory")
    estimate, limit = re.search(r"needs about ([\d,.e+]+) GiB .* than the ([\d,.e+]+) GiB available", err).groups()
    assert float(estimate.replace(",", "")) > float(limit.replace(",", ""))
    assert "100001" in err  # the largest part names the sequence length that drives it
    assert elapsed < 5, elapsed  # generous: it allocates nothing, where trying would take minutes or be killed
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", list(TASKS))
def test_default_configs_and_presets_pass_the_memory_check(name, tmp_path):
    for preset in family_of(name).presets:
        task, model_cfg, train_cfg = configure(name, preset)
        need = limits.check_training(task, model_cfg, train_cfg)
        assert need < 2 * limits.GIB, (name, preset, limits.gib(need))
        code, out, err = cli("train", name, "--preset", preset, "--dry-run", "--out", tmp_path / preset)
        assert code == 0, err
        assert "dry run" in out and "GiB estimated" in out and "GiB available" in out
        assert f"batch_size={train_cfg.batch_size}" in out
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=30, deadline=None)
@given(task_name=st.sampled_from(list(TASKS)), n_layers=st.integers(1, 3), n_heads=st.integers(1, 3),
       d_head=st.sampled_from([2, 4]), d_model=st.integers(1, 12), d_mlp=st.integers(0, 8),
       normalization=st.sampled_from(["none", "LN", "RMS"]), positional=st.sampled_from(["learned", "none", "rotary"]))
def test_parameter_count_is_the_state_dict_size(task_name, n_layers, n_heads, d_head, d_model, d_mlp,
                                                normalization, positional):
    small = {"parity": {"n": 5, "k": 2}, "selection": {"T": 5, "d": 2, "q": 2}, "counting": {"L": 6, "R": 2, "max_len": 12},
             "tracr": {"max_seq_len": 3}}
    task = make_task(task_name, **small.get(task_name, {"n": 4}))
    cfg = ModelConfig.for_task(task, n_layers=n_layers, n_heads=n_heads, d_head=d_head, d_model=d_model, d_mlp=d_mlp,
                               normalization_type=normalization, positional=positional)
    model = build_model(cfg, seed=0)
    assert limits.parameter_count(cfg) == sum(t.numel() for t in model.state_dict().values())


def test_attention_estimate_grows_as_the_square_of_the_length():
    """Past the point where attention dominates, doubling the length quadruples the estimate."""
    def need(n):
        task = make_task("parity", n=n, k=3)
        return limits.estimate_bytes(task, ModelConfig.for_task(task), TrainConfig(batch_size=64, eval_samples=64))

    for n in (1000, 2000, 4000):
        assert 3.6 < need(2 * n) / need(n) <= 4.05, n


def test_estimate_knows_the_readouts_and_the_analysis_size():
    """The few facts the estimate takes from elsewhere still hold: readouts per example, analysis samples."""
    import inspect

    from interp.analysis.run import analyze_checkpoint

    for name, cls in TASKS.items():
        task = cls()
        assert limits.readouts(task) == len(task.sample(2, 0).readout), name
    assert inspect.signature(analyze_checkpoint).parameters["samples"].default == limits.ANALYSIS_SAMPLES


MEASURE = """
import json, re, sys, torch
torch.set_num_threads(1)
from interp import limits
from interp.models import ModelConfig
from interp.tasks import make_task
from interp.training import TrainConfig, train

def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024

warm = make_task("parity", n=4, k=1)  # lazy initialisation (kernels, thread pools) out of the measurement
train(warm, ModelConfig.for_task(warm, d_model=8, n_heads=1, d_head=4, d_mlp=8),
      TrainConfig(max_steps=2, batch_size=4, eval_every=1, eval_samples=8), progress=False)
task = make_task(sys.argv[1], **json.loads(sys.argv[2]))
model_cfg, train_cfg = ModelConfig.for_task(task), TrainConfig(**json.loads(sys.argv[3]))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
base = status("VmRSS")
train(task, model_cfg, train_cfg, progress=False)
print(json.dumps({"peak": status("VmHWM") - base, "estimate": limits.estimate_bytes(task, model_cfg, train_cfg)}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name, task_params, train_params", [
    ("parity", {"n": 100, "k": 3}, {"max_steps": 2, "batch_size": 256, "eval_every": 2, "eval_samples": 512}),
    ("counting", {}, {"max_steps": 2, "batch_size": 128, "eval_every": 2, "eval_samples": 2048}),
])
def test_estimate_is_within_a_factor_of_the_measured_peak(name, task_params, train_params):
    """The real peak resident growth of a training run, measured in a fresh process: the estimate is never
    below it and at most 2.5x above (measured 1.2-1.4x for both at the time of writing)."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak resident size")
    result = subprocess.run([sys.executable, "-c", MEASURE, name, json.dumps(task_params), json.dumps(train_params)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["peak"] > 100 * 2**20  # large enough that the attention and activations dominate
    assert 1.0 <= measured["estimate"] / measured["peak"] <= 2.5, measured


# --- fuzz: random settings through `interp train --dry-run` ------------------------------------------

FIELD_NAMES = sorted({f.name for cls in (*TASKS.values(), ModelConfig, TrainConfig) for f in dataclasses.fields(cls)})
FLAGS = ["--seed", "--threads", "--eval-samples", "--preset"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(1, 40), st.integers(-3, 3), st.integers(),
              st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
setting_values = st.one_of(json_values.map(json.dumps), st.text(max_size=10))  # JSON text, or any text
setting_keys = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.tuples(st.sampled_from(["task", "model", "train", "other"]), st.sampled_from(FIELD_NAMES)).map(".".join),
    st.text(max_size=6),
)
flag_values = st.one_of(st.integers(1, 8).map(str), st.integers(-3, 2**40).map(str),
                        st.sampled_from(["default", "orthonormal", "frozen-attention"]), st.text(max_size=6))
# More examples for a deeper search: INTERP_FUZZ_EXAMPLES=2000 pytest tests/test_cli.py -k fuzz
FUZZ_EXAMPLES = int(os.environ.get("INTERP_FUZZ_EXAMPLES", "0"))


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory) -> Path:
    """Where the dry runs are told to write; it must stay empty."""
    return tmp_path_factory.mktemp("fuzz")


def names_a_parameter(line: str) -> bool:
    known = {*FIELD_NAMES, *FLAGS, "--set", "--out", "memory", "task", "subset", "preset", "COMMAND"}
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", line) for name in known)


@settings(max_examples=FUZZ_EXAMPLES or 300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_name=st.sampled_from([*TASKS, "sorting"]),
       pairs=st.lists(st.tuples(setting_keys, setting_values), max_size=3),
       flags=st.lists(st.tuples(st.sampled_from(FLAGS), flag_values), max_size=2))
def test_fuzz_train_settings_never_escape(fuzz_folder, task_name, pairs, flags):
    out = fuzz_folder / "run"
    argv = ["train", task_name, "--dry-run", "--out", out, *[a for k, v in pairs for a in ("--set", f"{k}={v}")],
            *[a for flag, value in flags for a in (flag, value)]]
    code, stdout, err = cli(*argv)
    event(f"exit {code}")
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert_one_line_error(code, err)
        assert names_a_parameter(err), err
    else:
        assert "dry run" in stdout
    assert not out.exists() and list(fuzz_folder.iterdir()) == []


# --- fuzz: corrupted checkpoint files through `interp eval` and `interp analyze` ------------------------

FILES = ("config.json", "model.safetensors", "metrics.json")


def key_paths(data, prefix=()):
    """Every key path of a JSON object: ("task",), ("task", "params"), ("task", "params", "n"), ..."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from key_paths(value, (*prefix, key))


corruptions = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.sampled_from(FILES), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("random"), st.sampled_from(FILES), st.binary(max_size=64)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("drop_key"), st.sampled_from(["config.json", "metrics.json"]), st.integers(0, 10**6)),
    st.tuples(st.just("set_key"), st.sampled_from(["config.json", "metrics.json"]), st.integers(0, 10**6), json_values),
)


def corrupt(folder: Path, corruption) -> None:
    kind, name, *args = corruption
    path = folder / name
    if not path.is_file():
        return
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: int(args[0] * len(data))])
    elif kind == "flip" and data:
        i = min(int(args[0] * len(data)), len(data) - 1)
        path.write_bytes(data[:i] + bytes([data[i] ^ args[1]]) + data[i + 1:])
    elif kind == "random":
        path.write_bytes(args[0])
    elif kind == "delete":
        path.unlink()
    elif kind in ("drop_key", "set_key"):
        try:
            content = json.loads(data)
        except ValueError:
            return
        paths = list(key_paths(content))
        if not paths:
            return
        *parents, last = paths[args[0] % len(paths)]
        holder = content
        for key in parents:
            holder = holder[key]
        if kind == "drop_key":
            del holder[last]
        else:
            holder[last] = args[1]
        path.write_text(json.dumps(content))


def restamp(folder: Path) -> None:
    """Record the (corrupted) weights' SHA-256 in config.json, so that loading goes past the hash check."""
    try:
        config = json.loads((folder / "config.json").read_text())
        config["weights"]["sha256"] = checkpoint.sha256(folder / "model.safetensors")
    except (OSError, ValueError, TypeError, KeyError):
        return
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES or 30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(damage=st.lists(corruptions, min_size=1, max_size=3), stamp=st.booleans())
def test_fuzz_corrupted_checkpoints_never_escape(tiny_checkpoint, damage, stamp):
    work = Path(tempfile.mkdtemp(prefix="interp-corrupt-"))
    try:
        ckpt, report = work / "ckpt", work / "report"
        shutil.copytree(tiny_checkpoint, ckpt)
        for corruption in damage:
            corrupt(ckpt, corruption)
        if stamp:
            restamp(ckpt)
        files_before = sorted(p.name for p in ckpt.iterdir())
        code, _, err = cli("eval", ckpt, "--samples", "64")
        assert code in (0, 2), err
        if code == 2:
            assert_one_line_error(code, err)
        code, _, err = cli("analyze", ckpt, "--out", report)
        event(f"analyze exit {code}")
        assert code in (0, 2), err
        if code == 2:
            assert_one_line_error(code, err)
            assert not report.exists()  # refused before anything was written
        else:
            summary = json.loads((report / "summary.json").read_text())
            assert summary["claims"] and summary["task"] == "parity"
        assert sorted(p.name for p in ckpt.iterdir()) == files_before  # reading never writes
        assert stray_files(ckpt, report) == []
    finally:
        shutil.rmtree(work)


# --- interrupted writes ---------------------------------------------------------------------------

def test_interrupted_save_leaves_a_loadable_or_refused_checkpoint(tiny_checkpoint, tmp_path, monkeypatch):
    model, task = interp.load(tiny_checkpoint)
    other = build_model(model.interp_config, seed=123)
    real_write_json, real_save_file = checkpoint.write_json, checkpoint.save_file

    # 1. Killed after the weights, before config.json, in a new folder: refused (no config.json yet).
    def die_on(name):
        def write_json(path, data):
            if Path(path).name == name:
                raise Killed
            return real_write_json(path, data)
        return write_json

    monkeypatch.setattr(checkpoint, "write_json", die_on("config.json"))
    with pytest.raises(Killed):
        checkpoint.save(tmp_path / "new", other, task)
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(tmp_path / "new")

    # 2. Killed after new weights were written over an old checkpoint: the old config's hash refuses them.
    old = tmp_path / "old"
    shutil.copytree(tiny_checkpoint, old)
    for name in ("metrics.json", "config.json"):
        monkeypatch.setattr(checkpoint, "write_json", die_on(name))
        with pytest.raises(Killed):
            checkpoint.save(old, other, task)
        with pytest.raises(CheckpointError, match="SHA-256"):
            load_checkpoint(old)

    # 3. Killed in the middle of writing the weights file: the old file is untouched and no temporary is left.
    monkeypatch.setattr(checkpoint, "write_json", real_write_json)
    intact = tmp_path / "intact"
    shutil.copytree(tiny_checkpoint, intact)

    def half_then_die(tensors, path, metadata=None):
        real_save_file(tensors, path, metadata=metadata)
        Path(path).write_bytes(Path(path).read_bytes()[:100])
        raise Killed

    monkeypatch.setattr(checkpoint, "save_file", half_then_die)
    with pytest.raises(Killed):
        checkpoint.save(intact, other, task)
    assert stray_files(intact) == []
    reloaded = load_checkpoint(intact).model
    batch = task.sample(8, 0)
    assert torch.equal(reloaded(batch.inputs), model(batch.inputs))


def test_hard_kill_mid_write_keeps_the_old_checkpoint(tiny_checkpoint, tmp_path):
    """A process killed outright (no cleanup) while writing the weights: the checkpoint still loads as before."""
    target = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, target)
    code = f"""
import os, interp, interp.checkpoint as c
from interp.models import build_model
real = c.save_file
def half_then_exit(tensors, path, metadata=None):
    real(tensors, path, metadata=metadata)
    os._exit(9)
c.save_file = half_then_exit
model, task = interp.load({str(target)!r})
c.save({str(target)!r}, build_model(model.interp_config, seed=5), task)
"""
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert killed.returncode == 9, killed.stderr
    model, task = interp.load(target)  # the temporary file beside it is never read
    original, _ = interp.load(tiny_checkpoint)
    batch = task.sample(8, 0)
    assert torch.equal(model(batch.inputs), original(batch.inputs))


# --- the commands themselves (moved here from test_training.py) --------------------------------------

def test_cli_train_eval_and_errors(tmp_path):
    out = tmp_path / "run"
    code, trained, err = cli("train", "parity", "--set", "n=6", "--set", "k=2", "--set", "d_model=32", "--set", "n_heads=2",
                             "--set", "max_steps=20", "--set", "eval_every=10", "--seed", "3", "--out", out, "--quiet",
                             "--eval-samples", "256")
    assert code == 0, err
    assert re.fullmatch(rf"parity: accuracy=[01]\.\d{{4}} on 256 fresh samples after 20 steps -> {re.escape(str(out))}\n",
                        trained)
    code, evaluated, err = cli("eval", out, "--samples", "512", "--json")
    assert code == 0, err
    report = json.loads(evaluated)
    model, task = interp.load(out)
    assert report["metrics"] == pytest.approx(evaluate(model, task, samples=512))
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    code, text, err = cli("eval", out, "--samples", "512")
    assert code == 0, err
    assert text.startswith(f"{out}: parity accuracy={report['metrics']['accuracy']:.4f} on 512 fresh samples")
    assert f"  loss={report['metrics']['loss']:.4f}" in text


def test_dry_run_prints_the_resolved_configs_and_writes_nothing(tmp_path):
    code, out, err = cli("train", "counting", "--set", "L=20", "--set", "lr=0.01", "--seed", "4", "--dry-run",
                         "--out", tmp_path / "run")
    assert code == 0, err
    task, model_cfg, train_cfg = configure("counting", settings={"task": {"L": 20}, "train": {"lr": 0.01, "seed": 4}})
    assert "L=20" in out and "lr=0.01" in out and "seed=4" in out and f"n_ctx={model_cfg.n_ctx}" in out
    assert limits.gib(limits.estimate_bytes(task, model_cfg, train_cfg)) in out
    assert list(tmp_path.iterdir()) == []


def test_cli_help_and_tasks():
    helped = run_cli("--help")
    assert helped.returncode == 0
    for command in ("tasks", "train", "eval", "construct", "analyze"):
        assert command in helped.stdout
    code, listed, _ = cli("tasks")
    assert code == 0
    for text in ("parity", "selection", "counting", "n=20", "k=3", "T=16", "q=3", "L=40", "R=3", "init_mode=\"gpt2\""):
        assert text in listed


HEAVY_IMPORTS = """
import sys
from interp.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted({name.split(".")[0] for name in sys.modules} & {"torch", "transformer_lens", "numpy", "einops"}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["experiment", "run", "--help"],
                                  ["discover", "--help"], ["train", "--bad-flag"]])
def test_the_parser_loads_no_torch(argv):
    """The parser answers from the standard library: torch and TransformerLens load only for the work."""
    result = subprocess.run([sys.executable, "-c", HEAVY_IMPORTS, *argv], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


# A listing run in a fresh interpreter: its text, then which of torch and TransformerLens it loaded.
LISTING_IMPORTS = """
import json, sys
from interp.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted({name.split(".")[0] for name in sys.modules}
                                                 & {"torch", "transformer_lens", "tracr", "jax"})}))
"""


@pytest.mark.parametrize("argv", [["tasks"], ["experiment", "list"], ["experiment", "list", "--names"],
                                  ["experiment", "list", "--verbose"]])
def test_the_listings_load_no_torch_and_list_everything(argv):
    """``interp tasks`` and ``interp experiment list`` answer from the families, the tasks' defaults and the
    experiments' declarations: torch and TransformerLens load only for work on models, tracr and jax only to compile (their speed against a
    bare ``import torch``: ``make bench``'s ``cli``)."""
    from interp.experiments import EXPERIMENTS

    result = subprocess.run([sys.executable, "-c", LISTING_IMPORTS, *argv], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    *listed, imports = result.stdout.strip().splitlines()
    assert json.loads(imports) == {"code": 0, "loaded": []}, result.stdout[-2000:] + result.stderr[-2000:]
    heads = [line for line in listed if not line.startswith(" ")]  # one a task or experiment; details indented
    if argv == ["tasks"]:
        assert [line.split(":")[0] for line in heads] == list(TASKS)
    else:
        assert [line.split()[0] for line in heads] == list(EXPERIMENTS)


@pytest.mark.parametrize("package", ["interp", "interp.discovery", "interp.experiments", "interp.models",
                                     "interp.symmetry", "interp.training", "interp.viz"])
def test_lazy_exports_resolve_and_no_submodule_can_shadow_them(package):
    """Importing a submodule binds its name in the package, over a lazy export of the same name."""
    import importlib
    import pkgutil

    module = importlib.import_module(package)
    assert not set(module.__all__) & {info.name for info in pkgutil.iter_modules(module.__path__)}
    for name in module.__all__:
        assert not inspect.ismodule(getattr(module, name)), name


@pytest.mark.slow
def test_cli_construct_writes_a_checkpoint_eval_and_analyze_take(tmp_path):
    out = tmp_path / "construction"
    code, built, err = cli("construct", "parity", "--set", "n=8", "--set", "k=2", "--out", out)
    assert code == 0, err
    assert built == f"parity construction (parity) -> {out}\n"
    code, evaluated, err = cli("eval", out, "--samples", "1024", "--json")
    assert json.loads(evaluated)["metrics"]["accuracy"] == 1.0
    code, analyzed, err = cli("analyze", out, "--out", tmp_path / "report", "--json")
    assert code == 0, err
    summary = json.loads(analyzed)
    assert summary["kind"] == "construction"
    assert summary == json.loads((tmp_path / "report" / "summary.json").read_text())
    verdicts = [c["verdict"] for c in summary["claims"]]
    assert "found" in verdicts and set(verdicts) <= {"found", "untestable"}
    code, _, err = cli("construct", "counting", "--set", "construction.name=counting_close_bias",
                       "--set", "construction.trained_regions=3", "--out", tmp_path / "twin")
    assert code == 0, err
    assert json.loads((tmp_path / "twin" / "config.json").read_text())["construction"]["name"] == "counting_close_bias"
    code, _, err = cli("construct", "parity", "--set", "d_model=8", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "construction fixes its own model")
    code, _, err = cli("construct", "parity", "--set", "construction.scale=-1", "--out", tmp_path / "y")
    assert_one_line_error(code, err, "scale")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
