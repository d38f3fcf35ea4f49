"""A claim: what the theory predicts, what the model shows, and a verdict.

Every claim has a *kind*, which says what it looks at and so whether it can tell the predicted
mechanism from another way of solving the task:

- ``behaviour``: any model that solves the task passes it, whatever its mechanism: the task metric,
  the flip influence of each input bit, a linear read-out of the answer after the last layer,
  ablating the only head of a layer (nothing else can carry the information), out-of-distribution
  behaviour. Shown, never part of the mechanism line.
- ``attention``: where the heads look (``hook_pattern``, ``hook_q``/``hook_k``) against the positions
  the theory names.
- ``representation``: what the residual stream holds at a named hook, by linear probes, always
  against a contrast (other bits, another code, the layer before) so that a rich random residual
  stream does not pass.
- ``weights``: the circuits read off the weights (``FactoredMatrix`` QK and OV) against the
  construction's form.
- ``causal``: interventions that test the predicted mechanism rather than the task: ablating the
  circuit heads and, separately, the other heads, removing the bias token, patching a head's output.
- ``comparison``: against the construction for the same task instance: output agreement, attention
  similarity, the construction's pattern patched in. They say how close the model is to one
  particular hand-built solution, not whether it has the mechanism, so they stay out of the line.

The mechanism line (``interp.analysis.mechanism``) reads the verdicts of the ``MECHANISM_KINDS``.

Verdicts: ``found``, ``partial``, ``not_found`` (graded against the claim's thresholds by the rules of
``interp.grading``, the ones experiment rows use), and
``untestable`` when the claim cannot be computed for this model or task instance (e.g. more heads
than positions, so uniform attention already reaches the maximum); ``detail`` then says why, and
the claim is left out of the mechanism line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..grading import CLAIMS, AtLeast, AtMost

VERDICTS = ("found", "partial", "not_found", "untestable")
KINDS = ("behaviour", "attention", "representation", "weights", "causal", "comparison")
# The kinds whose verdicts decide the mechanism line.
MECHANISM_KINDS = ("attention", "representation", "weights", "causal")


@dataclass
class Claim:
    """One prediction of the theory checked on one model.

    ``value`` is the number behind the verdict; ``expected`` says in words and numbers what the theory
    predicts; ``extra`` holds the thresholds the verdict was graded with (``found_at``, ``partial_at``)
    and whatever else the probe measured. ``extra["finding"]``, if set, is a short phrase the
    mechanism line quotes when the claim does not hold (e.g. "bias token ]").
    """

    name: str
    kind: str
    expected: str
    value: float | None
    verdict: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.name!r} has kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.name!r} has verdict {self.verdict!r}; use one of {', '.join(VERDICTS)}")
        if self.verdict == "untestable" and not self.detail:
            raise ValueError(f"untestable claim {self.name!r} must say why in its detail")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.value is not None:
            out["value"] = round(float(self.value), 6)
        return out


def claim_rule(found: float, partial: float, higher_is_better: bool = True) -> AtLeast | AtMost:
    """The rule a claim is graded by: ``found`` if the value passes ``found``, ``partial`` if it passes
    ``partial`` (at least them, or at most where lower is better)."""
    return (AtLeast if higher_is_better else AtMost)(found, partial)


def grade(value: float | None, found: float, partial: float, higher_is_better: bool = True) -> str:
    """``found`` if ``value`` passes ``found``, ``partial`` if it passes ``partial``, else ``not_found``
    (also for a missing or NaN value)."""
    return claim_rule(found, partial, higher_is_better).grade(value, CLAIMS)


def claim(name: str, kind: str, expected: str, value: float | None, found: float, partial: float,
          higher_is_better: bool = True, detail: str = "", **extra: Any) -> Claim:
    """A Claim graded against thresholds (recorded in ``extra``)."""
    extra = {"found_at": found, "partial_at": partial, "higher_is_better": higher_is_better, **extra}
    value = None if value is None else float(value)
    return Claim(name, kind, expected, value, grade(value, found, partial, higher_is_better), detail, extra)


def untestable(name: str, kind: str, expected: str, reason: str, **extra: Any) -> Claim:
    """A claim that cannot be computed for this model or task instance; ``reason`` says why."""
    return Claim(name, kind, expected, None, "untestable", reason, extra)


def head_names(heads: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
    """``"L0H1, L0H3"``."""
    return ", ".join(f"L{layer}H{head}" for layer, head in heads)
