"""What a GPU changes: the device the work runs on, never what a seed means. Each test here but the first needs a
CUDA device and is skipped without one (CI has none; `scripts/device-check.sh` runs them on a lent GPU)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from interp.defaults import configure
from interp.models import build_model
from interp.training import train

from test_experiments import TINY, sweep

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_the_gpu_bench_without_a_gpu_says_so_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal is for machines without it")
    result = subprocess.run([sys.executable, "-m", "interp.bench", "--device", "cuda", "--out", "/dev/null"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and result.stderr.strip() == "bench --device cuda: no CUDA device is available here"


@cuda
def test_a_seed_means_the_same_weights_on_the_gpu():
    _, model_cfg, _ = configure("counting")
    on_cpu, on_gpu = build_model(model_cfg, seed=3), build_model(model_cfg, seed=3, device="cuda")
    for (name, a), (_, b) in zip(on_cpu.state_dict().items(), on_gpu.state_dict().items()):
        assert b.device.type == "cuda" and torch.equal(a, b.cpu()), name


@cuda
@pytest.mark.parametrize("preset", ["parity:default", "cumsum:paper"])
def test_training_on_the_gpu_lowers_the_loss(preset):
    name, preset = preset.split(":")
    task, model_cfg, train_cfg = configure(name, preset, {"train": {"max_steps": 60, "eval_every": 20, "target": None}})
    result = train(task, model_cfg, train_cfg, progress=False, device="cuda")
    losses = [entry["train_loss"] for entry in result.metrics["history"]]
    assert next(result.model.parameters()).device.type == "cuda"
    assert losses[-1] < losses[0]


@cuda
def test_the_pointer_model_experiment_runs_on_the_gpu(tmp_path):
    on_gpu, _ = sweep(tmp_path, "parity-minimal", TINY["parity-minimal"], device="cuda", folder="gpu")
    on_cpu, _ = sweep(tmp_path, "parity-minimal", TINY["parity-minimal"], folder="cpu")
    assert on_gpu["device"] == "cuda" and on_gpu["runs"]["failed"] == 0
    assert [row["name"] for row in on_gpu["rows"]] == [row["name"] for row in on_cpu["rows"]]
