"""tracr programs as TL bridges: the same numbers as tracr's own forward pass and the same outputs as RASP's
evaluator on every input up to length 5; a user's own program by ``module:function``, through every command
of the ``tracr`` family; and the other families never load tracr."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

pytest.importorskip("tracr", reason="the tracr extra (make install installs it)")

from tracr.rasp import rasp  # noqa: E402

from interp.constructions.tracr import (LIBRARY, compile_program, load_program, pattern_gaps,  # noqa: E402
                                        residual_label, selector_pattern)
from interp.discovery import Problem, evaluate, exercised_edges, ground_truth, label_edges  # noqa: E402
from interp.discovery.methods import acdc  # noqa: E402
from interp.families.tracr import TracrTask, claim_named_spaces  # noqa: E402
from interp.models import ModelConfig, build_model  # noqa: E402
from interp.validation import TaskError  # noqa: E402

MAX_LEN = 5
# Six programs of every kind: counting (length, hist), moving tokens (reverse, sort), numerical outputs
# (frac_prevs), several heads a layer and positions left undefined (detect_pattern).
PROGRAMS = ["length", "reverse", "hist", "sort", "frac_prevs", "detect_pattern"]


def every_input(vocab, max_len=MAX_LEN):
    """Every sequence over ``vocab`` of length 1..max_len, one list per length."""
    return [[list(x) for x in itertools.product(vocab, repeat=n)] for n in range(1, max_len + 1)]


def agrees(got, want, categorical: bool) -> bool:
    """One output position against RASP's: undefined (None) positions are free; a numerical program's value
    (RASP may give it as a bool: the mean of one False is False) to 1e-4."""
    if want is None:
        return True
    return got == want if categorical else abs(got - float(want)) < 1e-4


@pytest.fixture(scope="module", params=PROGRAMS)
def compiled(request):
    return compile_program(load_program(request.param, max_seq_len=MAX_LEN))


def test_the_bridge_computes_what_tracr_computes_and_what_rasp_says(compiled):
    """Outputs as tracr's and RASP's, and every head attends as its selector says (the compiler's claim)."""
    program, model = compiled.program, compiled.model
    for inputs in every_input(program.vocab):
        tokens = compiled.encode(inputs)
        with torch.no_grad():
            logits = model(tokens)
        assert (logits - compiled.tracr_logits(tokens)).abs().max().item() < 1e-4
        for got, want in zip(compiled.decode(logits), program.evaluate(inputs)):
            assert all(agrees(g, w, program.categorical) for g, w in zip(got, want, strict=True)), (got, want)
        assert max(pattern_gaps(compiled, inputs).values()) < 1e-3


def test_every_working_head_is_named_by_its_rasp_expression(compiled):
    """The heads tracr filled are exactly those with a RASP aggregate or selector width behind them."""
    model = compiled.model
    working = {(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)
               if model.blocks[layer].attn.W_Q[head].abs().max() > 0}
    assert set(compiled.heads) == working
    assert all(isinstance(expr, (rasp.Aggregate, rasp.SelectorWidth)) for expr in compiled.heads.values())


def test_the_expected_pattern_of_an_aggregate_falls_back_to_bos():
    """Select(tokens, tokens, EQ) with a query token no key matches: all attention on BOS."""
    pick = rasp.Aggregate(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT), rasp.tokens)
    pattern = selector_pattern(pick, [[1, 2]])  # query 1 (token 1) has no smaller key; query 2 has key 1
    assert pattern[0, 1].tolist() == [1.0, 0.0, 0.0] and pattern[0, 2].tolist() == [0.0, 1.0, 0.0]
    width = selector_pattern(rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE)), [[1, 2]])
    assert torch.allclose(width[0, 1:], torch.full((2, 3), 1 / 3))


def test_the_bridge_has_tracr_shapes_labels_and_tl_hooks(compiled):
    assembled, model = compiled.assembled, compiled.model
    config = assembled.model_config
    assert (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head) == (config.num_layers, config.num_heads,
                                                                          config.key_size)
    assert model.residual_labels == [residual_label(label) for label in assembled.residual_labels]
    assert model.construction["params"]["program"] == compiled.program.spec
    tokens = compiled.encode([list(compiled.program.vocab[:1]) * MAX_LEN])
    _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert pattern.shape == (1, model.cfg.n_heads, MAX_LEN + 1, MAX_LEN + 1)
        torch.testing.assert_close(pattern.sum(-1), torch.ones_like(pattern.sum(-1)))
    # BOS has no positional row, as tracr builds it
    assert model.W_pos[0].abs().max().item() == 0


def test_residual_labels_read_like_the_toolkits_own():
    assert residual_label("tokens:3") == "tokens[3]" and residual_label("one") == "one"
    assert residual_label("opp_idx:-1") == "opp_idx[-1]"


def test_a_users_own_program_compiles_from_module_and_function(tmp_path, monkeypatch):
    (tmp_path / "my_programs.py").write_text(textwrap.dedent("""
        from tracr.rasp import rasp

        def count_smaller():
            smaller = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT)
            return rasp.SelectorWidth(smaller).named("count_smaller")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    compiled = compile_program(load_program("my_programs:count_smaller", vocab=[1, 2, 3, 4], max_seq_len=4))
    inputs = [[4, 1, 3, 1], [2, 2, 2, 2], [1, 2, 3, 4]]
    assert compiled.decode(compiled.model(compiled.encode(inputs))) == [[3, 0, 2, 0], [0, 0, 0, 0], [0, 1, 2, 3]]


@pytest.mark.parametrize("spec, settings, message", [
    ("no_such_program", {}, "unknown program 'no_such_program'"),
    ("no_such_module:f", {"vocab": [1]}, "cannot import it"),
    ("reverse", {"vocab": [1, 1]}, "vocab must be a list of 1 to 64 distinct tokens"),
    ("reverse", {"vocab": "abc"}, "vocab must be a list"),
    ("reverse", {"vocab": ["a[0]"]}, "strings without brackets"),
    ("reverse", {"max_seq_len": 65}, "max_seq_len must be in"),
    (3, {}, "program must be a library name or module:function"),
    ("reverse", {"vocab": ["BOS", 1]}, "without 'BOS'"),
    ("reverse", {"max_seq_len": 0}, "max_seq_len must be in"),
])
def test_bad_programs_are_refused_with_a_line_naming_the_cause(spec, settings, message):
    with pytest.raises(TaskError, match=message):
        load_program(spec, **settings)


def test_a_program_tracr_cannot_compile_is_refused_with_a_line(tmp_path, monkeypatch):
    (tmp_path / "composite.py").write_text(textwrap.dedent("""
        from tracr.rasp import rasp

        def both():
            earlier = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
            smaller = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT)
            ones = rasp.numerical(rasp.Map(lambda x: 1, rasp.tokens))
            return rasp.numerical(rasp.Aggregate(earlier & smaller, ones, default=0))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaskError, match="tracr cannot compile composite:both: Compiling composite Selectors"):
        compile_program(load_program("composite:both", vocab=[1, 2], max_seq_len=3))


def test_a_batch_must_hold_one_length_of_known_tokens():
    compiled = compile_program(load_program("hist", max_seq_len=3))
    with pytest.raises(TaskError, match="one length"):
        compiled.encode([[1], [1, 2]])
    with pytest.raises(TaskError, match="exceed max_seq_len=3"):
        compiled.encode([[1, 2, 3, 1]])
    with pytest.raises(TaskError, match="not in the vocabulary"):
        compiled.encode([[7]])


def test_the_library_names_programs_that_compile():
    assert set(PROGRAMS) <= set(LIBRARY)


# --- the toolkit's own tools on models nobody here wrote ---------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("ablation", ["zero", "resample"])
def test_acdc_recovers_the_exercised_truth_of_compiled_programs(program, ablation):
    """The structural truth (every path tracr built, read off the weights) holds edges the batch never uses;
    the exercised truth (each edge's ablation alone moves some output) alone reproduces every output, and ACDC
    finds exactly it."""
    task = TracrTask(program=program)
    model = task.compiled.model
    structural = ground_truth(model).edges("zero")
    assert set(structural) == set(label_edges(model))
    problem = Problem(model, task, ablation, "kl", samples=64, seed=0)
    exercised = exercised_edges(problem, structural)
    assert set(exercised) <= set(structural)
    assert problem.damage(problem.graph.mask(problem.graph.complement(exercised))) < 1e-7
    found = acdc(problem, thresholds=[1e-6, 1e-4, 1e-2])
    scores = evaluate(problem, found, {ablation: exercised})
    assert scores["exact"]
    if exercised:
        assert scores["edge_auc"] == 1.0


def test_one_length_makes_length_a_constant_and_the_fallback_to_bos_carries_nothing():
    """The cases the structural truth overstates: every edge of ``length`` is constant at one input length,
    so resampling removes none of them; sort's BOS fallback (the query and key reading BOS of its last
    aggregate) is built but never moves an output while every query finds its match."""
    length = TracrTask(program="length")
    problem = Problem(length.compiled.model, length, "resample", "kl", samples=64)
    assert exercised_edges(problem, ground_truth(length.compiled.model).edges("zero")) == []
    sort = TracrTask(program="sort")
    problem = Problem(sort.compiled.model, sort, "zero", "kl", samples=64)
    structural = ground_truth(sort.compiled.model).edges("zero")
    unused = set(structural) - set(exercised_edges(problem, structural))
    assert unused and all(edge.startswith("embed->A") and edge[-2:] in (".q", ".k") for edge in unused), unused


def test_the_task_scores_the_compiled_model_perfectly_and_a_wrong_one_not():
    for program in PROGRAMS:
        task = TracrTask(program=program)
        batch = task.sample(64, seed=3)
        assert batch.inputs.shape == (64, MAX_LEN + 1) and batch.readout.tolist() == list(range(1, MAX_LEN + 1))
        assert task.evaluate(task.compiled.model(batch.inputs), batch)["accuracy"] == 1.0
        assert task.evaluate(torch.zeros(64, MAX_LEN + 1, task.d_vocab_out), batch)["accuracy"] < 1.0


# --- the tracr family on the command line -----------------------------------------------------------------

USER_PROGRAM = '''
from tracr.rasp import rasp

def shift_by_one():
    """Each position reads the token before it (the first reads nothing: undefined)."""
    previous = rasp.Select(rasp.indices, rasp.indices, lambda key, query: key == query - 1)
    return rasp.Aggregate(previous, rasp.tokens).named("previous_token")
'''
# The commands in one process (imports paid once), in the folder that holds the user's module.
COMMANDS = r"""
from interp.cli import main

construct = ["construct", "tracr", "--set", "program=user_programs:shift_by_one", "--set", "vocab=[1,2,3]",
             "--set", "max_seq_len=4", "--out", "built"]
for name, argv in {"construct": construct, "eval": ["eval", "built", "--samples", "256", "--json"],
                   "analyze": ["analyze", "built", "--out", "report", "--json"],
                   "discover": ["discover", "built", "--method", "acdc", "--out", "circuit", "--json"]}.items():
    print(f"=== {name}", flush=True)
    print(f"=== {name} exit {main(argv)}", flush=True)
"""


def test_a_users_program_runs_through_construct_eval_analyze_and_discover(tmp_path):
    (tmp_path / "user_programs.py").write_text(USER_PROGRAM)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # found from the current directory
    done = subprocess.run([sys.executable, "-c", COMMANDS], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = dict(re.findall(r"=== (\w+)\n(.*?)=== \1 exit 0\n", done.stdout, re.S))
    assert set(out) == {"construct", "eval", "analyze", "discover"}, done.stdout[-3000:]
    config = json.loads((tmp_path / "built" / "config.json").read_text())
    assert config["task"]["params"]["program"] == "user_programs:shift_by_one"
    assert config["construction"]["params"]["vocab"] == [1, 2, 3]
    labels = config["residual_labels"]  # tracr's residual spaces, each value its own direction
    assert "tokens[3]" in labels and any(re.fullmatch(r"previous_token(_\d+)?\[3\]", label) for label in labels)
    assert json.loads(out["eval"])["metrics"]["accuracy"] == 1.0  # RASP's outputs, wherever RASP defines one
    summary = json.loads(out["analyze"])
    assert {c["name"]: c["verdict"] for c in summary["claims"]} == {
        "selector_pattern_L0H0": "found", "reads_and_writes_named_spaces": "found", "matches_rasp": "found"}
    assert summary["claims"][0]["control"]["verdict"] == "not_found"  # a random head does not attend so
    found = json.loads(out["discover"])
    # Every query finds its key and the positions never change: the exercised circuit is the value path.
    assert found["truth"]["resample"] == ["embed->A0.0.v", "A0.0->logits"]
    assert set(found["truth"]["resample"]) < set(found["truth"]["structural"])
    assert found["evaluation"]["exact"] and found["evaluation"]["edge_auc"] == 1.0


def test_the_other_families_never_load_tracr():
    probe = ("import sys; from interp.family import families; from interp.defaults import configure; "
             "families(); configure('counting'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('tracr', 'jax', 'haiku')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_the_extra_a_tracr_task_is_one_line(tmp_path):
    """With tracr not importable, `interp construct tracr` says which extra to install, exit status 2, and
    `interp tasks` still lists every other task."""
    (tmp_path / "tracr").mkdir()
    (tmp_path / "tracr" / "__init__.py").write_text("raise ModuleNotFoundError('no tracr', name='tracr')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "interp", "construct", "tracr", "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "pip install 'interp[tracr]'" in done.stderr and not (tmp_path / "out").exists()
    listed = subprocess.run([sys.executable, "-m", "interp", "tasks", "--compile"], env=env, capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr  # the other tasks are listed; tracr says why it is not
    assert "parity: k-sparse parity" in listed.stdout and "tracr: not available here: tracr tasks need the tracr extra" \
        in listed.stdout


def test_interp_tasks_lists_tracr_as_declared_without_compiling(monkeypatch, capsys):
    """Without --compile, the tracr row gives the declared defaults and says the shape needs compiling (tracr and
    jax stay unloaded: tests/test_cli.py); with --compile, the compiled shape; where tracr is not installed, why."""
    from interp.cli.listing import cmd_tasks
    from interp.families.tracr import compiled_shape

    def tracr_rows(compile: bool) -> list[str]:
        cmd_tasks(argparse.Namespace(compile=compile))
        lines = capsys.readouterr().out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("tracr:"))
        return lines[start:start + 5]

    declared = tracr_rows(False)
    assert declared[2] == '  task:  program="hist", vocab=null, max_seq_len=5, causal=false, length=null'
    assert declared[3].startswith("  model: the program's compiled shape") and "--compile" in declared[3]
    compiled = tracr_rows(True)
    shape = compiled_shape(TracrTask())
    assert all(f"{key}={json.dumps(value)}" in compiled[3] for key, value in shape.items())
    assert declared[4] == compiled[4]  # the same training fields either way
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tracr" else real(name, *a))
    assert tracr_rows(False)[0].startswith("tracr: not available here: tracr tasks need the tracr extra")


def test_the_named_spaces_claim_tells_a_head_from_another():
    """Every head of the library programs reads and writes the spaces tracr names for its expression; with two
    heads' expressions swapped, neither does, and a model without residual labels cannot be checked."""
    for program in PROGRAMS:
        compiled = TracrTask(program=program).compiled
        assert claim_named_spaces(compiled.model, compiled).value == 1.0, program
    compiled = TracrTask(program="reverse").compiled
    swapped = dataclasses.replace(compiled, heads=dict(zip(compiled.heads, reversed(compiled.heads.values()))))
    made = claim_named_spaces(compiled.model, swapped)
    assert made.value == 0.0 and made.verdict == "not_found" and "L0H0, L3H0" in made.detail
    unnamed = build_model(ModelConfig.for_task(TracrTask(program="reverse")), seed=0)
    assert claim_named_spaces(unnamed, compiled).verdict == "untestable"
