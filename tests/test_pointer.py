"""Han & Ghoshdastidar's minimal parity model as a toolkit model (``architecture="pointer"``, the parity ``minimal``
preset): the same function as their ``PointerParity``, its hooks, checkpoints, its loss and full-batch option, the
construction exact over n and k, the parity probes finding the predicted circuit on the construction and not on a
random minimal model, and ``interp train/eval/analyze`` on it at a tiny n."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.analysis import MECHANISM_KINDS
from interp.analysis.run import preset_for
from interp.checkpoint import load_checkpoint, save
from interp.constructions import construct
from interp.defaults import configure
from interp.families.parity import analyze
from interp.models import ModelConfig, build_model
from interp.models.config import check_pointer_task, pointer_parameter_count
from interp.models.pointer import PointerTransformer
from interp.models.pointer_parity import PointerParity, PointerParityConfig
from interp.tasks import ParityTask, TaskError, make_task
from interp.training import TrainConfig, squared_mean_hinge, train

TINY = {"n": 8, "k": 2}  # what the CLI tests train: the minimal preset at n = 8, k = 2


def every_input(task: ParityTask) -> torch.Tensor:
    bits = torch.tensor(list(itertools.product([0, 1], repeat=task.n)))
    return torch.cat([bits, torch.full((len(bits), 1), 2)], 1)


def minimal_config(task: ParityTask) -> ModelConfig:
    _, cfg, _ = configure("parity", "minimal", {"task": {"n": task.n, "k": task.k, "seed": task.seed},
                                                "model": {"n_heads": task.k, "d_mlp": task.k}})
    return cfg


def test_same_function_as_the_authors_model_with_hooks_or_without():
    task = ParityTask(n=10, k=3, seed=2)
    model = build_model(minimal_config(task), seed=4)
    authors = PointerParity(PointerParityConfig(n=10, k=3, n_heads=3), seed=0)
    with torch.no_grad():
        authors.W_Q.copy_(model.W_Q)
    inputs = every_input(task)
    logits = model(inputs)
    # Their score s, predicting 1 iff s >= 1/2, is the logit difference's (2 s - 1) / 2 + 1/2, at every position.
    assert torch.allclose((logits[:, :, 1] - logits[:, :, 0] + 1) / 2, authors(inputs[:, :10])[:, None].expand(-1, 11),
                          atol=1e-5)
    hooked, cache = model.run_with_cache(inputs)
    assert torch.allclose(hooked, logits, atol=1e-5)
    assert cache["blocks.0.attn.hook_pattern"].shape == (len(inputs), 3, 11, 11)
    assert torch.allclose(cache["blocks.0.attn.hook_pattern"][0, :, 10, :10], authors.pattern(), atol=1e-6)
    assert (cache["blocks.0.attn.hook_pattern"][:, :, :, 10] == 0).all()  # CLS is never attended to
    assert cache["blocks.0.attn.hook_z"].shape == (len(inputs), 11, 3, 1)
    assert [name for name, _ in model.named_parameters()] == ["blocks.0.attn.W_Q"]


def test_a_hook_that_writes_is_obeyed():
    task = ParityTask(n=8, k=2, seed=0)
    model = construct(task, preset="minimal")
    inputs = every_input(task)
    zeroed = model.run_with_hooks(inputs, fwd_hooks=[("blocks.0.attn.hook_z", lambda z, hook: z * 0)])
    assert (zeroed[:, 8].argmax(-1) == 0).all()  # count 0 everywhere: parity 0
    per_input = model.run_with_hooks(inputs, fwd_hooks=[("blocks.0.attn.hook_pattern", lambda p, hook: p.clone())])
    assert torch.allclose(per_input, model(inputs), atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    task = ParityTask(n=8, k=2, seed=0)
    model = build_model(minimal_config(task), seed=3)
    save(tmp_path / "ckpt", model, task, seed=3)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(loaded.model, PointerTransformer) and loaded.model_config == model.interp_config
    assert torch.equal(loaded.model(every_input(task)), model(every_input(task)))
    assert preset_for(task, loaded.model_config) == "minimal"


def test_config_and_task_faults_are_one_line_errors():
    task = ParityTask(n=8, k=2, seed=0)
    cfg = minimal_config(task)
    with pytest.raises(TaskError, match="d_model=2"):
        dataclasses.replace(cfg, d_model=4)
    with pytest.raises(TaskError, match="d_mlp must equal n_heads"):
        dataclasses.replace(cfg, d_mlp=5)
    with pytest.raises(TaskError, match="k = n_heads = 2"):
        dataclasses.replace(cfg, n_ctx=9).check_fits(ParityTask(n=8, k=3, seed=0))
    with pytest.raises(TaskError, match="full_batch needs"):
        TrainConfig(full_batch=True)
    with pytest.raises(TaskError, match="two-class"):
        from interp.tasks import make_task

        counting = make_task("counting")
        train(counting, None, TrainConfig(loss="squared-mean-hinge", max_steps=1))


def test_squared_mean_hinge_is_the_authors_loss():
    task = ParityTask(n=8, k=2, seed=0)
    model = build_model(minimal_config(task), seed=1)
    batch = task.sample(64, 0)
    authors = PointerParity(PointerParityConfig(n=8, k=2, n_heads=2), seed=0)
    with torch.no_grad():
        authors.W_Q.copy_(model.W_Q)
    from interp.models.pointer_parity import squared_mean_hinge as theirs

    assert torch.allclose(squared_mean_hinge(task, model(batch.inputs), batch),
                          theirs(authors(batch.inputs[:, :8]), batch.targets), atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 14), data=st.data())
def test_construction_exact_on_every_input(n, data):
    k = data.draw(st.integers(1, min(n, 6)))
    task = ParityTask(n=n, k=k, seed=data.draw(st.integers(0, 1000)))
    model = construct(task, preset="minimal")
    inputs = every_input(task)
    assert bool((model(inputs)[:, n].argmax(-1) == task.labels(inputs[:, :n])).all())


def mechanism(analysis):
    return {c.name: c for c in analysis.claims if c.kind in MECHANISM_KINDS}


def test_probes_find_the_circuit_on_the_construction_and_not_on_a_random_model():
    task = ParityTask(n=12, k=3, seed=1)
    built = construct(task, preset="minimal")
    found = analyze(built, task, built, samples=512)
    assert found.assessment.status == "predicted", found.mechanism
    assert "the predicted circuit" in found.mechanism
    assert all(c.verdict == "found" for c in mechanism(found).values() if c.verdict != "untestable")
    assert found.claim("each bit of S has its own head").verdict == "found"
    for seed in range(3):
        random = analyze(build_model(built.interp_config, seed=seed).eval(), task, built, samples=512)
        assert random.assessment.status != "predicted" and "the predicted circuit:" not in random.mechanism
        assert random.claim("solves the task").verdict != "found"


def test_the_probes_that_do_not_apply_say_why():
    # The other heads: every head of the construction is a circuit head, so nothing is left to ablate.
    task = ParityTask(n=12, k=3, seed=1)
    built = construct(task, preset="minimal")
    claim = analyze(built, task, built, samples=256).claim("the other heads are not needed")
    assert claim.verdict == "untestable" and "every head is a circuit head" in claim.detail


def test_train_eval_analyze_from_the_cli(cli, tmp_path):
    out = tmp_path / "minimal"
    code, stdout, stderr = cli("train", "parity", "--preset", "minimal", "--seed", "0", "--out", out, "--quiet",
                               "--set", "task.n=8", "--set", "task.k=2", "--set", "model.n_heads=2",
                               "--set", "model.d_mlp=2", "--set", "train.train_size=154",
                               "--set", "train.eval_samples=51", "--set", "train.max_steps=300")
    assert code == 0, stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["architecture"] == "pointer" and config["train"]["loss"] == "squared-mean-hinge"
    code, stdout, stderr = cli("eval", out)
    assert code == 0 and "accuracy" in stdout, stderr
    code, stdout, stderr = cli("analyze", out, "--out", tmp_path / "report")
    assert code == 0, stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["model"]["architecture"] == "pointer"
    assert any(c["name"] == "agrees with the construction" for c in summary["claims"])


def test_the_experiments_pointer_runs_record_their_mechanism_on_the_toolkit_model():
    """parity-minimal and parity-ffnn train the authors' layout and hand its queries to the toolkit's model for the
    census: the same logits on every input, and the status the probes give the toolkit model itself."""
    from interp.experiments.census import mechanism as census_record
    from interp.experiments.parity import as_minimal_model, hg_split, train_pointer

    task = ParityTask(n=8, k=2, seed=3)
    authors = PointerParity(PointerParityConfig(n=8, k=2, n_heads=2), seed=5)
    with torch.no_grad():
        authors.W_Q.mul_(7.0)  # sharp pointers, away from the init
    toolkit = as_minimal_model(authors, task)
    inputs = every_input(task)
    logits = toolkit(inputs)[:, -1]
    assert torch.allclose((logits[:, 1] - logits[:, 0] + 1) / 2, authors(inputs[:, :8]), atol=1e-5)

    data = hg_split(8, 2, 3, 1.0)
    out = train_pointer(PointerParityConfig(n=8, k=2, n_heads=2), 3, data, 0.1, 30, 10)
    assert set(out["mechanisms"]) == {"pointer"}
    assert out["mechanisms"]["pointer"]["solved"] == (out["solved_at"] is not None)
    assert out["mechanisms"]["pointer"]["status"] in {"predicted", "partly", "absent", "untested"}
    frozen = train_pointer(PointerParityConfig(n=8, k=2, n_heads=4, readout="mlp", train_queries=False), 3, data, 0.1,
                           10, 10)
    assert frozen["mechanisms"]["pointer"]["solved"] == (frozen["test_accuracy"] >= 0.95)
    # the construction's queries, through the same path, are the predicted circuit
    built = construct(task, preset="minimal")
    with torch.no_grad():
        authors.W_Q.copy_(built.W_Q)
    assert census_record(as_minimal_model(authors, task), task, True)["status"] == "predicted"


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 12), heads=st.integers(1, 9), width=st.integers(1, 12), norm=st.floats(0.5, 40.0),
       seed=st.integers(0, 10_000))
def test_the_frozen_attention_control_is_the_authors_model_with_hooks_or_without(n, heads, width, norm, seed):
    """``readout="mlp"``: the authors' frozen-attention control (their ``readout="mlp"``, frozen queries) moved into
    the toolkit's pointer model computes their score on every input, with and without hooks, each head's bit mass
    in a residual direction of its own; its checkpoint holds the queries and the MLP, and only the MLP trains."""
    from interp.experiments.parity import as_minimal_model

    task = ParityTask(n=n, k=min(2, n), seed=seed)
    authors = PointerParity(PointerParityConfig(n=n, k=task.k, n_heads=heads, query_norm=norm, readout="mlp",
                                                readout_width=width, train_queries=False), seed=seed)
    model = as_minimal_model(authors, task)
    inputs = every_input(task)
    logits = model(inputs)[:, -1]
    assert torch.allclose((logits[:, 1] - logits[:, 0] + 1) / 2, authors(inputs[:, :n]), atol=1e-4)
    hooked, cache = model.run_with_cache(inputs)
    assert torch.allclose(hooked[:, -1], logits, atol=1e-5)
    assert model.residual_labels == [f"head {h}" for h in range(heads)] + ["score"]
    assert torch.allclose(cache["blocks.0.hook_resid_mid"][:, n, :heads], authors.hook_head_out(inputs[:, :n].float()
                          @ authors.pattern().T), atol=1e-5)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["blocks.0.mlp.W_in", "blocks.0.mlp.b_in", "blocks.0.mlp.W_out", "blocks.0.mlp.b_out"]
    assert sum(v.numel() for v in model.state_dict().values()) == pointer_parameter_count(model.interp_config)


def test_the_frozen_attention_control_checkpoint_and_faults(tmp_path):
    task = ParityTask(n=8, k=2, seed=0)
    cfg = dataclasses.replace(minimal_config(task), readout="mlp", n_heads=5, d_model=6, d_mlp=16, freeze_attention=True)
    model = build_model(cfg, seed=3)
    save(tmp_path / "ckpt", model, task, seed=3)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.model_config.readout == "mlp"
    assert torch.equal(loaded.model(every_input(task)), model(every_input(task)))
    with pytest.raises(TaskError, match="d_model=6"):
        dataclasses.replace(cfg, d_model=2)
    with pytest.raises(TaskError, match="nothing to train"):
        dataclasses.replace(minimal_config(task), freeze_attention=True)
    with pytest.raises(TaskError, match="readout='mlp' needs architecture='pointer'"):
        ModelConfig(readout="mlp")
    dataclasses.replace(cfg, n_ctx=10).check_fits(ParityTask(n=9, k=4, seed=0))  # any k: the MLP reads every head
    with pytest.raises(TaskError, match="reads a parity task, got task 'counting'"):
        check_pointer_task(cfg, make_task("counting"))
