"""A claim: what the theory predicts, what the model shows, and a verdict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

VERDICTS = ("found", "partial", "not_found")


@dataclass
class Claim:
    """One prediction of the theory checked on one model.

    ``value`` is the number behind the verdict; ``expected`` says in words and numbers what the theory
    predicts; ``found``/``partial`` are the thresholds the verdict was graded with.
    """

    name: str
    kind: str  # behaviour | attention | representation | weights | causal | comparison
    expected: str
    value: float | None
    verdict: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.value is not None:
            out["value"] = round(float(self.value), 6)
        return out


def grade(value: float | None, found: float, partial: float, higher_is_better: bool = True) -> str:
    """``found`` if ``value`` passes ``found``, ``partial`` if it passes ``partial``, else ``not_found``."""
    if value is None or math.isnan(value):
        return "not_found"
    sign = 1 if higher_is_better else -1
    if sign * value >= sign * found:
        return "found"
    if sign * value >= sign * partial:
        return "partial"
    return "not_found"


def claim(name: str, kind: str, expected: str, value: float | None, found: float, partial: float,
          higher_is_better: bool = True, detail: str = "", **extra: Any) -> Claim:
    """A Claim graded against thresholds (recorded in ``extra``)."""
    extra = {"found_at": found, "partial_at": partial, "higher_is_better": higher_is_better, **extra}
    return Claim(name, kind, expected, value, grade(value, found, partial, higher_is_better), detail, extra)
