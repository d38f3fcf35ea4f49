"""Rendering of the permutation-symmetry score (``interp.symmetry.score``) and of irrep decompositions:
bar charts as ``Plot`` data, and the report's section as HTML, Markdown and terminal text."""

from __future__ import annotations

import html
import tempfile
from collections.abc import Mapping
from typing import Any

from ..plot import Plot
from .figures import draw, image_data_uri

FUNCTIONS = {"model": "this model", "target": "the target", "control": "random init (control)"}
SYMMETRY_CSS = """
table.symmetry { border-collapse: collapse; margin: 8px 0; }
table.symmetry th, table.symmetry td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; }
table.symmetry th { background: #f6f8fa; }
"""


def _number(value: float | None, error: float | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" + (f" ± {error:.2g}" if error is not None and error == error else "")


def profile_plot(section: Mapping[str, Any], name: str = "symmetry_profile") -> Plot:
    """Bars of the energy profile ``E_k / Var f`` by asymmetry order for the model, the target and the control
    (whole orbits), or of ``S_sym`` alone where only the symmetric fraction was measured."""
    present = [key for key in FUNCTIONS if key in section]
    profiles = {key: section[key]["profile"] for key in present}
    if all(p is not None for p in profiles.values()):
        orders = max(len(p) for p in profiles.values())
        series = {FUNCTIONS[k]: [p[i] if i < len(p) else 0.0 for i in range(orders)] for k, p in profiles.items()}
        return Plot.bars(name, f"{section['task']}: variance by asymmetry order k = L - lam_1 ({section['group']})",
                         [f"k={k}" for k in range(orders)], series, ylabel="E_k / Var f")
    labels = [FUNCTIONS[k] for k in present] + ["closed form (target)"]
    values = [section[k]["s_sym"] for k in present] + [section["closed_form"]["s_sym"]]
    return Plot.bars(name, f"{section['task']}: symmetric fraction S_sym ({section['group']})", labels,
                     {"S_sym": values}, ylabel="S_sym")


def irreps_plot(energies: Mapping[str, float], name: str, title: str, variance: float | None = None,
                other: Mapping[str, Mapping[str, float]] | None = None) -> Plot:
    """Bars of the energy per irrep (labels ``"5,1"``), as a fraction of ``variance`` when given; ``other``
    adds more series over the same irreps (e.g. a trained model beside its target)."""
    series = {"f": dict(energies), **{key: dict(value) for key, value in (other or {}).items()}}
    labels = list(energies)
    scale = variance or 1.0
    return Plot.bars(name, title, [f"({label})" for label in labels],
                     {key: [values.get(label, 0.0) / scale for label in labels] for key, values in series.items()},
                     ylabel="energy / Var f" if variance else "energy")


def _rows(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    closed = section["closed_form"]
    rows = [("group", section["group"]), ("scored function", section["scored"]), ("method", section["method"]),
            ("inputs", f"{section['inputs']} (positions rearranged: {', '.join(map(str, section['positions']))})")]
    for key, label in FUNCTIONS.items():
        if key in section:
            score = section[key]
            rows.append((f"S_sym, {label}", _number(score["s_sym"], score["s_sym_se"])))
    rows.append(("S_sym, target in closed form", f"{_number(closed['s_sym'])} ({closed['formula']})"))
    rows.append(("symmetry bias B = S_sym(model) - S_sym(target)", _number(section["bias"])))
    for key, label in FUNCTIONS.items():
        if key in section and section[key]["kbar"] is not None:
            rows.append((f"mean asymmetry order kbar, {label}", _number(section[key]["kbar"])))
            rows.append((f"profile E_k / Var, {label}", ", ".join(f"{p:.3g}" for p in section[key]["profile"])))
    return rows


def symmetry_html(section: Mapping[str, Any] | None) -> str:
    """The report's "Permutation symmetry" section: the score table and the profile chart (inline PNG)."""
    if not section:
        return ""
    if not section.get("available"):
        return f"<h2>Permutation symmetry</h2>\n<p>{html.escape(section.get('reason', 'not available'))}</p>"
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _rows(section))
    with tempfile.TemporaryDirectory() as folder:
        uri = image_data_uri(draw(profile_plot(section), folder))
    return (f"<h2>Permutation symmetry</h2>\n<style>{SYMMETRY_CSS}</style>\n"
            f"<p>How much of the function the model computes is unchanged when the positions named below are "
            f"rearranged (the trivial irrep of the symmetric group), against the target's own share; the GP view "
            f"of transformers predicts B &gt; 0 when data is scarce (docs/theory/symmetry.md).</p>\n"
            f'<table class="symmetry">\n{rows}\n</table>\n'
            f'<figure><img src="{uri}" alt="symmetry_profile"><figcaption>symmetry_profile</figcaption></figure>')


def symmetry_markdown(section: Mapping[str, Any] | None) -> str:
    """The same section for ``summary.md``."""
    if not section:
        return ""
    if not section.get("available"):
        return f"## Permutation symmetry\n\n{section.get('reason', 'not available')}\n"
    lines = ["## Permutation symmetry", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in _rows(section)]
    return "\n".join(lines) + "\n"


def symmetry_text(section: Mapping[str, Any] | None) -> str:
    """One line for the terminal."""
    if not section or not section.get("available"):
        return ""
    model, target = section["model"], section["target"]
    control = f", random init {section['control']['s_sym']:.3g}" if "control" in section else ""
    return (f"  symmetry: S_sym {model['s_sym']:.3g} (target {target['s_sym']:.3g}, closed form "
            f"{section['closed_form']['s_sym']:.3g}{control}), bias B = {section['bias']:+.3g}")


__all__ = ["irreps_plot", "profile_plot", "symmetry_html", "symmetry_markdown", "symmetry_text"]
