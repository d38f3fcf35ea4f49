"""The encoder-decoder (``interp.models.encoder_decoder``, the counting paper's model): TransformerLens hook and
weight names and shapes, what each half can see, its input layout check, and the command line on it (train,
resume, eval) through the counting family's ``paper`` preset."""

from __future__ import annotations


import pytest
import torch

from interp import checkpoint
from interp.checkpoint import load_checkpoint
from interp.defaults import configure
from interp.limits import parameter_count
from interp.models import ModelConfig, build_model
from interp.models.encoder_decoder import encoder_length
from interp.tasks.counting import FIRST_QUERY, CountingTask
from interp.validation import TaskError

TASK = CountingTask(L=24, R=3, max_count=24, max_len=64)


def paper_config(**fields) -> ModelConfig:
    base = dict(architecture="encoder-decoder", decoder_vocab_start=FIRST_QUERY, n_layers=1, n_heads=2, d_model=16,
                d_head=8, d_mlp=32, positional="none", n_ctx=TASK.n_ctx, d_vocab=TASK.d_vocab,
                d_vocab_out=TASK.d_vocab_out)
    return ModelConfig(**{**base, **fields})



@pytest.mark.parametrize("positional", ["none", "learned", "rotary"])
@pytest.mark.parametrize("decoder", ["full", "cross"])
def test_hooks_weights_and_shapes_follow_transformer_lens(positional, decoder):
    model = build_model(paper_config(positional=positional, decoder=decoder), seed=1)
    batch = TASK.sample(5, 0)
    n, R = 1 + TASK.L, TASK.R
    logits, cache = model.run_with_cache(batch.inputs)
    assert logits.shape == (5, n + R, TASK.d_vocab_out)
    assert not logits[:, :n].any()
    assert cache["blocks.0.attn.hook_pattern"].shape == (5, 2, n, n)
    assert cache["decoder.0.cross_attn.hook_pattern"].shape == (5, 2, R, n)
    assert cache["decoder.0.cross_attn.hook_z"].shape == (5, R, 2, 8)
    assert cache["hook_encoder_out"].shape == (5, n, 16)
    assert cache["decoder.0.hook_resid_post"].shape == (5, R, 16)
    assert ("decoder.0.attn.hook_pattern" in cache) == (decoder == "full")
    assert ("decoder.0.hook_mlp_out" in cache) == (decoder == "full")
    assert ("hook_pos_embed" in cache) == (positional == "learned")
    cross = model.decoder[0].cross_attn
    assert cross.W_Q.shape == (2, 16, 8) and cross.W_O.shape == (2, 8, 16)
    assert cross.OV.shape == (2, 16, 16)
    rows = cache["decoder.0.cross_attn.hook_pattern"].sum(-1)
    assert torch.allclose(rows, torch.ones_like(rows))
    assert parameter_count(model.interp_config) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("attention_dir", ["causal", "bidirectional"])
def test_the_encoder_never_sees_the_prompt_and_a_causal_one_never_sees_ahead(attention_dir):
    model = build_model(paper_config(attention_dir=attention_dir), seed=2)
    tokens = TASK.sample(4, 1).inputs
    n = 1 + TASK.L

    def encoded(inputs):
        _, cache = model.run_with_cache(inputs, names_filter="hook_encoder_out")
        return cache["hook_encoder_out"]

    assert torch.equal(encoded(tokens), encoded(tokens[:, : n + 1]))  # the prompt cut to one label
    changed = tokens.clone()
    changed[:, n - 1] = 3 - (changed[:, n - 1] == 3).long()  # the last body token changes
    earlier = (encoded(changed) - encoded(tokens))[:, : n - 1].abs().amax()
    assert (earlier == 0) == (attention_dir == "causal")


def test_an_input_that_is_not_encoder_tokens_then_the_prompt_is_one_error():
    model = build_model(paper_config(), seed=0)
    tokens = TASK.sample(2, 0).inputs
    assert encoder_length(tokens, FIRST_QUERY) == 1 + TASK.L
    for bad in (tokens[:, : 1 + TASK.L], tokens[:, 1 + TASK.L:], torch.cat([tokens[:, -1:], tokens], 1)):
        with pytest.raises(TaskError, match="encoder tokens"):
            model(bad)
    with pytest.raises(TaskError, match="decoder_vocab_start"):
        paper_config(decoder_vocab_start=0)
    with pytest.raises(TaskError, match="positional"):
        paper_config(positional="attention")
    with pytest.raises(TaskError, match="frozen-attention"):
        paper_config(freeze_attention=True)


def test_the_paper_preset_trains_resumes_and_evaluates_from_the_command_line(tmp_path, monkeypatch, cli):
    task, model_cfg, _ = configure("counting", "paper")
    assert (model_cfg.architecture, model_cfg.n_layers, model_cfg.n_heads, task.R) == ("encoder-decoder", 1, 1, 4)
    assert task.L > model_cfg.d_model  # longer than the model is wide (Prop. 4's regime)
    train = ["train", "counting", "--preset", "paper", "--quiet", "--eval-samples", "64"]
    for setting in ("L=24", "max_len=64", "max_count=24", "batch_size=16", "eval_every=10", "eval_samples=64",
                    "checkpoint_every=10", "max_steps=20"):
        train += ["--set", setting]
    once, killed = tmp_path / "once", tmp_path / "killed"
    code, _, err = cli(*train, "--out", once)
    assert code == 0, err

    class Killed(BaseException):
        pass

    original = checkpoint.write_tensors

    def write_then_die(path, tensors, metadata=None):
        digest = original(path, tensors, metadata)
        if metadata and '"step": 10' in metadata.get("state", ""):
            raise Killed
        return digest

    monkeypatch.setattr(checkpoint, "write_tensors", write_then_die)
    with pytest.raises(Killed):
        cli(*train, "--out", killed)
    monkeypatch.setattr(checkpoint, "write_tensors", original)
    code, _, err = cli(*train, "--out", killed, "--resume")
    assert code == 0, err
    a, b = load_checkpoint(once).model.state_dict(), load_checkpoint(killed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # resumed = trained in one go, on this machine
    code, out, _ = cli("eval", once, "--samples", "64")
    assert code == 0 and "accuracy=" in out


def test_the_shipped_paper_model_trains_as_the_census_trains_its_seeds():
    """`make train-paper` (the `paper` preset) is counting-bias's quick paper run of the same seed, so the shipped
    model is one of the census's seeds (same bytes on one machine)."""
    from interp.experiments.counting import CountingBias, counting_config, is_paper, paper_model

    experiment = CountingBias()
    options = experiment.resolve_options(quick=True)
    run = next(spec for spec in experiment.grid(options, 1) if is_paper(spec) and spec.params["model"] == "trained")
    assert counting_config(run.params, 3, **paper_model(run.params)) == configure("counting", "paper",
                                                                                   {"train": {"seed": 3}})


def test_the_readme_states_the_committed_paper_census_and_the_seed_it_ships():
    """The README's paragraph on trained_models/counting/paper-seed0 quotes counting-bias's committed census."""
    import json
    from collections import Counter
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = [json.loads(line) for line in (root / "analyses/experiments/counting-bias/results.jsonl").read_text().splitlines()]
    census = [r for r in runs if r["params"].get("preset") == "paper" and r["params"]["model"] == "trained"]
    readme = " ".join((root / "README.md").read_text().split())
    accuracy = [r["measurements"]["accuracy"] for r in census]
    biases = Counter(r["measurements"]["bias"] for r in census)
    status = Counter(r["measurements"]["mechanism"] for r in census)
    partly = [r["seed"] for r in census if r["measurements"]["mechanism"] == "partly"]
    assert len(census) == 10 and status["predicted"] == 0 and max(accuracy) < 0.95
    assert "none of the ten seeds of `counting-bias`'s census does" in readme
    assert f"({min(accuracy):.2f}-{max(accuracy):.2f})" in readme
    assert ", ".join(f"`{b}` ({n})" if b != "0s" else f"the 0s ({n})" for b, n in biases.most_common()) \
        .replace(", the 0s", " and the 0s") in readme
    assert f"absent in {status['absent']} and partly there in {status['partly']}, seed {partly[0]}" in readme
    assert (root / f"trained_models/counting/paper-seed{partly[0]}/model.safetensors").exists()
