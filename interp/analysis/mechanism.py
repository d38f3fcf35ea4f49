"""The mechanism line: one sentence, computed from the verdicts of the mechanism claims, saying whether
a model has the circuit the theory predicts.

Only the claims whose kind is in ``MECHANISM_KINDS`` (attention, representation, weights, causal) and
that could be tested enter it, each by its name; behaviour claims (any solver passes them) and
comparison claims (closeness to one hand-built solution) never do. The rules:

- every mechanism claim found: "<the task's circuit in words> (circuit heads ...): the predicted circuit";
- every attention claim not found: "<what the attention does instead>: not the mechanism of the proof",
  then the claims that miss and those that hold anyway;
- anything else: "partly the predicted circuit (circuit heads ...)", naming the partial and the missing
  claims.

Circuit heads are named only when there are some, and never in the "not the mechanism" case (there is
no circuit to name). A claim's ``extra["finding"]`` (e.g. "bias token ]") is quoted next to its name
when it does not hold. The per-task text is data: a ``Wording``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .claims import MECHANISM_KINDS, Claim, head_names

PREDICTED, PARTLY, ABSENT, UNTESTED = "predicted", "partly", "absent", "untested"
STATUSES = (PREDICTED, PARTLY, ABSENT, UNTESTED)


@dataclass(frozen=True)
class Wording:
    """A task's words for its mechanism line.

    ``circuit``: the predicted circuit in a few words ("heads at CLS point at the bits of S ...").
    ``absent``: what to say when no attention claim holds ("attention from CLS does not concentrate on S").
    """

    circuit: str
    absent: str


@dataclass(frozen=True)
class Assessment:
    """The mechanism claims of one analysis sorted by verdict (claim names, in analysis order)."""

    status: str  # PREDICTED | PARTLY | ABSENT | UNTESTED
    found: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untestable: list[str] = field(default_factory=list)


def assess(claims: Sequence[Claim]) -> Assessment:
    """Sort the mechanism claims by verdict and decide the status (see the module docstring)."""
    mechanism = [c for c in claims if c.kind in MECHANISM_KINDS]
    names = {v: [c.name for c in mechanism if c.verdict == v] for v in ("found", "partial", "not_found", "untestable")}
    tested = [c for c in mechanism if c.verdict != "untestable"]
    attention = [c for c in tested if c.kind == "attention"]
    if not tested:
        status = UNTESTED
    elif attention and all(c.verdict == "not_found" for c in attention):
        status = ABSENT
    elif all(c.verdict == "found" for c in tested):
        status = PREDICTED
    else:
        status = PARTLY
    return Assessment(status, names["found"], names["partial"], names["not_found"], names["untestable"])


def _named(names: list[str], by_name: dict[str, Claim]) -> str:
    def one(name: str) -> str:
        finding = by_name[name].extra.get("finding")
        return f"{name} ({finding})" if finding else name

    return ", ".join(map(one, names))


def mechanism_line(claims: Sequence[Claim], wording: Wording, circuit: Sequence[tuple[int, int]] = (),
                   labels: Sequence[str] | None = None) -> str:
    """The mechanism line of ``claims`` in ``wording``; ``circuit`` heads are named when there are some, as
    ``labels`` if given (e.g. "encoder L0H0", where ``L0H0`` alone would name two heads), else ``L0H0``."""
    by_name = {c.name: c for c in claims}
    result = assess(claims)
    names = ", ".join(labels) if labels is not None else head_names(list(circuit))
    heads = f" (circuit heads {names})" if circuit else ""
    partial = f"; partial: {_named(result.partial, by_name)}" if result.partial else ""
    missing = f"; missing: {_named(result.missing, by_name)}" if result.missing else ""
    if result.status == UNTESTED:
        return "no mechanism claim could be tested on this model"
    if result.status == PREDICTED:
        return f"{wording.circuit}{heads}: the predicted circuit"
    if result.status == ABSENT:
        anyway = f"; holds anyway: {_named(result.found, by_name)}" if result.found else ""
        return f"{wording.absent}: not the mechanism of the proof{missing}{partial}{anyway}"
    total = len(result.found) + len(result.partial) + len(result.missing)
    return f"partly the predicted circuit{heads}: {len(result.found)} of {total} mechanism claims hold{partial}{missing}"
