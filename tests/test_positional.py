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
from interp.models.config import hooked_parameter_count as parameter_count
from interp.models.positional import PositionalTransformer
from interp.tasks import TASKS, TaskError, make_task
from interp.tasks.positional import VALUE_TASKS, sample_values
from interp.training import TrainConfig, make_plateau, train

from conftest import check_census, train_killed_after_step  # this folder's conftest
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
       norm=st.sampled_from(["none", "LN", "RMS"]), d_value=st.sampled_from([0, 3, 4, 6]))
def test_parameter_count_is_the_state_dict_size(positional, layer, bias, n_layers, n_heads, d_mlp, norm, d_value):
    norm = "none" if layer == "concat" else norm
    cfg = hooked(make_task("cumsum", n=5), positional=positional, layer=layer, bias=bias, n_layers=n_layers,
                 n_heads=n_heads, d_mlp=d_mlp, normalization_type=norm, d_value=d_value)
    model = build_model(cfg, seed=0)
    assert parameter_count(cfg) == sum(t.numel() for t in model.state_dict().values())
    assert model.W_V.shape[-1] == model.W_O.shape[-2] == (d_value or cfg.d_head)
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
    "positional-scale": {"tasks": ["cumsum"], "n": 4, "epochs": 1, "train_size": 96, "batch_size": 32,
                         "scales": [1.0, 10.0], "test_samples": 32},
    "positional-bias-free": {"tasks": ["cummin"], "n": 4, "epochs": 1, "train_size": 96, "batch_size": 32,
                             "scales": [1.0, 10.0], "test_samples": 32},
    "positional-size": {"ns": [2, 4], "epochs": 1, "train_size": 96, "batch_size": 32, "test_samples": 32},
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
    check_census(summary)


# --- the authors' model and protocol (the paper presets) ------------------------------------------


def test_paper_preset_is_the_authors_model_and_protocol():
    task, model_cfg, train_cfg = configure("cumsum", "paper", {"task": {"n": 8}})
    assert (model_cfg.layer, model_cfg.d_model, model_cfg.n_heads, model_cfg.d_mlp, model_cfg.bias) == ("concat", 64, 2, 64, True)
    assert (model_cfg.d_head, model_cfg.value_width, model_cfg.n_layers) == (task.n + 1, 32, 4)  # Q/K: pos_dim = n + 1
    assert model_cfg.init_mode == "xavier_attention" and model_cfg.positional == "attention"
    assert (train_cfg.lr, train_cfg.lr_schedule, train_cfg.plateau_patience, train_cfg.plateau_factor) == (5e-4, "plateau", 50, 0.9)
    assert (train_cfg.weight_decay, train_cfg.grad_clip, train_cfg.train_size, train_cfg.batch_size) == (0, 0, 30_000, 1000)
    assert train_cfg.train_order == "epochs" and train_cfg.max_steps == 2001 * train_cfg.steps_per_epoch
    for preset, positional in (("paper-standard", "learned"), ("paper-rotary", "rotary")):
        _, cfg, _ = configure("sort", preset, {"task": {"n": 4}})
        assert (cfg.positional, cfg.d_head, cfg.value_width, cfg.layer) == (positional, 64, 32, "concat")
    # The authors' positional model at n = 8 has 84,577 parameters (4 layers of qk_proj 9 -> 36, v_proj and o_proj
    # 64 -> 64, MLP 128 -> 64 -> 64, all with biases; encoding 1 -> 64, decoding 64 -> 1); ours lacks only the
    # encoder's 64 biases, which the next layers' biases absorb (attention rows sum to 1; the MLP reads x linearly).
    assert parameter_count(model_cfg) == 84_577 - 64


def test_xavier_attention_init_draws_the_authors_distributions():
    task = make_task("cumsum", n=8)
    cfg = ModelConfig.for_task(task, layer="concat", d_model=64, n_heads=2, d_head=9, d_value=32, d_mlp=64,
                               init_mode="xavier_attention")
    model = build_model(cfg, seed=3)
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    bounds = {attn.W_Q: math.sqrt(6 / (9 + 2 * 2 * 9)), attn.W_K: math.sqrt(6 / (9 + 2 * 2 * 9)),
              attn.W_V: math.sqrt(6 / 128), attn.W_O: math.sqrt(6 / 128), mlp.W_in: 1 / math.sqrt(128),
              mlp.b_in: 1 / math.sqrt(128), mlp.W_out: 1 / math.sqrt(64), mlp.b_out: 1 / math.sqrt(64),
              model.W_E: 1.0, model.W_U: 1 / math.sqrt(64), model.unembed.b_U: 1 / math.sqrt(64)}
    for param, bound in bounds.items():  # uniform on [-bound, bound]: inside it, and filling it
        assert param.abs().max() <= bound and (param.numel() < 32 or param.abs().max() > 0.8 * bound)
    assert not any(bool(b.any()) for b in (attn.b_Q, attn.b_K, attn.b_V, attn.b_O))
    assert bool(mlp.b_in.any())  # PyTorch's nn.Linear bias, not TransformerLens's zero
    again = build_model(cfg, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    standard = build_model(ModelConfig.for_task(task, positional="learned", d_model=64, init_mode="xavier_attention"), 0)
    assert standard.pos_embed.W_pos.abs().max() <= 1 / math.sqrt(1 + task.n_ctx)  # the encoder of concat[x, P]


def test_new_options_refuse_bad_values_in_one_line():
    task = make_task("cumsum", n=4)
    for fields, match in (({"d_value": -1}, "d_value"), ({"architecture": "bridge", "positional": "learned", "d_value": 8},
                                                          "d_value"),
                          ({"architecture": "bridge", "positional": "learned", "init_mode": "xavier_attention"}, "init_mode"),
                          ({"init_mode": "lecun"}, "init_mode")):
        with pytest.raises(TaskError, match=match):
            ModelConfig.for_task(task, **fields)
    assert ModelConfig.for_task(task, architecture="bridge", positional="learned", d_value=16, d_head=16).value_width == 16
    for fields, match in (({"lr_schedule": "plateau"}, "train_size"), ({"train_order": "epochs"}, "train_size"),
                          ({"lr_schedule": "plateau", "train_size": 8, "warmup_steps": 2}, "warm-up"),
                          ({"plateau_factor": 1.0}, "plateau_factor"), ({"plateau_factor": 0}, "plateau_factor"),
                          ({"plateau_patience": -1}, "plateau_patience"), ({"plateau_min_lr": -1.0}, "plateau_min_lr"),
                          ({"train_order": "shuffled"}, "train_order"), ({"lr_schedule": "step"}, "lr_schedule")):
        with pytest.raises(TaskError, match=match):
            TrainConfig(**fields)


def test_plateau_schedule_is_pytorchs_on_a_toy_loss():
    """Patience 2, factor 0.5: the rate halves at the third epoch in a row without a relative improvement of 1e-4
    (3.99999 after 4 is none), the count starts again after a drop, and the rate never goes below the floor."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = make_plateau(optimizer, TrainConfig(lr=1.0, lr_schedule="plateau", train_size=10, plateau_patience=2,
                                                   plateau_factor=0.5, plateau_min_lr=0.2))
    rates = []
    for loss in [5.0, 4.0, 4.0, 4.0, 4.0, 3.99999, 4.1, 4.1, 4.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        scheduler.step(loss)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == [1.0] * 4 + [0.5] * 3 + [0.25] * 5 + [0.2] * 4


def test_a_tiny_paper_run_trains_by_epochs_and_its_plateau_halves_a_frozen_rate():
    """At a rate too small to move the weights each epoch's summed loss is the same (every epoch reads the whole
    set once), so with patience 0 the rate halves at every epoch after the first."""
    settings_ = {"task": {"n": 4}, "train": {"train_size": 64, "batch_size": 32, "max_steps": 8, "eval_every": 2,
                                             "eval_samples": 64, "lr": 1e-12, "plateau_patience": 0,
                                             "plateau_factor": 0.5, "plateau_min_lr": 0.0}}
    task, model_cfg, train_cfg = configure("cumsum", "paper", settings_)
    result = train(task, model_cfg, train_cfg, progress=False)
    assert [h["lr"] for h in result.metrics["history"]] == pytest.approx([1e-12, 5e-13, 2.5e-13, 1.25e-13], rel=1e-9)
    learning = configure("cumsum", "paper", {"task": {"n": 4}, "train": {**settings_["train"], "lr": 5e-3,
                                                                          "plateau_patience": 50}})
    history = train(*learning, progress=False).metrics["history"]
    assert all(math.isfinite(h["mse"]) for h in history) and history[-1]["lr"] == 5e-3


def test_a_killed_paper_run_resumes_mid_epoch_to_the_same_weights(tmp_path):
    """The epoch's permutation, its summed loss and the plateau state travel in the resume state."""
    settings_ = {"task": {"n": 4}, "train": {"train_size": 96, "batch_size": 32, "max_steps": 12, "eval_every": 12,
                                             "eval_samples": 64, "checkpoint_every": 4, "lr": 1e-3,
                                             "plateau_patience": 0, "plateau_factor": 0.5}}
    torch.set_num_threads(1)
    task, model_cfg, train_cfg = configure("cumsum", "paper", settings_)
    straight = train(task, model_cfg, train_cfg, progress=False).model
    out = tmp_path / "run"
    killed = train_killed_after_step(4, "from interp.defaults import configure\nfrom interp.training import train\n"
                                        f"train(*configure('cumsum', 'paper', {settings_!r}), {str(out)!r}, progress=False)")
    assert killed.returncode == 9, killed.stderr
    resumed = train(task, model_cfg, train_cfg, out, resume=True, progress=False).model
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


@pytest.mark.parametrize("name", list(VALUE_TASKS))
def test_the_authors_fit_is_read_on_the_tasks_training_range(name):
    """``AUTHORS_FIT`` turns the authors' MSE at c = 1 into a relative error through the mean square target of the
    task's training range at n = 8: the constant it uses is what the task's sampler gives."""
    from interp.experiments.positional import AUTHORS_FIT, AUTHORS_MSE, MEAN_SQUARE_TARGET

    targets = make_task(name, n=8).sample(100_000, 0).targets
    assert targets.pow(2).mean().item() == pytest.approx(MEAN_SQUARE_TARGET[name], rel=0.02)
    for model, fit in AUTHORS_FIT[name].items():
        assert fit ** 2 * MEAN_SQUARE_TARGET[name] == pytest.approx(AUTHORS_MSE[name][model][0])


def test_the_committed_summaries_show_ours_beside_every_cell_the_authors_report():
    """Every cell of the authors' scale table (task x model x c) and of their size sweep (model x n) has a row
    whose reference is the authors' number and whose measured value is ours, graded or untested."""
    from interp.experiments.positional import AUTHORS_MSE, AUTHORS_SCALES, AUTHORS_SIZE
    from interp.experiments.resummarize import committed

    scale = {row["name"]: row for row in committed("positional-scale")[1]["rows"]}
    for task, by_model in AUTHORS_MSE.items():
        for model, cells in by_model.items():
            row = scale[f"{task}: {model} MSE at c = 1, 2, 4, 10 within 10x of the authors'"]
            assert row["reference"]["value"] == {f"c={c}": v for c, v in zip(AUTHORS_SCALES, cells)}
            assert all(isinstance(row["measured"]["ours"][f"c={c}"], float) for c in AUTHORS_SCALES), row["name"]
    size = {row["name"]: row for row in committed("positional-size")[1]["rows"]}
    for model, cells in AUTHORS_SIZE.items():
        for n, theirs in cells.items():
            row = size[f"n = {n}: {model} MSE on [-6, 6] within 10x of the authors' {theirs:g}"]
            assert isinstance(row["measured"]["ours"], float) and row["measured"]["authors"] == theirs
