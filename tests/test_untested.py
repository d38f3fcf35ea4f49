"""The ``untested`` row verdict: a claim whose condition never arose, or whose measurement the budget did not
reach, says why instead of being scored as a failure; a measurement that came out wrong stays not_reproduced.
And every committed summary is what its committed results summarise to today (no training: seconds)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.experiments import EXPERIMENTS, get_experiment
from interp.experiments.base import VERDICTS, Reference, Row, row
from interp.experiments.statistics import slope_at_least, too_few_sizes
from interp.grading import AtLeast, AtMost, Inside, Untested, weakest
from interp.experiments.resummarize import committed, resummarize, resummarized_rows
from interp.paths import EXPERIMENTS as FOLDER
from interp.viz.experiments import counts_line, experiment_markdown, results_table, rows_html

REFERENCE = Reference(1.0, "a paper", "paper")
COMMITTED = [name for name in EXPERIMENTS if (FOLDER / name / "summary.json").is_file()]
# (name, folder) of each committed full-scale summary, beside its quick one
COMMITTED_FULL = [(name, FOLDER / name / "full") for name in EXPERIMENTS if (FOLDER / name / "full" / "summary.json").is_file()]


def rows_by_name(summary) -> dict[str, Row]:
    return {r.name: r for r in summary.rows}


def summarize(name: str, results) -> dict[str, Row]:
    """``name``'s rows from ``results`` with the options and seeds its committed summary records."""
    _, recorded, _ = committed(name)
    return rows_by_name(get_experiment(name).summarize(results, recorded["options"], recorded["seeds"]))


def with_measurements(result, **changes):
    return dataclasses.replace(result, measurements={**result.measurements, **changes})


# --- the verdict and its reason ---------------------------------------------------------------------


def test_an_untested_row_says_why():
    assert "untested" in VERDICTS
    made = row("claim", REFERENCE, {}, "a rule", Untested("no seed solved"), detail="0 of 3 seeds")
    assert made.verdict == "untested" and made.detail == "no seed solved; 0 of 3 seeds"
    assert row("claim", REFERENCE, {}, "a rule", Untested("no seed solved")).detail == "no seed solved"
    with pytest.raises(ValueError, match="must say why"):
        Untested("  ")
    with pytest.raises(ValueError, match="must say why"):
        Row("claim", REFERENCE, {}, "a rule", "untested")  # the verdict without its reason


def test_rules_give_untested_only_for_a_value_that_is_not_there():
    reason = Untested("no seed stalled")
    for rule in (AtLeast(0.9, 0.5), AtMost(0.1, 0.5), Inside(0.4, 0.6)):
        assert rule.grade(reason) == reason
        assert rule.grade(None) == "not_reproduced"  # nothing measured, and no reason why
        assert rule.grade(float("nan")) == "not_reproduced"  # a diverged run measured nonsense
    assert AtLeast(0.9, 0.5).grade(0.1) == "not_reproduced"  # measured, and wrong


def test_the_weakest_verdict_lets_a_measured_failure_decide_before_an_untested_cell():
    assert weakest(["reproduced", Untested("a"), "partial", Untested("b"), Untested("a")]) == Untested("a; b")
    assert weakest([Untested("a"), "not_reproduced", "reproduced"]) == "not_reproduced"
    assert weakest(["reproduced", "partial"]) == "partial"
    assert weakest([]) == Untested("no cell was measured")


def test_a_slope_needs_two_sizes():
    assert too_few_sizes([8, 16, 8], "T", "nMSE < 0.01", "the budget") is None
    assert too_few_sizes([8, 8], "T", "nMSE < 0.01", "6000 steps") == Untested(
        "only T = 8 reached nMSE < 0.01 within 6000 steps, and a slope needs two sizes")
    assert too_few_sizes([], "n", "0.99", "2000 steps").reason.startswith("no n reached 0.99")


# --- on the committed results -----------------------------------------------------------------------


def test_a_bias_no_seed_has_is_untested_and_a_seed_that_misbehaves_is_not():
    results = committed("counting-bias")[2]
    rows = summarize("counting-bias", results)
    decoder_only = ": decoder-only adaptation"
    for bias in ("BOS", "]"):
        name = next(n for n in rows if n.startswith(f"{bias}-bias seeds") and n.endswith(decoder_only))
        assert rows[name].verdict == "untested" and f"has {bias} as its bias token" in rows[name].detail
    # Seed 0 relabelled BOS: its accuracy at 2L and 4L is far below 0.95, where a BOS bias should generalise.
    relabelled = [with_measurements(r, bias="BOS") if r.params["model"] == "trained" and r.seed == 0
                  and "preset" not in r.params else r for r in results]
    rows = summarize("counting-bias", relabelled)
    assert rows[f"BOS-bias seeds: generalises in length and regions{decoder_only}"].verdict == "not_reproduced"
    assert rows[f"]-bias seeds: generalises in length only{decoder_only}"].verdict == "untested"
    # The paper model's census: no seed solved, so its conditional rows and its mechanism census are untested.
    paper = ": the paper's encoder-decoder"
    assert rows[f"solving seeds that have the paper's circuit{paper}"].verdict == "untested"
    assert rows[f"]-bias seeds: generalises in length only{paper}"].verdict == "untested"


def test_no_solving_seed_is_untested_and_a_solver_off_s_is_not():
    # The committed (20, 4) runs with none solved (whatever the committed ones did).
    results = [with_measurements(r, solved_at=None) if (r.params["n"], r.params["k"]) == (20, 4) else r
               for r in committed("parity-minimal")[2]]
    name = "(20, 4): solving seeds cover every bit of S"
    rows = summarize("parity-minimal", results)
    assert rows[name].verdict == "untested" and rows[name].detail.startswith("no seed solved within 4000 epochs")
    assert rows["(20, 4): some seeds reach 100 % test accuracy, others stall"].verdict == "not_reproduced"  # measured
    first = next(i for i, r in enumerate(results) if (r.params["n"], r.params["k"]) == (20, 4))
    solver = with_measurements(results[first], solved_at=3000, min_coverage=0.2)  # solved, with a head off S
    rows = summarize("parity-minimal", [*results[:first], solver, *results[first + 1:]])
    assert rows[name].verdict == "not_reproduced"


def test_sharp_frozen_heads_grow_by_coverage_only_where_solving_tracks_it():
    """The full scale's sharp growth row reads the frozen inits' chance to cover S because its trained runs solve
    exactly when their heads cover S (74 of 75). Mark every trained run uncovered and coverage no longer stands in:
    the row falls back on the trained seeds' medians, three seeds a cell, whose votes at H = 48 turn at n = 24."""
    folder = FOLDER / "parity-frozen-attention" / "full"
    _, recorded, results = committed("parity-frozen-attention", folder)
    experiment, options, seeds = get_experiment("parity-frozen-attention"), recorded["options"], recorded["seeds"]
    name = "sharp frozen heads: heads needed for 95 % grow with n"
    row = rows_by_name(experiment.summarize(results, options, seeds))[name]
    assert row.verdict == "reproduced" and row.detail.startswith(
        "the trained runs solve exactly when their heads cover S in 74 of 75;")
    assert row.measured == {"n=8": 12, "n=12": 24, "n=16": 24, "n=24": 48, "n=32": 48}
    uncovered = [with_measurements(r, min_coverage=0.0) if "heads" in r.params else r for r in results]
    row = rows_by_name(experiment.summarize(uncovered, options, seeds))[name]
    assert row.verdict == "not_reproduced" and "so the trained seeds' medians decide" in row.detail
    assert row.measured == {"n=8": 24, "n=12": 48, "n=16": 48, "n=24": "> 48", "n=32": 48}


PAPER = ": the paper's encoder-decoder"


def test_the_paper_models_accuracy_rows_are_untested_where_a_cut_budget_ran_out():
    """At the quick scale every paper-model run spent its steps below the target: what training reaches is then
    undecided. A run that stopped at the target, or the paper's scale, makes the same results graded."""
    _, recorded, results = committed("counting-attention")
    experiment, options, seeds = get_experiment("counting-attention"), recorded["options"], recorded["seeds"]
    names = [f"causal NoPE counts near 100 % in distribution{PAPER}", f"NoPE has the best single seed{PAPER}"]
    rows = rows_by_name(experiment.summarize(results, options, seeds))
    assert all(rows[n].verdict == "untested" and rows[n].detail.startswith("the budget ran out") for n in names)
    assert rows[f"bidirectional attention fails with every positional code{PAPER}"].verdict == "reproduced"
    stopped = [with_measurements(r, steps=r.params["steps"] // 2) if r.group == "paper causal none" and r.seed == 0
               else r for r in results]
    rows = rows_by_name(experiment.summarize(stopped, options, seeds))
    assert rows[names[0]].verdict == "not_reproduced"  # measured, and short of 100 %
    full = {**options, "paper_L": 512, "paper_steps": 20000}
    rows = rows_by_name(experiment.summarize(results, full, seeds))
    assert all(rows[n].verdict != "untested" for n in names)


def test_bidirectional_failure_is_untested_where_the_length_is_within_the_models_width():
    _, recorded, results = committed("counting-attention")
    experiment, options, seeds = get_experiment("counting-attention"), recorded["options"], recorded["seeds"]
    name = "bidirectional attention fails with every positional code: decoder-only adaptation"
    row_ = rows_by_name(experiment.summarize(results, options, seeds))[name]
    assert options["L"] <= 64 and row_.verdict == "untested" and "setting never arose" in row_.detail
    longer = {**options, "L": 128, "max_count": 128, "max_len": 256}  # sequences longer than the model is wide
    assert rows_by_name(experiment.summarize(results, longer, seeds))[name].verdict == "not_reproduced"


def test_a_transformer_that_never_solved_within_a_budget_short_of_barak_s_is_untested():
    _, recorded, results = committed("parity-online")
    experiment, options, seeds = get_experiment("parity-online"), recorded["options"], recorded["seeds"]
    name = "the default transformer solves (50, 3) online"
    unsolved = [with_measurements(r, solved_at=None) if r.params["model"] == "transformer" else r for r in results]
    row_ = rows_by_name(experiment.summarize(unsolved, options, seeds))[name]
    assert options["transformer_max_steps"] < 100_000
    assert row_.verdict == "untested" and row_.detail.startswith("the budget did not reach Barak et al.'s")
    at_barak = {**options, "transformer_max_steps": 100_000}
    assert rows_by_name(experiment.summarize(unsolved, at_barak, seeds))[name].verdict == "not_reproduced"


def test_a_gap_within_the_draws_standard_errors_is_undecided_and_one_beyond_them_is_not():
    _, recorded, results = committed("symmetry-learning-curves")
    experiment, options, seeds = get_experiment("symmetry-learning-curves"), recorded["options"], recorded["seeds"]
    name = "kappa-theory tracks exact GP regression (both targets, every L, noise and P)"
    row_ = rows_by_name(experiment.summarize(results, options, seeds))[name]
    assert row_.verdict == "untested" and row_.detail.startswith("the draws could not decide")

    def precise(result):  # the same means, as if from many more draws
        gpr = {noise: {target: {**v, "se": [0.0] * len(v["se"])} if isinstance(v, dict) and "se" in v else v
                       for target, v in per_target.items()} for noise, per_target in result.measurements["gpr"].items()}
        return with_measurements(result, gpr=gpr)

    assert rows_by_name(experiment.summarize([precise(r) for r in results], options, seeds))[name].verdict == \
        "not_reproduced"


def with_fit(result, relative_error: float):
    """``result`` with every model's relative error at c = 1 set to ``relative_error``."""
    return with_measurements(result, **{model: {**m, "relative_error": {**m["relative_error"], "1": relative_error}}
                                        for model, m in result.measurements.items() if isinstance(m, dict)
                                        and "relative_error" in m})


@pytest.mark.parametrize("name", ["positional-scale", "positional-bias-free", "positional-size"])
def test_rows_on_models_a_cut_budget_left_unfitted_are_untested(name):
    """Short of the authors' epochs, a row on models that fit the training range worse than the authors' (beyond
    the rows' factor 10 in MSE) says the budget did not decide it, and still shows what was measured; with those
    models fitted as well as the authors', or at the authors' whole budget (where a poor fit is a finding), the
    same results are graded."""
    _, recorded, results = committed(name)
    experiment, options, seeds = get_experiment(name), recorded["options"], recorded["seeds"]
    assert options["epochs"] < 2001
    loose = rows_by_name(experiment.summarize([with_fit(r, 0.5) for r in results], options, seeds))
    budget = [r for r in loose.values() if r.detail.startswith("the budget did not reach the authors' fit")]
    assert budget and all(r.verdict == "untested" and r.measured for r in budget)
    # 0.01 is 10x worse than the authors' cumsum fit (0.00097): still short of it
    assert rows_by_name(experiment.summarize([with_fit(r, 0.01) for r in results], options, seeds))[budget[0].name] \
        .verdict == "untested"
    for graded in (experiment.summarize([with_fit(r, 1e-4) for r in results], options, seeds),
                   experiment.summarize([with_fit(r, 0.5) for r in results], {**options, "epochs": 2001}, seeds)):
        rows = rows_by_name(graded)
        assert all(rows[r.name].verdict != "untested" or rows[r.name].detail.startswith("not run at this scale")
                   for r in budget)


def critical_runs(reaches) -> list:
    """selection-fcn's committed runs with each critical run's nMSE set by ``reaches(model, T, width)``."""
    return [with_measurements(r, nmse=0.001 if reaches(r.params["model"], r.params["T"], r.params["width"]) else 0.5)
            if r.params.get("part") == "critical" else r for r in committed("selection-fcn")[2]]


FCN_ROW = "critical FCN first-layer width (nMSE < 0.01) grows like T d"
TRANSFORMER_ROW = "critical transformer d_head (positional width) (nMSE < 0.01) grows like log T at most"


def test_critical_widths_that_never_got_there_are_lower_bounds_not_missing_points():
    """A T whose runs never got below the threshold bounds the slope from below: enough for the FCN's "at least like
    T d" to be partial (never reproduced, the budget may be what stopped it), never enough to refute the
    transformer's "at most like log T" (untested); with every T there, both are fitted and graded."""
    options = committed("selection-fcn")[1]["options"]
    d, widest = options["critical_d"], max(options["fcn_factors"])
    only_8 = summarize("selection-fcn", critical_runs(lambda model, T, width: T == 8 and width >= (8 if model ==
                                                                                                    "transformer" else 2 * T * d)))
    fcn, transformer = only_8[FCN_ROW], only_8[TRANSFORMER_ROW]
    # each larger T's widest against T = 8's critical width, the smaller of the two
    expected = min(math.log(widest * T * d / (2 * 8 * d)) / math.log(T / 8) for T in (16, 32))
    assert fcn.verdict == "partial" and fcn.measured["at_least"] == pytest.approx(expected)
    assert fcn.detail.startswith(f"slope > {expected:.2f} (the T that never got there)")
    assert transformer.verdict == "untested" and transformer.measured["slope"] is None
    assert transformer.detail.startswith("only T = 8 reached nMSE < 0.01 within ")
    every_T = summarize("selection-fcn", critical_runs(lambda model, T, width: width >= (8 if model == "transformer"
                                                                                          else 2 * T * d)))
    assert every_T[FCN_ROW].verdict == "reproduced" and every_T[FCN_ROW].measured["slope"] == pytest.approx(1.0)
    assert every_T[TRANSFORMER_ROW].verdict == "reproduced" and every_T[TRANSFORMER_ROW].measured["slope"] == pytest.approx(0.0, abs=1e-9)
    assert every_T[FCN_ROW].measured["at_least"] is None


def with_curves(results, curve):
    """The transformer's critical runs with ``curve(run)`` as their learning curves (None: none recorded)."""
    return [with_measurements(r, curve=curve(r)) if r.params.get("model") == "transformer" else r for r in results]


def test_a_transformer_slope_above_log_t_needs_widths_that_stopped_improving():
    """Critical d_head growing like T would refute "at most like log T" only where the narrower widths at the
    larger T had stopped improving (their learning curves flat over the second half); still falling, or with no
    curve, the budget did not decide it."""
    linear = critical_runs(lambda model, T, width: width >= (T if model == "transformer" else 2 * T * 2))
    steps = committed("selection-fcn")[1]["options"]["transformer_steps"]

    def curve(falling: bool):
        return lambda r: [[step, (0.5 - 0.4 * step / steps) if falling else 0.1] for step in range(0, steps + 1, 250)]

    assert summarize("selection-fcn", with_curves(linear, curve(False)))[TRANSFORMER_ROW].verdict == "not_reproduced"
    for curves, shown in ((curve(True), "half-way"), (lambda r: None, "no learning curve recorded")):
        row = summarize("selection-fcn", with_curves(linear, curves))[TRANSFORMER_ROW]
        assert row.verdict == "untested" and row.measured["slope"] == pytest.approx(1.0)
        assert row.detail.startswith("the slope rests on widths that trained all their steps") and shown in row.detail


@given(exponent=st.floats(0.1, 3.0), scale=st.floats(0.5, 50.0),
       sizes=st.lists(st.sampled_from([4, 8, 16, 32, 64, 128]), min_size=2, max_size=5, unique=True),
       short=st.floats(0.2, 1.0))
def test_a_censored_bound_never_exceeds_the_true_growth(exponent, scale, sizes, short):
    """On an exact power law, a size left censored at any bound at or below its true value bounds the slope from
    below, and at its true value gives the exponent itself."""
    sizes = sorted(sizes)
    value = {T: scale * T**exponent for T in sizes}
    reached, censored = sizes[:1], sizes[1:]
    at_least = slope_at_least([(T, value[T]) for T in reached], [(T, short * value[T]) for T in censored])
    assert at_least <= exponent + 1e-9
    assert slope_at_least([(T, value[T]) for T in reached], [(T, value[T]) for T in censored]) == \
        pytest.approx(exponent)
    assert slope_at_least([(T, value[T]) for T in censored], [(T, value[T]) for T in reached]) is None


# --- shown and counted ------------------------------------------------------------------------------


def summary_of(verdicts: list[str]) -> dict:
    rows = [row(f"row {i}", REFERENCE, {"accuracy": 0.5}, "a rule", Untested("no seed solved") if v == "untested" else v)
            .to_dict() for i, v in enumerate(verdicts)]
    return {"experiment": "demo", "title": "A demo", "paper": "a paper", "scale": "quick", "options": {}, "seeds": 1,
            "device": "cpu", "runs": {"asked": 1, "finished": 1, "failed": 0}, "failures": [], "rows": rows,
            "notes": "", "figures": []}


def test_reports_count_and_show_untested_rows():
    summary = summary_of(["reproduced", "untested", "not_reproduced", "untested"])
    assert counts_line(summary) == "4 rows: 1 reproduced, 0 partial, 1 not reproduced, 2 untested."
    assert counts_line(summary_of(["reproduced"])) == "1 row: 1 reproduced, 0 partial, 0 not reproduced."
    markdown = experiment_markdown(summary)
    assert markdown.count("| untested | a rule | no seed solved |") == 2
    assert rows_html(summary["rows"]).count('<td class="verdict verdict-untested">untested</td>') == 2


def test_the_results_table_has_an_untested_column_and_the_reasons():
    table = results_table([summary_of(["reproduced", "untested", "partial"]), summary_of(["reproduced"])])
    header, _, first, second = ([cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines())
    assert header[3:] == ["reproduced", "partial", "not reproduced", "untested",
                          "what did not reproduce: measured (reference), or why untested"]
    assert first[3:7] == ["1", "1", "0", "1"] and "untested: *row 1*: no seed solved" in first[7]
    assert second[3:] == ["1", "0", "0", "0", ""]


# --- committed summaries are what their results summarise to ------------------------------------------


@pytest.mark.parametrize("name,folder", [(name, None) for name in COMMITTED] + COMMITTED_FULL)
def test_a_committed_summary_resummarises_to_its_rows(name, folder):
    assert resummarized_rows(name, folder) == committed(name, folder)[1]["rows"]


@pytest.mark.parametrize("scale", ["", "full"])
def test_resummarize_rewrites_a_summary_as_the_sweep_wrote_it(tmp_path, scale):
    committed_folder = FOLDER / "selection-dynamics" / scale
    folder = shutil.copytree(committed_folder, tmp_path / "selection-dynamics", ignore=shutil.ignore_patterns("runs"))
    before = json.loads((folder / "summary.json").read_text())
    (folder / "summary.md").unlink()
    after = resummarize("selection-dynamics", folder)
    assert after == before == json.loads((folder / "summary.json").read_text())  # seconds and machine: the sweep's
    assert (folder / "summary.md").read_text() == (committed_folder / "summary.md").read_text()
