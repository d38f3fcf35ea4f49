"""Circuit discovery: the edge graph, exact edge patching through TL hooks (with and without LayerNorm),
EAP against finite differences, the constructions' ground truths (against their weights and by exact
patching, over ranges of their parameters), ACDC recovering them, the scores, ``interp discover`` and the
benchmark at a tiny scale."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from interp.checkpoint import save
from interp.cli import main
from interp.constructions import counting, counting_close_bias, parity, selection
from interp.discovery import Graph, Problem, discover, evaluate, ground_truth, label_edges, pessimistic_auc, roc_points
from interp.discovery.graph import edge_name, reaching_logits, split_edge
from interp.discovery.methods import acdc, attributions, threshold_circuits
from interp.discovery.patching import EdgePatcher, ablated_values
from interp.experiments import get_experiment, run_experiment
from interp.experiments.base import VERDICTS
from interp.models import ModelConfig, build_model
from interp.tasks import TaskError, make_task

MODELS = settings(max_examples=8, deadline=None)
TRUTHS = settings(max_examples=5, deadline=None)


def small_model(norm: str, n_layers: int, n_heads: int, d_mlp: int, positional: str, seed: int):
    """A random model on a short counting task (tokens, causal)."""
    task = make_task("counting", L=6, R=2, max_regions=2, max_count=6, max_len=9)
    cfg = ModelConfig.for_task(task, normalization_type=norm, n_layers=n_layers, n_heads=n_heads, d_model=16,
                               d_head=4, d_mlp=d_mlp, positional=positional)
    return build_model(cfg, seed=seed).eval(), task


def closed_form_edges(inputs: int, layers: int, heads: int, mlp: bool) -> int:
    """docs/theory/discovery.md, 'The graph'."""
    if not mlp:
        return sum(3 * heads * (inputs + l * heads) for l in range(layers)) + inputs + layers * heads
    total = sum(3 * heads * (inputs + l * (heads + 1)) + inputs + l * (heads + 1) + heads for l in range(layers))
    return total + inputs + layers * (heads + 1)


# --- the graph ---------------------------------------------------------------------------------------


@given(st.integers(1, 4), st.integers(1, 4), st.booleans(), st.booleans())
@settings(max_examples=30, deadline=None)
def test_edges_follow_the_forward_pass_and_the_closed_form(layers, heads, mlp, pos):
    graph = Graph(layers, heads, mlp, pos)
    assert len(graph.edges) == closed_form_edges(1 + pos, layers, heads, mlp)
    assert len(set(graph.edges)) == len(graph.edges)
    for name in graph.edges:
        sender, receiver = split_edge(name)
        if sender.startswith(("A", "M")) and receiver != "logits":
            s_layer, r_layer = int(sender[1:].split(".")[0]), int(receiver[1:].split(".")[0])
            # a head input hears earlier layers only; an MLP also hears its own layer's heads
            assert s_layer < r_layer or (s_layer == r_layer and sender.startswith("A") and receiver.startswith("M"))
    assert Graph(12, 12, True, False).edges.__len__() == 32491  # GPT-2 small with one input node, as EAP-IG counts


def test_construction_graphs_have_the_documented_sizes():
    for k in (1, 3, 5):
        graph = Graph.of(parity(make_task("parity", n=10, k=k)))
        assert (len(graph.edges), len(graph.nodes)) == (8 * k + 5, 4 * k + 3)
    assert len(Graph.of(selection(make_task("selection", T=6, d=2, q=2)))) == 9
    assert len(Graph.of(selection(make_task("selection", T=6, d=2, q=2, positions="orthonormal", code_dim=8)))) == 5
    assert len(Graph.of(counting(make_task("counting", L=8, R=2, max_regions=2, max_count=8, max_len=11)))) == 23


def test_edges_into_dead_nodes_do_not_reach_the_logits():
    edges = ["embed->A0.0.q", "A0.0->M0", "embed->A0.1.v", "M0->logits", "embed->logits"]
    assert reaching_logits(edges) == ["embed->A0.0.q", "A0.0->M0", "M0->logits", "embed->logits"]


# --- edge patching ----------------------------------------------------------------------------------


def sender_hooks(model, replace):
    """Hooks replacing every sender (embeddings, per-layer hook_z, MLP outputs) by ``replace(name, act)``."""
    names = ["hook_embed"] + ["hook_pos_embed"] * ("hook_pos_embed" in model.hook_dict)
    names += [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    if not model.cfg.attn_only:
        names += [f"blocks.{l}.hook_mlp_out" for l in range(model.cfg.n_layers)]
    return [(name, (lambda n: lambda act, hook: replace(n, act))(name)) for name in names]


@given(st.sampled_from(["LN", "none"]), st.integers(1, 2), st.integers(1, 3), st.sampled_from([0, 12]),
       st.sampled_from(["learned", "none", "rotary"]), st.integers(0, 10))
@MODELS
def test_moving_no_edge_is_the_clean_run_and_every_edge_the_ablated_run(norm, layers, heads, d_mlp, positional, seed):
    model, task = small_model(norm, layers, heads, d_mlp, positional, seed)
    clean, corrupt = task.sample(16, seed).inputs, task.sample(16, seed + 1).inputs
    patcher = EdgePatcher(model)
    graph = patcher.graph
    with torch.no_grad():
        reference = model(clean)
        nothing = torch.zeros(len(graph.receivers), len(graph.senders))
        assert torch.equal(patcher.run(clean, ablated_values(patcher, "zero", clean, corrupt), nothing), reference)
        every = graph.mask(graph.edges)
        resampled = patcher.run(clean, ablated_values(patcher, "resample", clean, corrupt), every)
        torch.testing.assert_close(resampled, model(corrupt), atol=1e-5, rtol=0)
        zeroed = patcher.run(clean, ablated_values(patcher, "zero", clean, corrupt), every)
        torch.testing.assert_close(zeroed, model.run_with_hooks(clean, fwd_hooks=sender_hooks(
            model, lambda name, act: torch.zeros_like(act))), atol=1e-5, rtol=0)
        _, cache = model.run_with_cache(corrupt)
        means = patcher.run(clean, ablated_values(patcher, "mean", clean, corrupt), every)
        torch.testing.assert_close(means, model.run_with_hooks(clean, fwd_hooks=sender_hooks(
            model, lambda name, act: cache[name].mean(0, keepdim=True).expand_as(act))), atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", ["LN", "none"])
def test_one_receiver_matches_tl_activation_patching(norm):
    """Every edge into one head's query moved = that head's hook_q patched from the corrupted run (TL);
    every edge into an MLP moved = its output patched from the corrupted run."""
    model, task = small_model(norm, 2, 2, 12, "learned", 3)
    clean, corrupt = task.sample(16, 0).inputs, task.sample(16, 1).inputs
    patcher = EdgePatcher(model)
    graph, ablated = patcher.graph, ablated_values(patcher, "resample", clean, corrupt)
    _, cache = model.run_with_cache(corrupt)

    def patch_head_q(act, hook):
        act = act.clone()
        act[:, :, 1] = cache[hook.name][:, :, 1]
        return act

    with torch.no_grad():
        moved = patcher.run(clean, ablated, graph.mask(edge_name(s, "A1.1.q") for s in graph.senders_of("A1.1.q")))
        torch.testing.assert_close(moved, model.run_with_hooks(clean, fwd_hooks=[("blocks.1.attn.hook_q", patch_head_q)]),
                                   atol=1e-5, rtol=0)
        moved = patcher.run(clean, ablated, graph.mask(edge_name(s, "M0") for s in graph.senders_of("M0")))
        patched = model.run_with_hooks(clean, fwd_hooks=[("blocks.0.hook_mlp_out", lambda act, hook: cache[hook.name])])
        torch.testing.assert_close(moved, patched, atol=1e-5, rtol=0)


def test_an_edge_into_the_logits_moves_them_by_its_direct_path():
    model, task = small_model("none", 2, 2, 12, "learned", 5)
    clean, corrupt = task.sample(16, 0).inputs, task.sample(16, 1).inputs
    patcher = EdgePatcher(model)
    graph, ablated = patcher.graph, ablated_values(patcher, "resample", clean, corrupt)
    values = patcher.sender_values(clean)
    with torch.no_grad():
        base = model(clean)
        for sender in ("embed", "A0.1", "M1"):
            s = graph.sender_index[sender]
            moved = patcher.run(clean, ablated, graph.mask([edge_name(sender, "logits")]))
            expected = base + (ablated[:, :, s] - values[:, :, s]) @ model.W_U
            torch.testing.assert_close(moved, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ablation", ["resample", "zero"])
def test_eap_scores_are_the_finite_difference_derivatives(ablation):
    model, task = small_model("LN", 2, 2, 12, "learned", 7)
    model = model.to(torch.float64)
    problem = Problem(model, task, ablation, "task", samples=16)
    graph = problem.graph
    zero = torch.zeros(len(graph.receivers), len(graph.senders), dtype=torch.float64)
    table = attributions(problem, problem.receiver_gradients(zero))
    h = 1e-4
    for r, s in graph.edge_positions:
        up, down = zero.clone(), zero.clone()
        up[r, s], down[r, s] = h, -h
        fd = (float(problem.objective(problem.outputs(up))) - float(problem.objective(problem.outputs(down)))) / (2 * h)
        assert float(table[r, s]) == pytest.approx(fd, rel=1e-4, abs=1e-7)


def test_eap_on_kl_sees_nothing_so_gradient_methods_use_the_task_score():
    model, task = small_model("LN", 1, 2, 12, "learned", 2)
    found = discover(Problem(model, task, "resample", "kl", samples=16), "eap")
    assert max(found.scores.values()) < 1e-6
    found = discover(Problem(model, task, "resample", "task", samples=16), "eap")
    assert max(found.scores.values()) > 1e-3


def test_the_patcher_refuses_models_it_cannot_take_apart():
    with pytest.raises(TaskError, match="TransformerBridge"):
        EdgePatcher(torch.nn.Linear(2, 2))


# --- ground truths -------------------------------------------------------------------------------------


def check_truth(model, task, seed):
    """The listed edges equal the ones read off the weights; under each ablation the truth alone reproduces
    the output and every truth edge is needed; under mean and resample ablation, constant edges change nothing."""
    truth = ground_truth(model)
    assert {u.edge: u.blocks for u in truth.uses} == label_edges(model)
    for ablation in ("zero", "mean", "resample"):  # mean ablation shares the resample truth
        problem = Problem(model, task, ablation, "kl", samples=48, seed=seed)
        graph, edges = problem.graph, truth.edges(ablation)
        outside = graph.complement(edges)
        assert problem.damage(graph.mask(outside)) < 1e-7, f"the truth alone changes the output under {ablation}"
        for edge in edges:
            assert problem.damage(graph.mask(outside + [edge])) > 1e-6, f"{edge} is not needed under {ablation}"
        if ablation != "zero":
            for edge in set(truth.edges("zero")) - set(edges):
                assert problem.damage(graph.mask([edge])) < 1e-9, f"constant edge {edge} is seen under {ablation}"


@given(st.integers(4, 24), st.integers(1, 4), st.integers(0, 1000))
@TRUTHS
def test_parity_truth(n, k, seed):
    task = make_task("parity", n=n, k=min(k, n), seed=seed)
    check_truth(parity(task), task, seed)


@given(st.integers(2, 10), st.integers(1, 4), st.sampled_from(["learned", "orthonormal"]), st.integers(0, 1000))
@example(T=2, q=2, positions="learned", seed=0)  # q = T: the query's code is constant, only zero ablation sees it
@TRUTHS
def test_selection_truth(T, q, positions, seed):
    task = make_task("selection", T=T, d=3, q=min(q, T), positions=positions, code_dim=T + 2)
    check_truth(selection(task), task, seed)


@given(st.integers(1, 3), st.integers(0, 12), st.booleans(), st.booleans(), st.integers(0, 1000))
@example(R=3, extra=2, close_bias=False, variable_regions=True, seed=1)
@TRUTHS
def test_counting_truth(R, extra, close_bias, variable_regions, seed):
    L = 2 * R + 4 + extra
    task = make_task("counting", L=L, R=R, R_min=1 if variable_regions and not close_bias else None, max_regions=R,
                     max_count=L, max_len=1 + L + R)
    check_truth(counting_close_bias(task, R) if close_bias else counting(task), task, seed)


# --- methods and scores --------------------------------------------------------------------------------

CONSTRUCTIONS = {
    "parity": lambda: (lambda t: (parity(t), t))(make_task("parity", n=10, k=3, seed=4)),
    "selection-learned": lambda: (lambda t: (selection(t), t))(make_task("selection", T=8, d=3, q=2)),
    "selection-orthonormal": lambda: (lambda t: (selection(t), t))(
        make_task("selection", T=8, d=3, q=3, positions="orthonormal", code_dim=10)),
    "counting": lambda: (lambda t: (counting(t), t))(make_task("counting", L=14, R=2, max_regions=2, max_count=14,
                                                                 max_len=17)),
    "counting-close-bias": lambda: (lambda t: (counting_close_bias(t, 3), t))(
        make_task("counting", L=16, R=3, max_regions=3, max_count=16, max_len=20)),
}


@pytest.mark.parametrize("name", list(CONSTRUCTIONS))
def test_acdc_with_zero_ablation_recovers_the_zero_truth_exactly(name):
    model, task = CONSTRUCTIONS[name]()
    truth = ground_truth(model)
    problem = Problem(model, task, "zero", "kl", samples=64, seed=11)
    found = acdc(problem, thresholds=[1e-4, 1e-1])
    scores = evaluate(problem, found, {v: truth.edges(v) for v in ("zero", "resample")})
    assert scores["edge_auc"] == 1.0 and scores["exact"]
    assert scores["truth_faithfulness"] == pytest.approx(1.0, abs=1e-6)


def test_pessimistic_auc_counts_a_rate_only_once_it_is_reached():
    assert pessimistic_auc([[0, 0], [0, 1], [1, 1]]) == 1.0
    assert pessimistic_auc([[0, 0], [0.5, 1], [1, 1]]) == 0.5
    assert pessimistic_auc([[0, 0], [0, 0.5], [0.5, 1], [1, 1]]) == 0.75
    # a point below the best rate so far adds nothing (no interpolation, no credit for going back down)
    assert pessimistic_auc([[0, 0], [0.2, 0.8], [0.4, 0.6], [1, 1]]) == pytest.approx(0.8 * 0.8 + 0.2 * 0)
    assert roc_points([["a"]], [], ["a", "b"]) is None and roc_points([["a"]], ["a", "b"], ["a", "b"]) is None
    assert roc_points([["a", "c"]], ["a"], ["a", "b", "c"]) == [[0.0, 0.0], [0.5, 1.0], [1.0, 1.0]]


def test_tied_scores_enter_a_circuit_together():
    circuits = threshold_circuits({"a": 2.0, "b": 1.0, "c": 1.0, "d": 0.0})
    assert [sorted(c.edges) for c in circuits] == [["a"], ["a", "b", "c"], ["a", "b", "c", "d"]]


def test_node_ablation_scores_an_edge_by_its_weaker_node():
    model, task = CONSTRUCTIONS["counting"]()
    found = discover(Problem(model, task, "resample", "kl", samples=32), "node")
    for edge, score in found.scores.items():
        sender, receiver = split_edge(edge)
        assert score == min(found.node_scores[sender], found.node_scores.get(receiver, float("inf")))
    with pytest.raises(TaskError, match="method must be one of"):
        discover(Problem(model, task, "zero", "kl", samples=8), "magic")


# --- interp discover -----------------------------------------------------------------------------------


def test_cli_writes_the_circuit_and_its_picture(tmp_path, capsys):
    model, task = CONSTRUCTIONS["counting"]()
    save(tmp_path / "ckpt", model, task, construction=model.construction)
    out = tmp_path / "found"
    assert main(["discover", str(tmp_path / "ckpt"), "--method", "acdc", "--ablation", "zero", "--samples", "32",
                 "--out", str(out)]) == 0
    result = json.loads((out / "circuit.json").read_text())
    assert set(result["edges"]) == set(ground_truth(model).edges("zero"))
    assert result["evaluation"]["edge_auc"] == 1.0 and result["faithfulness"] == pytest.approx(1.0, abs=1e-6)
    assert (out / "circuit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--method", "magic"], "invalid choice: 'magic'"),
    (["--method", "acdc", "--ablation", "half"], "invalid choice: 'half'"),
    (["--method", "acdc", "--threshold", "-1"], "threshold must be > 0"),
    (["--method", "eap", "--samples", "1"], "must be >= 2"),
])
def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys, args, message):
    model, task = CONSTRUCTIONS["selection-learned"]()
    save(tmp_path / "ckpt", model, task, construction=model.construction)
    try:
        status = main(["discover", str(tmp_path / "ckpt"), *args, "--out", str(tmp_path / "out")])
    except SystemExit as e:  # argparse's own errors
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_what_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["discover", str(tmp_path / "empty"), "--method", "acdc"]) == 2
    assert "config.json" in capsys.readouterr().err


# --- the benchmark at a tiny scale ---------------------------------------------------------------------

TINY = {"parity": [[6, 2]], "selection_learned": [[6, 2]], "selection_orthonormal": [[6, 2]], "counting": [[10, 2]],
        "counting_close_bias": [[10, 2]], "tracr": ["hist"], "trained": ["selection"], "ablations": ["zero", "resample"],
        "samples": 24,
        "acdc_thresholds": [1e-5, 1e-2], "ig_steps": 2}


@pytest.mark.slow
def test_benchmark_runs_at_a_tiny_scale(tmp_path):
    summary = run_experiment("discovery-benchmark", settings=TINY, seeds=1, jobs=1, out=tmp_path, progress=False,
                             device="cpu")
    assert summary["runs"]["failed"] == 0, summary["failures"]
    rows = {row["name"]: row for row in summary["rows"]}
    assert all(row["verdict"] in VERDICTS for row in rows.values())
    assert rows["ACDC with zero ablation recovers each construction's zero-ablation circuit exactly"]["verdict"] == "reproduced"
    assert rows["each listed truth alone keeps the task score under its ablation"]["verdict"] == "reproduced"
    assert rows["ACDC recovers the circuit a compiled program exercises (tracr)"]["verdict"] == "reproduced"
    assert "tracr programs:" in summary["notes"]
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert all("seconds" not in r["measurements"] for r in results)  # wall time stays out of the measurements
    assert (tmp_path / "edge_auc.png").is_file() and "| model | ablation | method |" in (tmp_path / "summary.md").read_text()


def test_benchmark_options_are_checked():
    experiment = get_experiment("discovery-benchmark")
    with pytest.raises(TaskError, match="parity must be a list of pairs"):
        experiment.grid(experiment.resolve_options(True, {"parity": [[6, 2, 1]]}), 1)
    with pytest.raises(TaskError, match="methods must be one of"):
        experiment.grid(experiment.resolve_options(True, {"methods": ["magic"]}), 1)
