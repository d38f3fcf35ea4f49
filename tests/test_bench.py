"""`make bench`'s JSON, on tiny workloads: its structure and its arithmetic, never a speed. The speed targets
live in bench.json only, as ratios to baselines measured in the same run, where the machine's load cancels."""

from __future__ import annotations

import pytest

from interp import bench
from interp.models import ModelConfig
from test_experiments import TINY_CONSTRUCTION


def test_forward_flops_grow_as_the_projections_then_as_the_attention():
    cfg = ModelConfig(n_heads=1, d_model=64, d_head=64, d_mlp=128, d_vocab=3, d_vocab_out=2)
    flops = lambda length: bench.forward_flops(cfg, length)  # noqa: E731
    assert 2 < flops(16) / flops(8) < 2.1  # short: the L d^2 projections
    assert 3.8 < flops(8192) / flops(4096) < 4  # long: the L^2 d attention
    deeper = ModelConfig(n_layers=3, n_heads=1, d_model=64, d_head=64, d_mlp=128, d_vocab=3, d_vocab_out=2)
    assert bench.forward_flops(deeper, 64) > 2.9 * flops(64)
    # positional attention's queries and keys read fixed positions once for the whole batch
    positional = ModelConfig(architecture="hooked", positional="attention", n_heads=1, d_model=64, d_head=64, d_mlp=128,
                             n_ctx=64, d_vocab=1, d_vocab_out=1, attention_dir="bidirectional")
    assert bench.forward_flops(positional, 64) < flops(64)


def test_a_slope_well_above_the_flop_count_is_flagged_with_its_cause():
    sizes = [10, 20, 40, 80]
    linear = [float(s) for s in sizes]
    as_expected = bench.slope_against(sizes, [s**1.1 for s in sizes], linear, "cumsum", "training_step")
    assert as_expected["slope"] == pytest.approx(1.1) and as_expected["expected_slope"] == pytest.approx(1.0)
    assert not as_expected["well_above_expected"] and "cause" not in as_expected
    assert as_expected["points"] == [[s, s**1.1] for s in sizes]
    known = bench.slope_against(sizes, [s**2.0 for s in sizes], linear, "parity", "analysis")
    assert known["well_above_expected"] and "flip_influence" in known["cause"]
    unknown = bench.slope_against(sizes, [s**2.0 for s in sizes], linear, "cumsum", "analysis")
    assert unknown["cause"] == "not known: profile it"


def test_scaling_measures_every_size_of_every_task():
    sizes = {"parity": ("n", (6, 12)), "counting": ("L", (8, 16)), "cumsum": ("n", (4, 8))}
    out = bench.bench_scaling(sizes, steps=1, repeats=1, samples=8)
    assert set(out) == set(sizes)
    for name, (knob, values) in sizes.items():
        assert out[name]["size"] == knob and out[name]["sizes"] == list(values)
        for kind in ("training_step", "analysis"):
            fit = out[name][kind]
            assert [size for size, _ in fit["points"]] == list(values) and all(t > 0 for _, t in fit["points"])
            assert isinstance(fit["slope"], float) and 0.5 < fit["expected_slope"] < 2.5  # against the knob, not L
            assert fit["well_above_expected"] == (fit["slope"] > fit["expected_slope"] + bench.WELL_ABOVE)
            assert ("cause" in fit) == fit["well_above_expected"]


def test_counting_is_scaled_with_room_for_four_times_its_length():
    task, model_cfg, _ = bench.scaled("counting", "L", 512)
    assert task.L == 512 and task.max_len >= 4 * 512 + 1 + task.R and model_cfg.n_ctx == task.max_len


def test_the_sweep_is_timed_at_both_job_counts_and_set_against_the_machine():
    sweep = bench.bench_sweep(settings=TINY_CONSTRUCTION, seeds=1, jobs=2)
    assert sweep["runs"] == 4 and sweep["jobs"] == 2
    assert sweep["throughput_ratio"] == pytest.approx(sweep["jobs_1_seconds"] / sweep["jobs_2_seconds"])
    assert sweep["startup_seconds"] > 0
    assert sweep["startup_share"] == pytest.approx(sweep["startup_seconds"] / 2 / sweep["jobs_2_seconds"])
    assert {"jobs_1_in", "jobs_2_in", "jobs_2_busy_workers", "side_by_side_run_seconds"} <= set(sweep)
    machine = {"compute_2_over_1": 1.6, "memory_2_over_1": 1.1}
    full = bench.with_efficiency(sweep, machine)
    assert full["machine"] == machine and full["efficiency"] == pytest.approx(sweep["throughput_ratio"] / 1.6)
    assert full["target"] == 0.9 and full["meets_target"] == (full["efficiency"] >= 0.9)


def test_the_machine_probe_reports_both_kinds_for_the_sweeps_process_count():
    out = bench.bench_machine(processes=2, amount=0.001, repeats=1)
    assert set(out) == {"compute_2_over_1", "memory_2_over_1"} and all(v > 0 for v in out.values())


def test_cli_timing_compares_help_and_the_listings_with_importing_torch():
    out = bench.bench_cli(repeats=1)
    assert out["help_seconds"] > 0 and out["import_torch_seconds"] > 0
    assert out["ratio"] == pytest.approx(out["help_seconds"] / out["import_torch_seconds"])
    assert out["meets_target"] == (out["ratio"] < out["target_ratio"])
    for listing in ("tasks", "experiment_list"):
        assert out[f"{listing}_ratio"] == pytest.approx(out[f"{listing}_seconds"] / out["import_torch_seconds"])
        assert out[f"{listing}_meets_target"] == (out[f"{listing}_ratio"] < out["target_ratio"])


def test_memory_compares_evaluations_over_ten_times_as_many_chunks():
    out = bench.bench_memory(samples=130)  # 10 chunks of 13 against 1
    assert (out["samples"], out["baseline_samples"]) == (130, 13)
    assert out["peak_mb"] > 0 and out["baseline_peak_mb"] > 0
    assert out["ratio"] == out["peak_mb"] / out["baseline_peak_mb"]
    assert out["meets_target"] == (out["ratio"] <= out["target_ratio"])
