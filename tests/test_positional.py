"""Positional attention (Back de Luca et al.): the value tasks, the hooked model, the scan constructions, the
probes and the experiments, each at a tiny scale (docs/theory/positional.md)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformer_lens import ActivationCache, patching

from interp.analysis import analyze_model
from interp.analysis.positional import (
    homogeneity_error,
    independent_values,
    pattern_drift,
    patched,
    patterns_of,
    scan_probe,
    template_match,
    templates,
    window_statistic,
)
from interp.checkpoint import load_checkpoint, save
from interp.constructions import CONSTRUCTIONS, construct
from interp.constructions.pieces import ResidualBasis
from interp.constructions.positional import (
    cumsum,
    min_mlp,
    positional_head_output,
    scan_basis,
    scan_layers,
    shift_head,
    shift_targets,
)
from interp.defaults import configure
from interp.experiments import get_experiment, run_experiment
from interp.experiments.base import VERDICTS
from interp.models import ModelConfig, build_model
from interp.models.positional import PositionalTransformer, parameter_count
from interp.tasks import TASKS, TaskError, make_task
from interp.tasks.positional import VALUE_TASKS, sample_values
from test_cli import cli

FAST = settings(max_examples=20, deadline=None)
NAMES = list(VALUE_TASKS)


def hooked(task, **fields) -> ModelConfig:
    return ModelConfig.for_task(task, **{"n_layers": 2, "n_heads": 2, "d_model": 8, "d_head": 4, "d_mlp": 8, **fields})


# --- tasks ----------------------------------------------------------------------------------------


def brute_max_subarray(row: list[float]) -> list[float]:
    return [max(sum(row[a:b + 1]) for a in range(i + 1) for b in range(a, i + 1)) for i in range(len(row))]


@FAST
@given(n=st.integers(2, 12), seed=st.integers(0, 10**6), c=st.sampled_from([1.0, 3.0, 10.0]))
def test_targets_match_their_definitions(n, seed, c):
    x = make_task("cumsum", n=n, c=c).sample(6, seed).info["values"].double()
    rows = x.tolist()
    expected = {
        "cumsum": [[sum(r[: i + 1]) for i in range(n)] for r in rows],
        "cummin": [[min(r[: i + 1]) for i in range(n)] for r in rows],
        "cummedian": [[float(torch.tensor(r[: i + 1]).double().sort().values[[i // 2, (i + 1) // 2]].mean()) for i in range(n)]
                      for r in rows],
        "sort": [sorted(r) for r in rows],
        "cummaxsub": [brute_max_subarray(r) for r in rows],
    }
    for name in NAMES:
        assert torch.allclose(make_task(name, n=n).targets(x), torch.tensor(expected[name], dtype=torch.float64)), name


@FAST
@given(n=st.integers(2, 16), c=st.floats(1.0, 50.0), seed=st.integers(0, 10**6))
def test_values_follow_the_authors_sampling(n, c, seed):
    task = make_task("cummin", n=n, c=c)
    batch = task.sample(64, seed)
    a, b = batch.info["intervals"][:, 0], batch.info["intervals"][:, 1]
    x = batch.info["values"]
    assert (a <= b).all() and (a >= -2 * c - 1e-4).all() and (b <= 2 * c + 1e-4).all()
    assert (x >= a[:, None] - 1e-4).all() and (x <= b[:, None] + 1e-4).all()
    if c > 1:  # out of distribution: the interval is never inside the training range (up to float32 rounding)
        assert ((a <= -2) | (b >= 2)).all()
    assert batch.inputs.shape == (64, n + 1, 1) and (batch.inputs[:, n] == 0).all()  # the extra node
    assert torch.equal(batch.inputs, task.sample(64, seed).inputs)  # reproducible from the seed
    assert batch.relevant.shape == (64, n, n + 1) and not batch.relevant[..., n].any()
    assert torch.equal(batch.relevant[0, :, :n], torch.ones(n, n, dtype=torch.bool).tril())
    assert make_task("sort", n=n).sample(2, seed).relevant[:, :, :n].all()


def test_training_scale_is_the_whole_training_range_and_the_loss_ignores_the_extra_node():
    x, _ = sample_values(4000, 8, 1.0, 2.0, torch.Generator().manual_seed(0))
    assert x.abs().max() <= 2 and x.min() < -1.9 and x.max() > 1.9
    task = make_task("cumsum", n=5)
    batch = task.sample(16, 0)
    logits = torch.zeros(16, 6, 1)
    logits[:, :5, 0] = batch.targets
    assert task.loss(logits, batch) == 0
    logits[:, 5] = 123.0  # the extra node's output is not scored
    assert task.loss(logits, batch) == 0 and task.evaluate(logits, batch)["relative_error"] == 0


def test_registries_know_the_tasks():
    assert set(NAMES) <= set(TASKS) and {"cumsum", "cummin"} <= set(CONSTRUCTIONS)
    code, out, _ = cli("tasks")
    assert code == 0 and all(f"{name}: " in out for name in NAMES)
    for name in NAMES:
        for preset in ("default", "standard", "rotary", "paper-layer", "bias-free"):
            task, model_cfg, _ = configure(name, preset)
            assert model_cfg.architecture == "hooked" and model_cfg.n_layers == 4 and task.n_ctx == 9


# --- the model ------------------------------------------------------------------------------------


@FAST
@given(positional=st.sampled_from(["attention", "learned", "rotary", "none"]), layer=st.sampled_from(["additive", "concat"]),
       bias=st.booleans(), n_layers=st.integers(1, 3), n_heads=st.integers(1, 3), d_mlp=st.integers(1, 6),
       norm=st.sampled_from(["none", "LN", "RMS"]))
def test_parameter_count_is_the_state_dict_size(positional, layer, bias, n_layers, n_heads, d_mlp, norm):
    norm = "none" if layer == "concat" else norm
    cfg = hooked(make_task("cumsum", n=5), positional=positional, layer=layer, bias=bias, n_layers=n_layers,
                 n_heads=n_heads, d_mlp=d_mlp, normalization_type=norm)
    model = build_model(cfg, seed=0)
    assert parameter_count(cfg) == sum(t.numel() for t in model.state_dict().values())
    assert ("blocks.0.attn.b_Q" in model.state_dict()) == bias
    assert model.W_Q.shape[-2] == (cfg.n_ctx if positional == "attention" else cfg.d_model)


def test_positional_queries_and_keys_never_see_the_values():
    task = make_task("cumsum", n=6)
    model = build_model(hooked(task), seed=1).eval()
    small, big = task.sample(8, 0), task.replace(c=100.0).sample(8, 1)
    for a, b in zip(patterns_of(model, small.inputs), patterns_of(model, big.inputs)):
        assert torch.equal(a, b) and a.shape == (8, 2, 7, 7)
    inputs = small.inputs.clone().requires_grad_(True)
    _, cache = model.run_with_cache(inputs)
    assert isinstance(cache, ActivationCache)
    assert cache["blocks.1.attn.hook_q"].shape == (8, 7, 2, 4) and cache["z", 1].shape == (8, 7, 2, 4)
    q = model.run_with_cache(inputs, names_filter=["blocks.1.attn.hook_q"], return_cache_object=False)[1]
    assert not q["blocks.1.attn.hook_q"].requires_grad  # nothing upstream of Q is a function of the inputs
    standard = build_model(hooked(task, positional="learned"), seed=1).eval()
    assert pattern_drift(standard, small, 10.0).max() > 1e-3 and pattern_drift(model, small, 10.0).max() == 0


def test_bias_free_positional_models_are_homogeneous_and_biased_ones_are_not():
    task = make_task("cummin", n=8)
    batch = task.sample(64, 0)
    free = build_model(hooked(task, bias=False), seed=2).eval()
    biased = build_model(hooked(task), seed=2).eval()
    with torch.no_grad():
        for name, p in biased.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("b_"):
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(3))
    for c in (2.0, 10.0, 1000.0):
        assert homogeneity_error(free, task, batch, c) < 1e-5
        assert homogeneity_error(biased, task, batch, c) > 1e-3
    concat = build_model(hooked(task, bias=False, layer="concat"), seed=2).eval()
    assert homogeneity_error(concat, task, batch, 10.0) < 1e-5


def test_hooks_patching_and_the_paper_layer_work_as_in_transformerlens():
    task = make_task("cumsum", n=5)
    model = build_model(hooked(task, layer="concat"), seed=0).eval()
    clean, corrupt = task.sample(16, 0), task.sample(16, 1)
    logits, cache = model.run_with_cache(clean.inputs)
    assert cache["blocks.0.hook_mlp_in"].shape == (16, 6, 16) and "blocks.0.hook_resid_mid" not in cache

    def metric(out):
        return -(task.outputs(out, clean) - clean.targets).pow(2).mean()

    effect = patching.get_act_patch_attn_head_out_all_pos(model, corrupt.inputs, cache, metric)
    assert effect.shape == (2, 2) and torch.isfinite(effect).all()
    uniform = torch.full((2, 6, 6), 1 / 6)
    moved = patched(model, clean.inputs, [uniform, None])
    assert not torch.allclose(moved, logits)
    # An in-place edit of a shared positional pattern touches only the example it indexes.
    def zero_first(pattern, hook):
        pattern[0] = 0.0
        return pattern

    edited = model.run_with_hooks(clean.inputs, fwd_hooks=[("blocks.1.attn.hook_pattern", zero_first)])
    assert torch.allclose(edited[1:], logits[1:], atol=1e-6) and not torch.allclose(edited[0], logits[0], atol=1e-4)


def test_seeds_causal_masks_rotary_and_frozen_attention():
    task = make_task("sort", n=4)
    for positional in ("attention", "rotary"):
        a, b = build_model(hooked(task, positional=positional), seed=5), build_model(hooked(task, positional=positional), seed=5)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    causal = build_model(hooked(task, attention_dir="causal"), seed=0).eval()
    pattern = patterns_of(causal, task.sample(2, 0).inputs)[0]
    assert (pattern.triu(1) == 0).all()
    frozen = build_model(hooked(task, freeze_attention=True), seed=0)
    trainable = {name for name, p in frozen.named_parameters() if p.requires_grad}
    assert "blocks.1.attn.W_V" in trainable and "blocks.1.attn.W_Q" not in trainable and "embed.W_E" not in trainable


def test_checkpoints_round_trip_and_refuse_a_bridge_config(tmp_path):
    task = make_task("cummaxsub", n=4)
    model = build_model(hooked(task, bias=False, layer="concat"), seed=4).eval()
    save(tmp_path / "m", model, task, seed=4)
    ckpt = load_checkpoint(tmp_path / "m")
    assert isinstance(ckpt.model, PositionalTransformer) and ckpt.model_config.layer == "concat"
    batch = task.sample(8, 0)
    assert torch.equal(ckpt.model(batch.inputs), model(batch.inputs))
    with pytest.raises(TaskError, match="architecture"):
        ModelConfig.for_task(task, architecture="bridge")  # the task's default is positional attention
    with pytest.raises(TaskError, match="normalization_type"):
        hooked(task, layer="concat", normalization_type="LN")


# --- constructions --------------------------------------------------------------------------------


@FAST
@given(n=st.integers(2, 12), shift=st.integers(1, 8), end=st.sampled_from(["extra", "self"]), seed=st.integers(0, 10**6))
def test_shift_head_moves_each_value_by_the_shift(n, shift, end, seed):
    basis = scan_basis()
    resid = torch.randn(3, n + 1, basis.d_model, generator=torch.Generator().manual_seed(seed))
    out = positional_head_output(shift_head(basis, n, shift, value="s", out="t", out_of_range=end), resid)
    targets = shift_targets(n, shift, end)
    assert torch.allclose(out[..., basis["t"]], resid[:, targets, basis["s"]], atol=1e-5)
    assert out[..., basis["s"]].abs().max() == 0


@FAST
@given(seed=st.integers(0, 10**6), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_min_mlp_writes_the_minimum_and_clears_the_scratch(seed, scale):
    basis = scan_basis()
    resid = torch.randn(50, basis.d_model, generator=torch.Generator().manual_seed(seed)) * scale
    after = resid + min_mlp(basis, "s", "t")(resid)
    assert torch.allclose(after[:, basis["s"]], torch.minimum(resid[:, 0], resid[:, 1]), rtol=0, atol=1e-6 * scale)
    assert after[:, basis["t"]].abs().max() == 0


@settings(max_examples=12, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10**6), kind=st.sampled_from(["cumsum", "cummin"]))
def test_scans_are_exact_at_every_value_scale(n, seed, kind):
    task = make_task(kind, n=n)
    model = CONSTRUCTIONS[kind](task)
    assert model.interp_config.n_layers == scan_layers(n) == max(1, math.ceil(math.log2(n)))
    for c in (1.0, 10.0, 100.0, 1000.0):
        batch = task.replace(c=c).sample(128, seed)
        with torch.no_grad():
            assert task.evaluate(model(batch.inputs), batch)["relative_error"] <= 1e-5, (n, c)


def test_scan_patterns_are_the_shifts_and_survive_a_checkpoint(tmp_path):
    task = make_task("cummin", n=8)
    model = construct(task)
    assert model.residual_labels == ["s", "t"] and model.construction["params"]["layers"] == 3
    patterns = patterns_of(model, task.sample(2, 0).inputs)
    for layer, pattern in enumerate(patterns):
        assert torch.allclose(pattern[0, 0], templates(8)[f"shift-{2**layer}/self"], atol=1e-6)
    code, out, err = cli("construct", "cummin", "--set", "n=8", "--out", tmp_path / "scan")
    assert code == 0, err
    loaded = load_checkpoint(tmp_path / "scan")
    batch = task.replace(c=1000.0).sample(32, 1)
    assert torch.equal(loaded.model(batch.inputs), model(batch.inputs))
    assert ResidualBasis.from_labels(loaded.model.residual_labels).labels == ["s", "t"]
    with pytest.raises(TaskError, match="must be a cumsum task"):
        cumsum(task)


# --- probes ---------------------------------------------------------------------------------------


def test_window_statistics_and_templates():
    x = torch.tensor([[3.0, -1.0, 4.0, 1.0, -5.0]])
    assert window_statistic(x, 2, "sum").tolist() == [[3.0, 2.0, 3.0, 5.0, -4.0]]
    assert window_statistic(x, 4, "min").tolist() == [[3.0, -1.0, -1.0, -1.0, -5.0]]
    for name, template in templates(6).items():
        assert torch.allclose(template.sum(-1), torch.ones(7)), name
        assert template_match(template, 6)[:2] == (name, 1.0) or template_match(template, 6)[1] == 1.0


def test_probes_find_the_scan_in_the_construction_and_not_in_a_random_model():
    task = make_task("cumsum", n=8)
    scan = cumsum(task)
    analysis = analyze_model(scan, task, reference=scan, samples=256)
    verdicts = {c.name: c.verdict for c in analysis.claims}
    assert all(v == "found" for v in verdicts.values()), verdicts
    assert analysis.assessment.status == "predicted"
    r2 = scan_probe(scan, task, independent_values(task, 512, 0), "sum")
    assert r2.shape == (3, 4) and all(r2[layer, layer + 1] > 0.999 for layer in range(3))
    standard = build_model(ModelConfig.for_task(task, positional="learned"), seed=0).eval()
    random = analyze_model(standard, task, reference=scan, samples=256)
    assert random.claim("routing ignores the values").verdict != "found"
    assert random.claim("layers hold the scan's partial windows").verdict == "not_found"
    assert random.claim("fits the training range").verdict == "not_found"
    json.dumps([c.to_dict() for c in random.claims])


# --- training and experiments -----------------------------------------------------------------------


@pytest.mark.slow
def test_train_eval_and_analyze_through_the_cli(tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "cumsum", "--set", "n=4", "--set", "max_steps=20", "--set", "eval_every=10",
                         "--set", "eval_samples=64", "--eval-samples", "64", "--quiet", "--out", run)
    assert code == 0, err
    code, out, err = cli("eval", run, "--set", "c=10", "--samples", "64", "--json")
    assert code == 0 and json.loads(out)["params"]["c"] == 10.0, err
    code, out, err = cli("analyze", run, "--out", tmp_path / "report", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["task"] == "cumsum" and (tmp_path / "report" / "report.html").exists()
    assert {c["name"] for c in summary["claims"]} >= {"routing ignores the values", "works with the scan's positional patterns patched in"}


TINY = {
    "positional-scale": {"tasks": ["cumsum"], "n": 4, "steps": 3, "scales": [1.0, 10.0], "test_samples": 32},
    "positional-bias-free": {"tasks": ["cummin"], "n": 4, "steps": 3, "scales": [1.0, 10.0], "test_samples": 32},
    "positional-size": {"ns": [2, 4], "steps": 3, "test_samples": 32},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TINY))
def test_experiments_run_at_a_tiny_scale(name, tmp_path):
    summary = run_experiment(name, settings=TINY[name], seeds=1, out=tmp_path / name, progress=False, jobs=1, device="cpu")
    assert summary["runs"]["failed"] == 0 and summary["rows"]
    for row in summary["rows"]:
        assert row["verdict"] in VERDICTS and row["rule"] and row["reference"]["source"]
    assert (tmp_path / name / "report.html").exists() and summary["figures"]
    assert get_experiment(name).quick_seeds >= 3
