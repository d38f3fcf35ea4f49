"""The experiments layer: grids, resumable sweeps, executors that agree byte for byte, honest rows.

Experiments run here at a tiny scale (``--set`` shrinks them); their ``--quick`` results come from
``make reproduce`` and are committed under ``analyses/experiments/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from interp.experiments import EXPERIMENTS, get_experiment, run_experiment
from interp.experiments import runner
from interp.experiments.base import VERDICTS, Measured, Reference, Row, RowSpec, RunResult, evaluate_rows
from interp.experiments.parity import COVERED, cover_rate_by_n
from interp.experiments.statistics import loglog_slope, spread
from interp.grading import AtLeast, AtMost, Inside, Untested
from interp.tasks import TaskError

from conftest import check_census  # this folder's conftest

ROOT = Path(__file__).resolve().parents[1]
TINY_CONSTRUCTION = {"ns": [6, 9], "ks": [2], "scales": [1.0, 5.0], "samples": 64, "reference_cells": [[6, 2]]}
# Tiny settings under which every parity experiment runs in a few seconds.
TINY = {
    "parity-construction": TINY_CONSTRUCTION,
    "parity-minimal": {"configs": [[6, 2]], "lrs": [0.1], "batch_size": 20, "epochs": 30, "eval_every": 5, "record_every": 10},
    "parity-frozen-attention": {"ns": [6, 8], "k": 2, "head_factors": [1, 2], "epochs": 20, "eval_every": 10,
                                "data_cap": 200, "cover_draws": 20},
    "parity-ffnn": {"ns": [6, 8], "k": 2, "widths": [4, 8], "train_size": 300, "steps": 40, "eval_every": 20,
                    "pointer_epochs": 20},
    "parity-online": {"n": 8, "k": 2, "widths": [8, 16], "max_steps": 100, "eval_every": 50, "eval_samples": 256,
                      "transformer_seeds": 1, "transformer_max_steps": 20},
}


def without_timing(path: Path) -> list[dict]:
    """results.jsonl without wall time: what must be identical whoever ran the sweep."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        line.pop("seconds")
    return lines


def sweep(tmp_path, name="parity-construction", settings=None, **kwargs):
    out = tmp_path / kwargs.pop("folder", name)
    summary = run_experiment(name, settings=settings if settings is not None else TINY[name], seeds=kwargs.pop("seeds", 2),
                             out=out, progress=False, **{"jobs": 1, "device": "cpu", **kwargs})
    return summary, out


# --- pieces ----------------------------------------------------------------------------------


def test_options_are_checked_by_name_and_type():
    experiment = get_experiment("parity-construction")
    assert experiment.resolve_options(True)["samples"] == experiment.quick["samples"]
    assert experiment.resolve_options(False, {"ns": [8]})["ns"] == [8]
    with pytest.raises(TaskError, match="unknown option 'width'"):
        experiment.resolve_options(False, {"width": 3})
    with pytest.raises(TaskError, match="samples must be an integer"):
        experiment.resolve_options(False, {"samples": "many"})
    with pytest.raises(TaskError, match="ns must be an integer"):
        experiment.resolve_options(False, {"ns": [0.5]})
    assert experiment.resolve_options(False, {"scales": [2]})["scales"] == [2.0]
    with pytest.raises(TaskError, match="unknown experiment 'nope'"):
        get_experiment("nope")


def test_rows_and_references_refuse_unknown_verdicts_and_kinds():
    with pytest.raises(ValueError, match="reference kind"):
        Reference(1.0, "somewhere", "hearsay")
    with pytest.raises(ValueError, match="verdict"):
        Row("r", Reference(1.0, "s", "paper"), {}, "rule", "found")
    row = Row("r", Reference(1.0, "s", "paper"), {}, "rule", "partial", runs=2, runs_asked=3)
    assert row.short_of_runs and row.to_dict()["short_of_runs"]


def test_a_row_spec_grades_its_statistic_with_its_rule_and_states_the_rule():
    runs = [RunResult(f"r{seed}", "demo", "g", {"arm": arm}, seed, "cpu", "ok", {"accuracy": [0.9, 0.95][seed]})
            for arm in ("a", "b") for seed in range(2)]
    rule = AtLeast(0.95, 0.9, "the best accuracy")

    def best(group):
        values = [r.measurements["accuracy"] for r in group if r.ok]
        return Measured(max(values) if values else Untested("no run"), {"best": max(values, default=None)})

    spec = RowSpec("best accuracy", Reference(1.0, "s", "paper"), best, rule, runs=lambda r: r.params["arm"] == "a")
    made = spec.evaluate(runs)
    assert (made.verdict, made.rule, made.measured, made.runs) == ("reproduced", rule.sentence, {"best": 0.95}, 2)
    failed = [dataclasses.replace(r, status="failed") for r in runs]
    assert spec.evaluate(failed).verdict == "untested" and spec.evaluate(failed).detail == "no run"
    hidden = dataclasses.replace(spec, shown_if=lambda group: any(r.ok for r in group))
    assert evaluate_rows([hidden, spec], failed) == [spec.evaluate(failed)]


def test_verdict_rules_and_aggregates():
    assert AtLeast(0.99, 0.9).grade(0.99) == "reproduced" and AtLeast(0.99, 0.9).grade(0.95) == "partial"
    assert AtLeast(0.99, 0.9).grade(None) == "not_reproduced" and AtMost(0.6, 0.8).grade(0.5) == "reproduced"
    assert Inside(0.72, 0.98, 0.02).grade(0.7) == "partial" and Inside(0.72, 0.98, 0.02).grade(0.5) == "not_reproduced"
    assert spread([3, 1, None, 2]) == {"median": 2, "low": 1, "high": 3, "n": 4, "missing": 1}
    x = [10, 20, 40, 80] * 3
    noise = torch.randn(12, generator=torch.Generator().manual_seed(0)).tolist()
    y = [2.0 * xi**1.5 * (1 + 0.05 * e) for xi, e in zip(x, noise)]
    fit = loglog_slope(x, y, groups=[i // 4 for i in range(12)])
    assert fit["slope"] == pytest.approx(1.5, abs=0.05) and fit["low"] < 1.5 < fit["high"]


# --- sweeps ----------------------------------------------------------------------------------


def test_a_sweep_writes_results_summary_and_report(tmp_path):
    summary, out = sweep(tmp_path)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == summary["runs"]["asked"] == 2 * 2 * 2  # (n, k) cells x scales x seeds
    assert {line["params"]["n"] for line in lines} == {6, 9} and all(line["status"] == "ok" for line in lines)
    assert all(len(line["id"]) == 16 and (out / "runs" / f"{line['id']}.json").exists() for line in lines)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["rows"] == summary["rows"] and saved["scale"] == "full"
    for row in saved["rows"]:
        assert set(row) >= {"name", "reference", "measured", "rule", "verdict", "detail", "runs", "runs_asked"}
        assert row["verdict"] in VERDICTS
        assert set(row["reference"]) == {"value", "source", "kind"}
    sharp = next(r for r in saved["rows"] if r["name"].startswith("accuracy at 5x"))
    assert sharp["verdict"] == "reproduced" and sharp["measured"]["median"] == 1.0  # the construction is exact
    markdown = (out / "summary.md").read_text()
    assert all(row["name"] in markdown for row in saved["rows"])
    page = (out / "report.html").read_text()
    assert page.count('class="verdict verdict-') == len(saved["rows"])
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page) and "default-src 'none'" in page
    assert all((out / name).stat().st_size > 0 for name in saved["figures"])


def test_a_second_run_skips_finished_runs(tmp_path, monkeypatch):
    _, out = sweep(tmp_path)
    calls = []
    original = runner.execute
    monkeypatch.setattr(runner, "execute", lambda *a: calls.append(a) or original(*a))
    again, _ = sweep(tmp_path)
    assert calls == []  # every run was already finished
    more, _ = sweep(tmp_path, seeds=3)
    assert len(calls) == 4 and more["runs"]["asked"] == 12  # only the new seed's runs


def test_jobs_do_not_change_results(tmp_path):
    _, one = sweep(tmp_path, folder="one", jobs=1)
    _, two = sweep(tmp_path, folder="two", jobs=2)
    assert without_timing(one / "results.jsonl") == without_timing(two / "results.jsonl")
    assert json.loads((one / "summary.json").read_text())["rows"] == json.loads((two / "summary.json").read_text())["rows"]


def test_workers_compute_on_one_thread_of_torch_and_of_blas(monkeypatch):
    """BLAS pools size themselves from the environment when they load: the server the workers fork from must start
    with it set, or N workers each spin a pool as wide as the machine."""
    from interp.workers import BLAS_THREADS, worker_pool

    for name in BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)
    with worker_pool(1, ["numpy"]) as pool:
        seen = {name: pool.submit(os.getenv, name).result() for name in BLAS_THREADS}
        torch_threads = pool.submit(torch.get_num_threads).result()
    assert seen == {name: "1" for name in BLAS_THREADS} and torch_threads == 1


def test_this_process_runs_the_last_runs_while_the_workers_start(monkeypatch):
    """The first submit forks the workers (seconds, the first time): meanwhile this process takes runs from the
    back of the queue; every run is done once, by one of them."""
    from concurrent.futures import ThreadPoolExecutor

    class SlowToStart(ThreadPoolExecutor):
        def submit(self, fn, *args):
            if not hasattr(self, "started"):
                self.started = time.sleep(0.5)
            return super().submit(fn, *args)

    monkeypatch.setattr(runner, "execute", lambda *task: time.sleep(0.05) or
                        {"id": task[3], "here": threading.current_thread().name.startswith(runner.THIS_PROCESS)})
    pending = {i: ("name", {}, "cpu", i) for i in range(30)}
    with SlowToStart(1) as pool:
        results = list(runner.run_beside_workers(pool, pending))
    assert sorted(r["id"] for r in results) == list(range(30)) and pending == {}
    mine = sorted(r["id"] for r in results if r["here"])
    assert mine and mine == list(range(30 - len(mine), 30)) and len(mine) < 30


def test_the_workers_results_come_while_this_process_runs_a_long_one(monkeypatch):
    """A run this process took while the workers started may outlast the rest of the sweep: the workers' results
    are yielded as they finish, before it (so they are stored and counted), and it comes last."""
    from concurrent.futures import ThreadPoolExecutor

    class SlowToStart(ThreadPoolExecutor):
        def submit(self, fn, *args):
            if not hasattr(self, "started"):
                self.started = time.sleep(0.3)
            return super().submit(fn, *args)

    def execute(*task):
        here = threading.current_thread().name.startswith(runner.THIS_PROCESS)
        time.sleep(1.5 if here else 0.01)
        return {"id": task[3], "here": here, "at": time.perf_counter()}

    monkeypatch.setattr(runner, "execute", execute)
    pending = {i: ("name", {}, "cpu", i) for i in range(10)}
    with SlowToStart(1) as pool:
        results = [{**result, "yielded": time.perf_counter()} for result in runner.run_beside_workers(pool, pending)]
    assert sorted(r["id"] for r in results) == list(range(10)) and pending == {}
    assert [r["here"] for r in results] == [False] * 9 + [True]  # this process took one run: the last, the slow one
    assert all(r["yielded"] < results[-1]["at"] for r in results[:9])  # yielded while it still ran


@pytest.mark.slow
def test_ray_executor_matches_the_local_one(tmp_path):
    pytest.importorskip("ray")
    _, local = sweep(tmp_path, folder="local", jobs=1)
    _, on_ray = sweep(tmp_path, folder="ray", jobs=2, executor="ray")
    assert without_timing(local / "results.jsonl") == without_timing(on_ray / "results.jsonl")


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    settings = {"configs": [[3, 5], [6, 2]], "lrs": [0.1, 0.1], "epochs": 10, "eval_every": 5, "record_every": 5}  # k > n fails
    summary, out = sweep(tmp_path, "parity-minimal", settings)
    assert summary["runs"] == {"asked": 4, "finished": 2, "failed": 2}
    assert all("k must be in" in f["error"] for f in summary["failures"])
    failed = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if '"failed"' in line]
    assert len(failed) == 2 and all(f["error"].startswith("TaskError") for f in failed)
    short = [row for row in summary["rows"] if row["short_of_runs"]]
    assert short and all(row["runs"] < row["runs_asked"] for row in short)
    assert "Failed runs" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_same_results(tmp_path):
    settings = {**TINY_CONSTRUCTION, "ns": [40, 48, 56], "samples": 2048}
    _, straight = sweep(tmp_path, settings=settings, folder="straight")
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "interp", "experiment", "run", "parity-construction", "--out", str(killed),
               "--jobs", "1", "--seeds", "2", "--device", "cpu", "--quiet",
               *[arg for key, value in settings.items() for arg in ("--set", f"{key}={json.dumps(value)}")]]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((killed / "runs").glob("*.json"))) < 3 and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = len(list((killed / "runs").glob("*.json")))
    assert 3 <= done < 12, done  # killed mid-way
    assert not list(killed.rglob(".*.json*"))  # no half-written file
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert without_timing(killed / "results.jsonl") == without_timing(straight / "results.jsonl")


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_parity_experiment_runs_at_tiny_scale(tmp_path, name):
    summary, out = sweep(tmp_path, name, seeds=1)
    assert summary["runs"]["failed"] == 0, summary["failures"]
    assert summary["rows"] and all(row["verdict"] in VERDICTS for row in summary["rows"])
    assert all(row["runs"] >= 1 for row in summary["rows"])
    assert summary["figures"] and all((out / f).exists() for f in summary["figures"])
    check_census(summary)


def test_the_frozen_heads_coverage_draws_are_the_trained_runs_inits(tmp_path):
    """Draw s of the coverage runs is seed s's sharp model and subset: with one draw, its share covering S is
    whether the seed-0 trained run's heads cover S (they are frozen, so training cannot change it)."""
    summary, out = sweep(tmp_path, "parity-frozen-attention", {**TINY["parity-frozen-attention"], "cover_draws": 1,
                                                               "variants": ["sharp"]}, seeds=1)
    results = [RunResult.from_dict(json.loads(line)) for line in (out / "results.jsonl").read_text().splitlines()]
    rates = cover_rate_by_n(results)
    assert sorted(rates) == [6, 8] and all(list(r) == [2, 4, 8] for r in rates.values())
    trained = [r for r in results if "heads" in r.params]
    assert len(trained) == 4
    for r in trained:
        assert rates[r.params["n"]][r.params["heads"]] == float(r.measurements["min_coverage"] >= COVERED)
    assert "frozen_sharp_cover.png" in summary["figures"]


def test_every_experiment_has_quick_summary_committed():
    """`make reproduce` output is committed: each experiment's quick summary, linked from the README; and where a
    full scale ran, its summary in NAME/full/ beside it, with the machine and the time it took."""
    from interp.cli.experiment import committed_summaries
    from interp.viz.experiments import replace_results_block, results_table

    readme = (ROOT / "README.md").read_text()
    full = [name for name in EXPERIMENTS if (ROOT / "analyses" / "experiments" / name / "full").is_dir()]
    assert full  # the full scales that fit on the CPU ran
    for name, scale in [(name, "quick") for name in EXPERIMENTS] + [(name, "full") for name in full]:
        folder = ROOT / "analyses" / "experiments" / name / ("full" if scale == "full" else "")
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["scale"] == scale and summary["experiment"] == name
        assert summary["runs"]["failed"] == 0, (name, summary["failures"])
        assert all((folder / f).exists() for f in summary["figures"])
        assert f"analyses/experiments/{name}/{'full/' if scale == 'full' else ''}summary.md" in readme, name
        if scale == "full":
            assert summary["machine"] and summary["seconds"] > 0
            assert f"({summary['machine']}), {summary['seconds']:g} s." in (folder / "summary.md").read_text()
        check_census(summary)  # every experiment that trains transformers counts their mechanisms
    # The README's table is the one `interp experiment table` computes from these summaries, not an edited copy.
    assert replace_results_block(readme, results_table(committed_summaries())) == readme


def test_the_readme_states_the_committed_censuses_of_wangs_model_and_the_gp_bridge():
    """The README's census sentences on Wang et al.'s model and the GP-limit bridge are what the committed summaries
    count."""
    def census(name):
        summary = json.loads((ROOT / "analyses" / "experiments" / name / "summary.json").read_text())
        return {entry["group"].split()[0]: entry for entry in summary["census"]}

    length, dynamics, curves = census("selection-length"), census("selection-dynamics"), census("symmetry-learning-curves")
    for entry in (length["orthonormal"], length["learned"], dynamics["orthonormal"], *curves.values()):
        assert entry["among_all"]["predicted"] == entry["solved"] == entry["seeds"]  # every seed solves, predicted
    assert length["fixed"]["solved"] == length["fixed"]["among_solved"]["partly"] == 3
    for entry in (length["gaussian"], dynamics["gaussian"]):
        assert entry["solved"] == 0 and entry["among_all"]["partly"] == entry["seeds"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("in `selection-length` every orthonormal and learned-table seed, in `selection-dynamics` every orthonormal "
            "one. The fixed code table's 3 seeds solve") in readme
    assert "the Gaussian codes' seeds, noise-limited, are `partly` and do not solve" in readme
    assert "GP regression's) at both lengths" in readme and sorted(curves) == ["L=6", "L=8"]


def test_every_full_scale_gives_its_quick_verdicts_and_the_readme_states_what_they_found():
    """Every committed full scale gives its quick run's verdicts; the README quotes how the sharp frozen heads' row
    decides (coverage of 1,000 frozen inits, as its trained runs solve exactly when covered) and what it found, and
    parity-ffnn's MLP width apart from its parameters."""
    folder = ROOT / "analyses" / "experiments"
    for full in sorted(folder.glob("*/full/summary.json")):
        quick = json.loads((full.parent.parent / "summary.json").read_text())["rows"]
        rows = json.loads(full.read_text())["rows"]
        assert len(rows) == len(quick)  # the same rows, whose names may quote the scale's sizes
        assert [row["verdict"] for row in rows] == [row["verdict"] for row in quick], full
    frozen = json.loads((folder / "parity-frozen-attention" / "full" / "summary.json").read_text())
    grows = next(r for r in frozen["rows"] if r["name"] == "sharp frozen heads: heads needed for 95 % grow with n")
    assert grows["measured"] == {"n=8": 12, "n=12": 24, "n=16": 24, "n=24": 48, "n=32": 48}
    assert grows["detail"].startswith("the trained runs solve exactly when their heads cover S in 74 of 75;")
    assert "n=32 0.00 0.00 0.03 0.15 0.50 0.88" in grows["detail"]
    assert "at H = 48: n=8 3/3, n=12 3/3, n=16 3/3, n=24 1/3, n=32 2/3" in grows["detail"]
    # Were each head on one uniformly random position, a share (1 - (1 - 1/n)^H)^k of inits would cover S; split
    # heads cover two bits, so the draws lie at or above it, within three standard errors.
    results = [RunResult.from_dict(json.loads(line)) for line in
               (folder / "parity-frozen-attention" / "full" / "results.jsonl").read_text().splitlines()]
    draws, k = frozen["options"]["cover_draws"], frozen["options"]["k"]
    for n, rates in cover_rate_by_n(results).items():
        for h, rate in rates.items():
            uniform = (1 - (1 - 1 / n) ** h) ** k
            assert rate >= uniform - 3 * math.sqrt(uniform * (1 - uniform) / draws), (n, h)
    ffnn = json.loads((folder / "parity-ffnn" / "full" / "summary.json").read_text())["rows"][0]
    widths = {int(w) for w in re.findall(r"\(width (\d+)\)", ffnn["detail"])}
    measured = {key: round(ffnn["measured"][key], 2) for key in ("width_slope", "width_low", "width_high", "slope")}
    assert widths == {4, 8} and measured == {"width_slope": -0.08, "width_low": -0.31, "width_high": 0.23, "slope": 0.82}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("(4 or 8 at every n; log-log slope -0.08, interval [-0.31, 0.23]), so its parameters, (n + 2) width + 1, "
            "grow through the input layer alone, at slope 0.82" in readme)
    assert ("Their verdicts are the quick ones'." in readme and "(74 of the 75 trained runs)" in readme
            and "half the draws cover S from H = 12 at n = 8, 24 at n = 12 and 16, and 48 at n = 24 and 32 (where "
                "0.50 of the draws do; 0.88 at H = 96)" in readme
            and "(1 of 3 seeds reach 95 %, against 2 of 3 at n = 32)" in readme)


# --- the command line ------------------------------------------------------------------------------


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "interp", "experiment", *args], capture_output=True, text=True, env=env)


def test_experiment_list_names_every_experiment():
    listed = cli("list")
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == list(EXPERIMENTS)
    verbose = cli("list", "--verbose").stdout
    assert all(f"--quick: {cls.quick_seeds}" in verbose for cls in EXPERIMENTS.values())
    assert cli("list", "--names").stdout.split() == list(EXPERIMENTS)


@pytest.mark.parametrize("args, message", [
    (("run", "nope"), "unknown experiment 'nope'"),
    (("run", "parity-construction", "--jobs", "0"), "--jobs must be"),
    (("run", "parity-construction", "--seeds", "0"), "--seeds must be"),
    (("run", "parity-construction", "--executor", "slurm"), "--executor must be one of"),
    (("run", "parity-construction", "--executor", "ray", "--address", "127.0.0.1:1"), "no Ray cluster answers"),
    (("run", "parity-construction", "--address", "127.0.0.1:6379"), "needs --executor ray"),
    (("run", "parity-construction", "--set", "width=3"), "unknown option 'width'"),
    (("run", "parity-construction", "--set", "ns=[0.5]"), "ns must be"),
    (("run", "parity-construction", "--device", "tpu"), "--device must be one of"),
])
def test_bad_input_is_one_line_and_status_2(args, message, tmp_path):
    result = cli(*args, "--quick", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "runs").exists()


def test_cuda_request_without_a_gpu_is_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal is for machines without it")
    result = cli("run", "parity-construction", "--device", "cuda", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no CUDA device" in result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_sweep_runs_on_cuda(tmp_path):
    summary, _ = sweep(tmp_path, device="cuda")
    assert summary["device"] == "cuda" and summary["runs"]["failed"] == 0


def test_the_census_counts_each_models_status_among_all_seeds_and_the_solving_ones():
    from interp.experiments.census import census

    def run(group, seed, records, status="ok"):
        return RunResult(f"{group}{seed}", "x", group, {}, seed, "cpu", status,
                         {"mechanisms": {m: {"status": s, "solved": ok} for m, (s, ok) in records.items()}})

    entries = census([run("n=8", 0, {"a": ("predicted", True), "b": ("absent", True)}),
                      run("n=8", 1, {"a": ("partly", False), "b": ("absent", False)}),
                      run("n=8", 2, {"a": ("predicted", True)}, status="failed"),
                      run("n=16", 0, {"a": ("absent", False)})])
    assert [(e["group"], e["model"], e["seeds"], e["solved"]) for e in entries] == [
        ("n=8", "a", 2, 1), ("n=8", "b", 2, 1), ("n=16", "a", 1, 0)]
    assert entries[0]["among_all"] == {"predicted": 1, "partly": 1, "absent": 0, "untested": 0}
    assert entries[0]["among_solved"] == {"predicted": 1, "partly": 0, "absent": 0, "untested": 0}
    assert entries[2]["among_solved"] == {"predicted": 0, "partly": 0, "absent": 0, "untested": 0}
    assert census([RunResult("r", "x", "g", {}, 0, "cpu", "ok", {"accuracy": 1.0})]) == []
