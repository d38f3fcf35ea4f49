"""The probes find the circuit in the constructions, not in random models, and report trained models honestly."""

import json

import pytest
import torch

from interp.analysis import analyze_model, claim, grade
from interp.analysis.common import closeness_to_uniform, linear_probe_accuracy, linear_probe_r2, mass_on
from interp.constructions import construct
from interp.models import ModelConfig, build_model
from interp.tasks import make_task
from interp.training import TrainConfig, train

SMALL = {
    "parity": {"n": 10, "k": 3, "seed": 1},
    "selection": {"T": 8, "d": 4, "q": 2},
    "counting": {"L": 16, "R": 2, "max_count": 16, "max_len": 32},
}
SCORE = 0.99


def by_name(analysis):
    return {c.name: c for c in analysis.claims}


@pytest.mark.parametrize("name", list(SMALL))
def test_every_probe_finds_the_circuit_in_the_construction(name):
    task = make_task(name, **SMALL[name])
    model = construct(task)
    analysis = analyze_model(model, task, reference=construct(task), samples=1024)
    missed = [(c.name, c.value, c.detail) for c in analysis.claims if c.verdict != "found"]
    assert not missed
    for c in analysis.claims:  # scores that have a natural 0..1 scale reach 0.99 on the construction
        if c.kind in ("attention", "representation", "comparison") and c.extra["higher_is_better"] and c.extra["found_at"] >= 0.9:
            assert c.value >= SCORE - (0.2 if "count of S" in c.name else 0), (c.name, c.value)
    assert analysis.circuit and "predicted" in analysis.mechanism


@pytest.mark.parametrize("name", list(SMALL))
def test_no_probe_finds_the_circuit_in_a_random_model(name):
    task = make_task(name, **SMALL[name])
    model = build_model(ModelConfig.for_task(task), seed=3)
    analysis = analyze_model(model, task, reference=construct(task), samples=1024)
    found = [(c.name, c.value) for c in analysis.claims if c.verdict == "found"]
    assert not found
    not_found = sum(c.verdict == "not_found" for c in analysis.claims)
    assert not_found >= len(analysis.claims) - 1, [(c.name, c.value, c.verdict) for c in analysis.claims]
    assert "not" in analysis.mechanism


def small_trained(name, **train_overrides):
    task = make_task(name, **SMALL[name])
    model_cfg = ModelConfig.for_task(task)
    train_cfg = TrainConfig.for_task(task, **train_overrides)
    return train(task, model_cfg, train_cfg, progress=False).model, task


def test_trained_small_parity_has_the_circuit_and_ablations_behave():
    model, task = small_trained("parity", max_steps=500)
    claims = by_name(analyze_model(model, task, construct(task), samples=1024))
    assert claims["solves the task"].value >= 0.99
    assert claims["attention covers every bit of S"].verdict in ("found", "partial")
    assert claims["ablating the circuit heads breaks the task"].extra["accuracy_after"] <= 0.6  # ~ chance
    assert claims["the other heads are not needed"].value >= 0.95
    assert claims["flipping a bit matters iff it is in S"].verdict == "found"


def test_trained_small_selection_has_the_circuit_and_ablation_breaks_it():
    model, task = small_trained("selection", max_steps=1500, target=0.01)
    claims = by_name(analyze_model(model, task, construct(task), samples=1024))
    assert claims["solves the task"].verdict == "found"
    assert claims["the query attends to the selected tokens"].verdict == "found"
    assert claims["ablating the selection head breaks the task"].value >= 0.8  # nMSE rises towards 1
    assert claims["positional QK is a scaled identity"].verdict in ("found", "partial")


@pytest.mark.parametrize("name", ["parity", "selection", "counting"])
def test_shipped_default_models_report_what_they_do(name, shipped_reports):
    summary, report_dir = shipped_reports[name]
    saved = json.loads((report_dir / "summary.json").read_text())
    assert saved["claims"] == json.loads(json.dumps(summary["claims"]))
    for c in saved["claims"]:
        assert set(c) >= {"name", "expected", "value", "verdict", "control"}
        assert c["verdict"] in ("found", "partial", "not_found")
        assert c["control"]["verdict"] != "found", c  # the same probe fails on random weights
    claims = {c["name"]: c for c in saved["claims"]}
    assert claims["solves the task"]["verdict"] == "found"
    if name == "parity":
        assert claims["ablating the circuit heads breaks the task"]["extra"]["accuracy_after"] <= 0.6
        assert claims["the other heads are not needed"]["value"] >= 0.97
    if name == "selection":
        assert claims["ablating the selection head breaks the task"]["value"] >= 0.8
    assert (report_dir / "summary.md").read_text().count("|") > 20
    assert all((report_dir / f).exists() for f in saved["figures"])
    assert (report_dir / "report.html").exists()


def test_shipped_counting_model_is_reported_as_a_different_mechanism(shipped_reports):
    """The shipped counting model solves the task with the queries, not BOS, as its bias token; the
    report must say so, and its failure at other numbers of regions must follow."""
    summary, _ = shipped_reports["counting"]
    claims = {c["name"]: c for c in summary["claims"]}
    bias = claims["the counting head attends to the 1s of region r plus BOS"]["extra"]["bias_token"]
    if bias != "BOS":
        assert summary["mechanism"].startswith("not the circuit of the construction")
        assert claims["generalises to other numbers of regions"]["verdict"] != "found"


def test_grading_and_probe_helpers():
    assert grade(0.95, 0.9, 0.5) == "found" and grade(0.6, 0.9, 0.5) == "partial" and grade(0.1, 0.9, 0.5) == "not_found"
    assert grade(0.05, 0.1, 0.3, higher_is_better=False) == "found" and grade(None, 0.9, 0.5) == "not_found"
    assert claim("x", "attention", "y", float("nan"), 0.9, 0.5).verdict == "not_found"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=g)
    assert linear_probe_r2(x, x @ torch.tensor([1.0, -2, 0, 0, 3])) > 0.999
    assert linear_probe_r2(x, torch.randn(2000, generator=g)) < 0.05
    labels = (x[:, 0] > 0).long()
    assert linear_probe_accuracy(x, labels) > 0.95
    assert linear_probe_accuracy(x, (x[:, 0] * x[:, 1] > 0).long()) < 0.6  # XOR is not linear
    rows = torch.tensor([[[[0.5, 0.5, 0.0]]]])  # [batch, head, readout, src]
    mask = torch.tensor([[[True, True, False]]])
    assert mass_on(rows, mask).item() == pytest.approx(1.0)
    assert closeness_to_uniform(rows, mask).item() == pytest.approx(1.0)
    assert closeness_to_uniform(torch.tensor([[[[1.0, 0.0, 0.0]]]]), mask).item() == pytest.approx(0.5)
