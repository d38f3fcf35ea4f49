"""One grader: rules that turn a measured value into a verdict and state themselves in a sentence.

A rule is a small frozen dataclass holding its thresholds. ``rule.grade(value)`` gives the verdict and
``rule.sentence`` the sentence that states the rule: a template (the class's ``says``, or the rule's own
``sentence_template``) whose ``{placeholders}`` are the rule's fields, so both read the same thresholds; a rule
refuses a template that leaves one of its thresholds out, so what a report says the rule is cannot drift from
what it does.

- ``AtLeast(reproduced, partial)`` / ``AtMost(reproduced, partial)``: a threshold to pass and a looser one
  for ``partial`` (none: pass or fail; infinite: the rule caps a verdict at partial but never fails it);
- ``Inside(low, high, slack)``: inside ``[low, high]``, ``partial`` within ``slack`` of it;
- ``Near(reference, tolerance, partial_tolerance)``: within a distance of a reference value;
- ``WithinFactor(reference, factor, partial_factor)``: within a factor of a reference value, either way;
- ``RoundsTo(partial)``: a measurement against a number quoted to some decimals;
- ``Share(reproduced, partial)``: the share of seeds (or cells) for which something holds, given as booleans;
- ``Holds(sentence)``: conditions the statistic decides itself, for a claim that is no comparison of one
  number with thresholds (an ordering, an equality, a margin between two measurements): the value is a pair
  of booleans, the one that makes the claim reproduced and the one that makes it partial, and the sentence
  must say what both are;
- ``AllOf(rules)`` / ``Every(rule)``: several values that must all hold; the weakest verdict wins.

A rule speaks one of two vocabularies: experiment rows (``ROWS``: reproduced / partial / not_reproduced, and
``untested`` through ``Untested``) and claims (``CLAIMS``: found / partial / not_found). A value that could not
be measured is an ``Untested(reason)``, which every rule hands back as it is; ``None`` (nothing measured, no
reason) and NaN (a run that measured nonsense, e.g. a diverged training) fail.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple


class Vocabulary(NamedTuple):
    """The words for a value that holds, nearly holds, and fails."""

    holds: str
    near: str
    fails: str


ROWS = Vocabulary("reproduced", "partial", "not_reproduced")
CLAIMS = Vocabulary("found", "partial", "not_found")
HOLDS, NEAR, FAILS = range(3)  # the levels a rule grades a measured value to, in the order of a Vocabulary


@dataclass(frozen=True)
class Untested:
    """A value that was never measured, and why: the claim was never put to the test (the condition it is
    about never arose, or the budget did not reach the measurement). Every rule grades it to itself."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("an untested verdict must say why")


Verdict = str | Untested  # a word of a Vocabulary, or an Untested


class _Numbers(string.Formatter):
    """Formats ``{x:e}`` as the short scientific notation reports use (1e-5, not 1e-05), ``{x:percent}`` as a
    percentage (0.05: 5 %), and ``{x:part}`` / ``{x:parts}`` as the part of a whole in words (1: every / all,
    0.5: half; else a percentage)."""

    PARTS: ClassVar[dict[str, dict[float, str]]] = {"part": {1.0: "every", 0.5: "half"},
                                                    "parts": {1.0: "all", 0.5: "half"}}

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "e":
            mantissa, exponent = f"{value:.0e}".split("e")
            return f"{mantissa}e{int(exponent)}"
        if format_spec == "percent":
            return f"{100 * value:g} %"
        if format_spec in self.PARTS:
            return self.PARTS[format_spec].get(value, f"{value:.0%}")
        return super().format_field(value, format_spec)


NUMBERS = _Numbers()


def _states(placeholder: str, threshold: str) -> bool:
    """Whether ``{placeholder}`` states ``threshold``: itself, or a rule it belongs to (whose sentence states it)."""
    return threshold == placeholder or threshold.startswith((placeholder + ".", placeholder + "["))


def _unmeasured(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Rule:
    """Base of the rules: ``level`` grades a measured value; ``says`` is the sentence with the rule's fields
    as ``{placeholders}`` (the formats of ``_Numbers`` besides Python's)."""

    says: ClassVar[str] = ""

    def __post_init__(self) -> None:
        named = [field for _, field, _, _ in NUMBERS.parse(self.template) if field]
        if missing := [t for t in self.thresholds() if not any(_states(name, t) for name in named)]:
            raise ValueError(f"{type(self).__name__}: its sentence {self.template!r} leaves out {', '.join(missing)}")

    @property
    def template(self) -> str:
        return getattr(self, "sentence_template", "") or self.says

    def thresholds(self) -> list[str]:
        """The fields the verdict depends on, which the sentence must state (dotted for a nested rule's); a
        threshold left None or infinite is no threshold."""
        return [f.name for f in fields(self) if f.name not in ("what", "sentence_template", "missing")
                and getattr(self, f.name) is not None and getattr(self, f.name) not in (math.inf, -math.inf)]

    @property
    def sentence(self) -> str:
        return NUMBERS.format(self.template, **{f.name: getattr(self, f.name) for f in fields(self)})

    def __str__(self) -> str:
        return self.sentence

    def level(self, value: Any) -> int:
        raise NotImplementedError

    def grade(self, value: Any, vocabulary: Vocabulary = ROWS) -> Verdict:
        """The verdict on ``value``: an Untested as it is, a missing or NaN value fails, else ``measured``'s."""
        if isinstance(value, Untested):
            return value
        if _unmeasured(value):
            return vocabulary.fails
        return self.measured(value, vocabulary)

    def measured(self, value: Any, vocabulary: Vocabulary) -> Verdict:
        """The verdict on a value that was measured: ``level``'s word."""
        return vocabulary[self.level(value)]


@dataclass(frozen=True)
class _Threshold(Rule):
    """A threshold to pass, and a looser one for ``partial`` (None: nothing between passing and failing); the
    default sentence drops its partial clause where there is none."""

    @property
    def template(self) -> str:
        partial = getattr(self, "partial", None)
        return getattr(self, "sentence_template", "") or (self.says if partial is not None else self.says.split(";")[0])

    def passes(self, value: float, threshold: float) -> bool:
        raise NotImplementedError

    def level(self, value: float) -> int:
        if self.passes(value, self.reproduced):
            return HOLDS
        return NEAR if self.partial is not None and self.passes(value, self.partial) else FAILS


@dataclass(frozen=True)
class AtLeast(_Threshold):
    reproduced: float
    partial: float | None = None
    what: str = "the value"
    sentence_template: str = ""
    says: ClassVar[str] = "reproduced if {what} is >= {reproduced:g}; partial if >= {partial:g}"

    def passes(self, value: float, threshold: float) -> bool:
        return value >= threshold


@dataclass(frozen=True)
class AtMost(_Threshold):
    reproduced: float
    partial: float | None = None
    what: str = "the value"
    sentence_template: str = ""
    says: ClassVar[str] = "reproduced if {what} is <= {reproduced:g}; partial if <= {partial:g}"

    def passes(self, value: float, threshold: float) -> bool:
        return value <= threshold


@dataclass(frozen=True)
class _Band(Rule):
    """A band around a target, and a wider one for ``partial``."""

    def inside(self, value: float, wider: bool) -> bool:
        raise NotImplementedError

    def level(self, value: float) -> int:
        return HOLDS if self.inside(value, wider=False) else NEAR if self.inside(value, wider=True) else FAILS


@dataclass(frozen=True)
class Inside(_Band):
    """Inside ``[low, high]``; ``partial`` within ``slack`` (absolute) of it."""

    low: float
    high: float
    slack: float = 0.0
    what: str = "the value"
    sentence_template: str = ""
    says: ClassVar[str] = "reproduced if {what} lies in [{low:g}, {high:g}]; partial if within {slack:g}"

    def inside(self, value: float, wider: bool) -> bool:
        slack = self.slack if wider else 0.0
        return self.low - slack <= value <= self.high + slack


@dataclass(frozen=True)
class Near(_Band):
    """Within ``tolerance`` (absolute) of ``reference``; ``partial`` within ``partial_tolerance``."""

    reference: float
    tolerance: float
    partial_tolerance: float
    what: str = "the value"
    sentence_template: str = ""
    says: ClassVar[str] = ("reproduced if {what} is within {tolerance:g} of {reference:g}; partial within "
                           "{partial_tolerance:g}")

    def inside(self, value: float, wider: bool) -> bool:
        return abs(value - self.reference) <= (self.partial_tolerance if wider else self.tolerance)


@dataclass(frozen=True)
class WithinFactor(_Band):
    """Within a factor ``factor`` of ``reference`` either way; ``partial`` within ``partial_factor``."""

    reference: float
    factor: float
    partial_factor: float
    what: str = "the value"
    sentence_template: str = ""
    says: ClassVar[str] = ("reproduced if {what} is within a factor {factor:g} of {reference:g} (either way); "
                           "partial if within {partial_factor:g}")

    def inside(self, value: float, wider: bool) -> bool:
        factor = self.partial_factor if wider else self.factor
        return self.reference / factor <= value <= self.reference * factor


@dataclass(frozen=True)
class RoundsTo(Rule):
    """A value against a number quoted to some decimals: the value is ``(measured, quoted, decimals)``;
    ``reproduced`` if the measurement rounds to the quoted number, ``partial`` within ``partial`` of it
    (relative)."""

    partial: float
    sentence_template: str = ""
    says: ClassVar[str] = "reproduced if it rounds to the quoted value; partial if within {partial:percent}"

    def level(self, value: tuple[float, float, int]) -> int:
        measured, quoted, decimals = value
        if abs(measured - quoted) <= 0.5 * 10**-decimals + 1e-12:
            return HOLDS
        return NEAR if abs(measured - quoted) <= self.partial * abs(quoted) else FAILS


@dataclass(frozen=True)
class Share(_Threshold):
    """The share of booleans (one per seed or cell) that hold: at least ``reproduced`` of them, ``partial``
    for at least ``partial`` (None: pass or fail); an empty list fails (give an Untested where no seed could be
    looked at)."""

    reproduced: float
    partial: float | None = None
    what: str = "a seed holds"
    sentence_template: str = ""
    says: ClassVar[str] = "reproduced if a share >= {reproduced:g} of seeds {what}; partial if >= {partial:g}"

    def measured(self, value: Any, vocabulary: Vocabulary) -> Verdict:
        return vocabulary[self.level(sum(map(bool, value)) / len(value))] if len(value) else vocabulary.fails

    def passes(self, share: float, threshold: float) -> bool:
        return share >= threshold


@dataclass(frozen=True)
class Holds(Rule):
    """Conditions the statistic decides: the value is ``(reproduced, partial)``, two booleans. For a claim
    that is no comparison of one number with thresholds (an ordering, a sign pattern); the sentence is
    ``sentence_template`` and must say what both conditions are."""

    sentence_template: str

    def thresholds(self) -> list[str]:
        return []

    def level(self, value: tuple[bool, bool]) -> int:
        reproduced, partial = value
        return HOLDS if reproduced else NEAR if partial else FAILS


def weakest(verdicts: Iterable[Verdict], missing: str = "no cell was measured",
            vocabulary: Vocabulary = ROWS) -> Verdict:
    """The weakest of several verdicts (a claim that needs every cell to hold).

    One cell measured wrong decides (fails) whatever the others; short of that, a cell that was never tested
    leaves the whole untested (with every such cell's reason), as does no cell at all (``missing``).
    """
    verdicts = list(verdicts)
    if vocabulary.fails in verdicts:
        return vocabulary.fails
    reasons = [v.reason for v in verdicts if isinstance(v, Untested)]
    if reasons or not verdicts:
        return Untested("; ".join(dict.fromkeys(reasons)) or missing)
    return max(verdicts, key=vocabulary.index)


@dataclass(frozen=True)
class AllOf(Rule):
    """Several rules, one value each (the value is a sequence in the rules' order); the weakest verdict.
    None for the whole (nothing to compare: a spectrum with too few eigenvalues) fails."""

    rules: tuple[Rule, ...]
    sentence_template: str

    def thresholds(self) -> list[str]:
        return [f"rules[{i}].{t}" for i, rule in enumerate(self.rules) for t in rule.thresholds()]

    def measured(self, value: Any, vocabulary: Vocabulary) -> Verdict:
        return weakest((rule.grade(v, vocabulary) for rule, v in zip(self.rules, value, strict=True)),
                       vocabulary=vocabulary)


@dataclass(frozen=True)
class Every(Rule):
    """One rule over many cells (the value: a mapping from cell to value, or a sequence); the weakest verdict,
    untested with ``missing`` when there is no cell."""

    rule: Rule
    sentence_template: str = ""
    missing: str = "no cell was measured"
    says: ClassVar[str] = "{rule}"

    def thresholds(self) -> list[str]:
        return [f"rule.{t}" for t in self.rule.thresholds()]

    def measured(self, value: Any, vocabulary: Vocabulary) -> Verdict:
        values = value.values() if isinstance(value, Mapping) else value
        return weakest((self.rule.grade(v, vocabulary) for v in values), self.missing, vocabulary)


__all__ = ["ROWS", "CLAIMS", "Vocabulary", "Untested", "Verdict", "Rule", "AtLeast", "AtMost", "Inside", "Near",
           "WithinFactor", "RoundsTo", "Share", "Holds", "AllOf", "Every", "weakest"]
