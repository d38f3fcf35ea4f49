"""The grader: each rule gives its verdict and the sentence stating it from the same thresholds, in the
vocabulary of experiment rows or of claims."""

from __future__ import annotations

import pytest

from interp.grading import CLAIMS, AllOf, AtLeast, AtMost, Every, Holds, Inside, Share, Untested, WithinFactor


def test_a_rule_states_the_thresholds_it_grades_with():
    rule = AtLeast(100, 10, "the median ratio")
    assert rule.sentence == str(rule) == "reproduced if the median ratio is >= 100; partial if >= 10"
    assert [rule.grade(v) for v in (100, 50, 1)] == ["reproduced", "partial", "not_reproduced"]
    assert AtMost(1e-5, 1e-3, sentence_template="<= {reproduced:e}; partial if <= {partial:e}").sentence == (
        "<= 1e-5; partial if <= 1e-3")
    with pytest.raises(ValueError, match="leaves out partial"):
        AtLeast(1.0, 0.99, sentence_template="reproduced if it is {reproduced}")


def test_claims_grade_in_their_own_words():
    assert [AtLeast(0.9, 0.5).grade(v, CLAIMS) for v in (0.95, 0.6, 0.1, None)] == [
        "found", "partial", "not_found", "not_found"]


def test_ranges_factors_shares_and_conditions():
    assert [Inside(0.72, 0.98, 0.02).grade(v) for v in (0.8, 0.71, 0.5)] == ["reproduced", "partial", "not_reproduced"]
    rule = WithinFactor(3140, 1.5, 3)
    assert [rule.grade(v) for v in (3140 * 1.4, 3140 * 2.9, 3140 * 4)] == ["reproduced", "partial", "not_reproduced"]
    assert [Share(1.0, 0.5).grade(v) for v in ([True] * 3, [True, False], [False, False, True], [])] == [
        "reproduced", "partial", "not_reproduced", "not_reproduced"]
    assert Holds("reproduced if both; partial if the first").grade((False, True)) == "partial"
    assert [Share(1.0).grade(v) for v in ([True, True], [True, False])] == ["reproduced", "not_reproduced"]
    assert AtMost(5, float("inf")).grade(6) == "partial"  # an infinite partial threshold caps, never fails


def test_several_values_take_the_weakest_verdict_and_pass_untested_cells_on():
    every = Every(AtMost(10, 100), "reproduced if every cell's factor is <= {rule.reproduced}; partial if <= "
                                   "{rule.partial}")
    assert every.grade({"a": 1, "b": 50}) == "partial"
    assert every.grade({"a": 1, "b": Untested("no run at b")}) == Untested("no run at b")
    assert every.grade({"a": 1000, "b": Untested("no run at b")}) == "not_reproduced"
    assert every.grade({}) == Untested("no cell was measured")
    with pytest.raises(ValueError, match="rule.partial"):
        Every(AtMost(10, 100), "reproduced if every factor is <= {rule.reproduced}")
    both = AllOf((AtLeast(1.0, 0.99), Holds("below 0.95 elsewhere")), "{rules[0]} and {rules[1]}")
    assert both.grade((1.0, (False, False))) == "not_reproduced" and both.grade((1.0, (True, True))) == "reproduced"
