"""One renderer for claims: the cells every view shows, then the same rows as Markdown, HTML, a notebook
table or command-line text.

A claim is an ``interp.analysis.Claim`` or its ``to_dict()`` form (what ``summary.json`` holds), with
an optional ``control``: the same probe on a randomly initialised model.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..analysis.claims import MECHANISM_KINDS

VERDICTS = {"found": "found", "partial": "partial", "not_found": "not found", "untestable": "untestable"}
# Always counted; "untestable" is counted only where some claim is (a claim that could not be computed
# for that model, its detail saying why).
CORE_VERDICTS = ("found", "partial", "not_found")
COLUMNS = {"name": "Claim", "kind": "Kind", "expected": "Expected", "measured": "Measured", "verdict": "Verdict",
           "control": "Random init (control)", "detail": "Detail"}


def format_value(value: Any) -> str:
    """A cell's text: floats to 4 significant digits, containers as compact JSON, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def claim_rows(claims: Sequence[Any]) -> list[dict[str, str]]:
    """Each claim as text cells keyed like ``COLUMNS``, plus its raw ``verdict`` key; bad verdicts raise."""
    rows = []
    for claim in claims:
        c = claim.to_dict() if hasattr(claim, "to_dict") else dict(claim)
        if c.get("verdict") not in VERDICTS:
            raise ValueError(f"claim {c.get('name')!r} has verdict {c.get('verdict')!r}; use one of {', '.join(VERDICTS)}")
        control = c.get("control")
        rows.append({
            "name": format_value(c.get("name")),
            "kind": format_value(c.get("kind", "")),
            "expected": format_value(c.get("expected")),
            "measured": format_value(c.get("value")),
            "verdict": c["verdict"],
            "control": f"{format_value(control['value'])} ({VERDICTS[control['verdict']]})" if control else "",
            "detail": format_value(c.get("detail", "")),
        })
    return rows


def tally(verdicts: Sequence[str], names: Sequence[str], always: Sequence[str]) -> dict[str, int]:
    """How many of ``verdicts`` are each of ``names``, in that order; a name outside ``always`` only when seen."""
    counts = {v: sum(seen == v for seen in verdicts) for v in names}
    return {v: n for v, n in counts.items() if v in always or n}


def counts_sentence(counts: Mapping[str, int], words: Mapping[str, str], noun: str) -> str:
    """``3 claims: 1 found, 1 partial, 1 not found.``: the total, then each count with its verdict's words."""
    total = sum(counts.values())
    parts = ", ".join(f"{n} {words[v]}" for v, n in counts.items())
    return f"{total} {noun}{'' if total == 1 else 's'}: {parts}."


def verdict_counts(claims: Sequence[Any]) -> dict[str, int]:
    """How many claims have each verdict: found, partial and not_found always, untestable when any is."""
    return tally([r["verdict"] for r in claim_rows(claims)], list(VERDICTS), CORE_VERDICTS)


def claims_counts_sentence(claims: Sequence[Any]) -> str:
    """The verdict counts as a sentence, computed from the claims themselves."""
    return counts_sentence(verdict_counts(claims), VERDICTS, "claim")


def _columns(rows: list[dict[str, str]]) -> list[str]:
    """The columns worth showing: kind and control only when some claim has them."""
    return [c for c in COLUMNS if c not in ("kind", "control") or any(r[c] for r in rows)]


def claims_markdown(claims: Sequence[Any]) -> str:
    rows = claim_rows(claims)
    columns = _columns(rows)

    def cell(row: dict[str, str], column: str) -> str:
        text = VERDICTS[row[column]] if column == "verdict" else row[column]
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(COLUMNS[c] for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def claims_html(claims: Sequence[Any]) -> str:
    """A ``<table class="claims">`` with one coloured verdict cell per claim."""
    rows = claim_rows(claims)
    columns = _columns(rows)

    def cell(row: dict[str, str], column: str) -> str:
        if column == "verdict":
            return f'<td class="verdict verdict-{row["verdict"]}">{VERDICTS[row["verdict"]]}</td>'
        return f"<td>{html.escape(row[column])}</td>"

    header = "<tr>" + "".join(f"<th>{COLUMNS[c]}</th>" for c in columns) + "</tr>"
    body = "\n".join("<tr>" + "".join(cell(row, c) for c in columns) + "</tr>" for row in rows)
    return f'<table class="claims">\n{header}\n{body}\n</table>'


def claims_text(claims: Sequence[Any], indent: str = "  ") -> str:
    """One line per claim for a terminal: ``[verdict] name: measured (random init ...)``."""
    lines = []
    for row in claim_rows(claims):
        control = f"  (random init {row['control']})" if row["control"] else ""
        lines.append(f"{indent}[{VERDICTS[row['verdict']]:>10}] {row['name']}: {row['measured']}{control}")
    return "\n".join(lines)


def findings_markdown(claims: Sequence[Any], mechanism: str = "") -> str:
    """What an analysis found, as Markdown bullets computed from its claims: the mechanism line, the
    mechanism claims that hold, hold partly or are missing (with what was measured), the behaviour and
    comparison claims, and what could not be tested and why. Stays true whatever the verdicts are."""
    dicts = [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in claims]
    rows = claim_rows(dicts)

    def described(row: dict[str, str]) -> str:
        detail = f"; {row['detail']}" if row["detail"] else ""
        return f"{row['name']} (measured {row['measured']}{detail})"

    def verdicts(selected: list[dict[str, str]]) -> str:
        return "; ".join(f"{row['name']}: {VERDICTS[row['verdict']]}" for row in selected)

    mechanism_rows = [r for r, c in zip(rows, dicts) if c.get("kind") in MECHANISM_KINDS]
    lines = [f"- **Mechanism:** {mechanism}."] if mechanism else []
    for verdict, label in (("found", "Holds as predicted"), ("partial", "Holds partly"), ("not_found", "Missing")):
        selected = [r for r in mechanism_rows if r["verdict"] == verdict]
        if selected:
            shown = ", ".join(r["name"] for r in selected) if verdict == "found" else "; ".join(map(described, selected))
            lines.append(f"- {label} ({len(selected)}): {shown}.")
    for kind, label in (("behaviour", "Behaviour (any solver passes these)"), ("comparison", "Against the construction")):
        selected = [r for r, c in zip(rows, dicts) if c.get("kind") == kind and r["verdict"] != "untestable"]
        if selected:
            lines.append(f"- {label}: {verdicts(selected)}.")
    untested = [r for r in rows if r["verdict"] == "untestable"]
    if untested:
        lines.append("- Not testable on this model: " + "; ".join(f"{r['name']} ({r['detail']})" for r in untested) + ".")
    return "\n".join(lines)


CLAIMS_CSS = """
table.claims { border-collapse: collapse; margin: 8px 0; }
table.claims th, table.claims td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
table.claims th { background: #f6f8fa; }
.verdict { font-weight: 600; white-space: nowrap; }
.verdict-found { background: #dafbe1; color: #116329; }
.verdict-partial { background: #fff8c5; color: #7d4e00; }
.verdict-not_found { background: #ffebe9; color: #a40e26; }
.verdict-untestable { background: #eaeef2; color: #59636e; }
"""


class ClaimsTable:
    """Notebook output of ``claims_html`` (styled, no network)."""

    def __init__(self, claims: Sequence[Any]):
        self.claims = list(claims)

    def _repr_html_(self) -> str:
        return f"<style>{CLAIMS_CSS}</style>\n{claims_html(self.claims)}"

    def _repr_markdown_(self) -> str:
        return claims_markdown(self.claims)


def show_claims(claims: Sequence[Any]) -> ClaimsTable:
    """Display claims in a notebook as a coloured table."""
    return ClaimsTable(claims)
