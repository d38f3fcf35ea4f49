"""Models, training, checkpoints: determinism, resume, round trips and corrupt files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import interp
from interp import checkpoint
from interp.checkpoint import CheckpointError, load_checkpoint
from interp.models import ModelConfig, build_model, count_parameters
from interp.tasks import TaskError, make_task
from interp.tasks import evaluate
from interp.training import TrainConfig, train

TINY = {
    "parity": ({"n": 6, "k": 2}, {"d_model": 32, "n_heads": 2, "d_mlp": 32}),
    "selection": ({"T": 6, "d": 3, "q": 2}, {"d_model": 24, "d_head": 12}),
    "counting": ({"L": 10, "R": 2, "max_count": 10, "max_len": 16}, {"d_model": 16, "d_head": 16, "d_mlp": 16}),
}


def tiny(name, steps=30, **train_overrides):
    task_params, model_params = TINY[name]
    task = make_task(name, **task_params)
    model_cfg = ModelConfig.for_task(task, **model_params)
    train_cfg = TrainConfig(max_steps=steps, batch_size=32, eval_every=10, eval_samples=64,
                            checkpoint_every=10, lr=3e-3, **train_overrides)
    return task, model_cfg, train_cfg


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", list(TINY))
def test_same_config_and_seed_give_the_same_weights(name):
    task, model_cfg, train_cfg = tiny(name)
    first = train(task, model_cfg, train_cfg, progress=False)
    second = train(task, model_cfg, train_cfg, progress=False)
    assert_same_state(state(first.model), state(second.model))
    other = train(task, model_cfg, TrainConfig(**{**train_cfg.__dict__, "seed": 1}), progress=False)
    assert not torch.equal(state(first.model)["blocks.0.attn.q.weight"], state(other.model)["blocks.0.attn.q.weight"])


@pytest.mark.parametrize("name", list(TINY))
def test_save_load_round_trip_gives_identical_logits(name, tmp_path):
    task, model_cfg, train_cfg = tiny(name, steps=10)
    result = train(task, model_cfg, train_cfg, tmp_path / "run", progress=False)
    model, loaded_task = interp.load(tmp_path / "run")
    assert loaded_task == task
    batch = task.sample(16, 3)
    assert torch.equal(result.model(batch.inputs), model(batch.inputs))
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["config.json", "metrics.json", "model.safetensors"]  # no temp or resume files left
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 10 and metrics["history"][-1]["step"] == 10


def test_resume_after_a_kill_reaches_the_same_weights(tmp_path):
    task, model_cfg, train_cfg = tiny("parity", steps=40)
    straight = train(task, model_cfg, train_cfg, progress=False)
    out = tmp_path / "run"
    # Kill a CLI run mid-way: a child process that exits hard right after its step-20 resume write.
    code = f"""
import os, interp.checkpoint as c
from interp.training import train, TrainConfig
from interp.models import ModelConfig
from interp.tasks import make_task
original = c.write_tensors
def write_then_die(path, tensors, metadata=None):
    digest = original(path, tensors, metadata)
    if metadata and '"step": 20' in metadata["state"]:
        os._exit(9)
    return digest
c.write_tensors = write_then_die
task = make_task("parity", **{TINY["parity"][0]!r})
train(task, ModelConfig(**{model_cfg.__dict__!r}), TrainConfig(**{train_cfg.__dict__!r}), {str(out)!r}, progress=False)
"""
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert (out / "resume.safetensors").exists() and not (out / "model.safetensors").exists()
    resumed = train(task, model_cfg, train_cfg, out, resume=True, progress=False)
    assert_same_state(state(straight.model), state(resumed.model))
    assert resumed.metrics["history"] == straight.metrics["history"]
    assert not (out / "resume.safetensors").exists()


def test_resume_refuses_another_config(tmp_path):
    task, model_cfg, train_cfg = tiny("parity", steps=20)
    out = tmp_path / "run"
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(task, model_cfg, train_cfg, out, resume=True, progress=False)
    checkpoint.write_tensors(out / "resume.safetensors", {"x": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="holds no interp training state"):
        train(task, model_cfg, train_cfg, out, resume=True, progress=False)
    checkpoint.write_tensors(out / "resume.safetensors", {"x": torch.zeros(1)},
                             metadata={"state": json.dumps({"identity": {"task": "other"}})})
    with pytest.raises(CheckpointError, match="another task, model or training config"):
        train(task, model_cfg, train_cfg, out, resume=True, progress=False)


def test_training_stops_at_the_target_and_learns():
    task, model_cfg, train_cfg = tiny("selection", steps=2000, target=0.2)
    result = train(task, model_cfg, train_cfg, progress=False)
    assert result.metrics["stopped_early"] and result.metrics["steps"] < 2000
    assert evaluate(result.model, task, samples=2048)["nmse"] < 0.3


def test_finite_training_set_is_used_when_asked():
    task, model_cfg, train_cfg = tiny("parity", steps=20, train_size=64)
    result = train(task, model_cfg, train_cfg, progress=False)
    assert result.metrics["steps"] == 20


@pytest.fixture
def saved(tmp_path):
    task, model_cfg, train_cfg = tiny("parity", steps=5)
    train(task, model_cfg, train_cfg, tmp_path / "run", progress=False)
    return tmp_path / "run"


def test_truncated_weights_give_a_clear_error(saved):
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors does not match the SHA-256"):
        load_checkpoint(saved)


def test_corrupt_weights_with_matching_hash_give_a_clear_error(saved):
    weights = saved / "model.safetensors"
    weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    config = json.loads((saved / "config.json").read_text())
    config["weights"]["sha256"] = checkpoint.sha256(weights)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(saved)


def test_foreign_weights_give_a_clear_error(saved):
    weights = saved / "model.safetensors"
    checkpoint.write_tensors(weights, {"layer.weight": torch.zeros(3, 3)})
    config = json.loads((saved / "config.json").read_text())
    config["weights"]["sha256"] = checkpoint.sha256(weights)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_checkpoint(saved)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "config.json is missing"),
        ("{trunc", "not valid JSON"),
        ('{"format": "hf-model"}', "not an interp checkpoint"),
        ('{"format": "interp-checkpoint", "format_version": 99}', "format version 99"),
    ],
)
def test_bad_config_gives_a_clear_error(saved, content, message):
    if content is None:
        (saved / "config.json").unlink()
    else:
        (saved / "config.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_checkpoint(tmp_path / "nothing")


def test_checkpoint_files_are_plain_safetensors_and_json(saved):
    config = json.loads((saved / "config.json").read_text())
    assert config["task"] == {"name": "parity", "params": make_task("parity", **TINY["parity"][0]).params()}
    assert config["model"]["n_heads"] == 2 and config["train"]["max_steps"] == 5
    weights = load_file(str(saved / "model.safetensors"))
    assert "blocks.0.attn.q.weight" in weights and "embed.weight" in weights


def test_feature_model_embeds_through_hook_embed():
    task = make_task("selection", T=5, d=3, q=2)
    model = build_model(ModelConfig.for_task(task), seed=0)
    batch = task.sample(4, 0)
    _, cache = model.run_with_cache(batch.inputs)
    torch.testing.assert_close(cache["hook_embed"], batch.inputs @ model.W_E)
    assert model.W_E.shape == (task.d_vocab, model.cfg.d_model)


def test_nope_and_frozen_attention_stay_put():
    task, model_cfg, train_cfg = tiny("counting", steps=5)
    result = train(task, model_cfg, train_cfg, progress=False)
    assert torch.count_nonzero(result.model.W_pos) == 0
    task, _, train_cfg = tiny("parity", steps=5)
    frozen = ModelConfig.for_task(task, d_model=32, n_heads=2, d_mlp=32, freeze_attention=True)
    before = state(build_model(frozen, seed=0))
    after = state(train(task, frozen, train_cfg, progress=False).model)
    for key in ("embed.weight", "pos_embed.weight", "blocks.0.attn.q.weight", "blocks.0.attn.k.weight"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["blocks.0.mlp.in.weight"], after["blocks.0.mlp.in.weight"])
    assert count_parameters(build_model(frozen, 0), trainable_only=True) < count_parameters(build_model(frozen, 0))


def test_model_that_does_not_fit_the_task_is_refused():
    task = make_task("parity", n=6, k=2)
    model_cfg = ModelConfig.for_task(task)
    with pytest.raises(TaskError, match="n_ctx"):
        model_cfg.check_fits(make_task("parity", n=12, k=2))
    with pytest.raises(TaskError, match="d_model"):
        ModelConfig.for_task(task, d_model=0)
    with pytest.raises(TaskError, match="unknown model parameter"):
        ModelConfig.for_task(task, width=3)
    with pytest.raises(TaskError, match="lr"):
        TrainConfig(lr=-1)


def run_cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "interp", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_train_eval_and_errors(tmp_path):
    out = tmp_path / "run"
    trained = run_cli("train", "parity", "--set", "n=6", "--set", "k=2", "--set", "d_model=32", "--set", "n_heads=2",
                      "--set", "max_steps=20", "--set", "eval_every=10", "--seed", "3", "--out", str(out), "--quiet",
                      "--eval-samples", "256")
    assert trained.returncode == 0, trained.stderr
    assert "accuracy=" in trained.stdout
    evaluated = run_cli("eval", str(out), "--samples", "512", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    model, task = interp.load(out)
    assert report["metrics"] == pytest.approx(evaluate(model, task, samples=512))
    assert json.loads((out / "config.json").read_text())["seed"] == 3

    for args, message in [
        (("train", "sorting"), "unknown task 'sorting'"),
        (("train", "parity", "--set", "k=30"), "k must be in"),
        (("train", "parity", "--set", "width=3"), "unknown parameter 'width'"),
        (("train", "parity", "--set", "seed=3"), "ambiguous"),
        (("eval", str(tmp_path / "missing")), "no checkpoint directory"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_cli_help_and_tasks():
    helped = run_cli("--help")
    assert helped.returncode == 0
    for command in ("tasks", "train", "eval", "construct", "analyze"):
        assert command in helped.stdout
    listed = run_cli("tasks")
    assert listed.returncode == 0
    for text in ("parity", "selection", "counting", "n=20", "k=3", "T=16", "q=3", "L=40", "R=3"):
        assert text in listed.stdout


def test_cli_construct_writes_a_checkpoint_eval_and_analyze_take(tmp_path):
    out = tmp_path / "construction"
    built = run_cli("construct", "parity", "--set", "n=8", "--set", "k=2", "--out", str(out))
    assert built.returncode == 0, built.stderr
    evaluated = run_cli("eval", str(out), "--samples", "1024", "--json")
    assert json.loads(evaluated.stdout)["metrics"]["accuracy"] == 1.0
    analyzed = run_cli("analyze", str(out), "--out", str(tmp_path / "report"), "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    summary = json.loads(analyzed.stdout)
    assert summary["kind"] == "construction"
    assert summary == json.loads((tmp_path / "report" / "summary.json").read_text())
    assert all(c["verdict"] == "found" for c in summary["claims"])
    twin = run_cli("construct", "counting", "--set", "construction.name=counting_close_bias",
                   "--set", "construction.trained_regions=3", "--out", str(tmp_path / "twin"))
    assert twin.returncode == 0, twin.stderr
    assert json.loads((tmp_path / "twin" / "config.json").read_text())["construction"]["name"] == "counting_close_bias"
    refused = run_cli("construct", "parity", "--set", "d_model=8", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "construction fixes its own model" in refused.stderr


def test_shipped_selection_model_retrains_bit_for_bit(tmp_path):
    """`make train` reproduces the shipped checkpoint exactly: same config and seed, same bytes."""
    out = tmp_path / "selection"
    trained = run_cli("train", "selection", "--out", str(out), "--quiet", "--eval-samples", "256")
    assert trained.returncode == 0, trained.stderr
    shipped = Path(__file__).resolve().parents[1] / "trained_models" / "selection" / "default-seed0"
    assert (out / "model.safetensors").read_bytes() == (shipped / "model.safetensors").read_bytes()
    assert json.loads((out / "metrics.json").read_text()) == json.loads((shipped / "metrics.json").read_text())
