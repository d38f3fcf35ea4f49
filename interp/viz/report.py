"""One self-contained HTML page per analysed run: claims and verdicts, figures, attention views.

The page fetches nothing: figures are base64 data URIs, circuitsvis's bundle is inlined once,
and a Content-Security-Policy forbids every load that is not inline or ``data:``, so a stray URL
fails closed instead of leaving the machine.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis.run import CheckpointAnalysis, analyze_checkpoint
from ..files import write_json, write_text
from ..paths import REPORTS
from .attention import GRID_CSS, AttentionView, bundle_script, render_script, side_by_side, views_html
from .claims import (
    CLAIMS_CSS,
    claims_counts_sentence,
    claims_html,
    claims_markdown,
    claims_text,
    format_value,
    verdict_counts,
)
from .figures import draw, image_data_uri
from .symmetry import symmetry_html, symmetry_markdown, symmetry_text

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; worker-src blob:"
)

PAGE_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1400px; margin: 24px auto; padding: 0 16px; color: #1f2328; }
h1 { font-size: 26px; } h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
figure { display: inline-block; margin: 8px 16px 16px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { font-size: 13px; color: #59636e; }
code { background: #f6f8fa; padding: 0 3px; }
.lead { font-size: 16px; background: #f6f8fa; border-left: 4px solid #0969da; padding: 6px 14px; margin: 12px 0 20px; }
.lead p { margin: 6px 0; }
"""


# Sequences longer than this get one attention example in a report (e.g. the counting paper model, L = 128).
LONG_SEQUENCE = 64


def write_report(path: Path | str, **report: Any) -> Path:
    """Write the report page (``render_report``'s keywords) to ``path`` atomically and return the path.

    ``summary["claims"]`` is a list of ``{name, expected, value, verdict, detail?, control?}`` with verdict
    one of ``found``, ``partial``, ``not_found``; other summary keys are shown as a details table.
    ``figures`` are image files (PNG, JPEG, GIF, SVG), embedded. Each row of ``attention_rows``
    is shown side by side (e.g. trained model | construction).
    """
    return write_text(path, render_report(**report))


def render_report(
    *,
    title: str,
    summary: Mapping[str, Any],
    figures: Sequence[Path | str],
    attention_rows: Sequence[Sequence[AttentionView]],
    notes_markdown: str = "",
) -> str:
    """The report page as an HTML string (see ``write_report``)."""
    details = {k: v for k, v in summary.items() if k not in ("claims", "symmetry", "mechanism")}
    claims = summary.get("claims", [])
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        lead_html(lead_lines(summary.get("mechanism"), claims)),
        f"<h2>Claims</h2>\n{claims_html(claims)}",
        symmetry_html(summary.get("symmetry")),
        details_html(details) if details else "",
        f"<h2>Notes</h2>\n{markdown_html(notes_markdown)}" if notes_markdown.strip() else "",
        figures_html(figures) if figures else "",
        attention_html(attention_rows) if any(attention_rows) else "",
    ]
    return page(title, sections)


def page(title: str, sections: Sequence[str], css: str = "") -> str:
    """A self-contained HTML page: the CSP header, the shared styles, then the non-empty ``sections``."""
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}{CLAIMS_CSS}{GRID_CSS}{css}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --- sections --------------------------------------------------------------------------------


def lead_lines(mechanism: str | None, claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a model's report opens with, as Markdown lines: the mechanism line (when there is one) and the
    count of each verdict, computed from the claims so the answer cannot disagree with the table below."""
    return [*([f"**Mechanism:** {mechanism}."] if mechanism else []), claims_counts_sentence(claims)]


def lead_html(lines: Sequence[str]) -> str:
    """Markdown ``lines`` as the boxed block a page opens with, right under its title."""
    return '<div class="lead">\n' + "".join(markdown_html(line) for line in lines) + "</div>"


def details_html(details: Mapping[str, Any]) -> str:
    rows = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_value(v))}</td></tr>"
                     for k, v in details.items())
    return f'<h2>Run</h2>\n<table class="details">\n{rows}\n</table>'


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML escaped; links and images stay text (an image would be a fetch,
    and an offline page has nowhere to link to)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("js-default").disable(["image", "link", "autolink"]).render(text)


def figures_html(figures: Sequence[Path | str]) -> str:
    parts = []
    for figure in map(Path, figures):
        name = html.escape(figure.stem)
        parts.append(
            f'<figure><img src="{image_data_uri(figure)}" alt="{name}"><figcaption>{name}</figcaption></figure>'
        )
    return "<h2>Figures</h2>\n" + "\n".join(parts)


def attention_html(rows: Sequence[Sequence[AttentionView]]) -> str:
    """The attention views, then circuitsvis's bundle (the one copy on the page) and the render call."""
    views, ids = views_html([list(row) for row in rows], "attention")
    return f"<h2>Attention</h2>\n{views}\n{bundle_script()}\n{render_script(ids)}"


# --- a model's report ------------------------------------------------------------------------------

MODEL_REPORT_NOTES = (
    "Each claim states what the theory predicts and the number measured on fresh samples. Its kind says what "
    "it looks at: *behaviour* claims hold for any model that solves the task, so only the attention, "
    "representation, weight and causal claims decide the mechanism line. The *control* column is the same "
    "probe on a randomly initialised model of the same configuration, so a probe that cannot fail shows up. "
    "Attention views: positions the theory names are marked `*`; the left view is this model, the right one "
    "the hand-built construction on the same input."
)


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md`` of an analysed model: the mechanism line, the verdict counts, the claims, the plots."""
    lines = [
        f"# {summary['task']}: {summary['run']} ({summary['kind']})",
        "",
        *(f"{line}\n" for line in lead_lines(summary["mechanism"], summary["claims"])),  # a paragraph each
        f"Circuit heads: {', '.join(summary['circuit_heads']) or 'none'}.",
        "",
        claims_markdown(summary["claims"]),
        "",
        symmetry_markdown(summary.get("symmetry")),
        "Plots: " + ", ".join(f"[{f}]({f})" for f in summary["figures"]),
        "",
    ]
    return "\n".join(lines)


def summary_text(summary: Mapping[str, Any]) -> str:
    """What ``interp analyze`` prints for one model."""
    return "\n".join([f"{summary['checkpoint']}: {summary['mechanism']}", claims_text(summary["claims"]),
                      *filter(None, [symmetry_text(summary.get("symmetry"))]),
                      f"  report: {summary['report_dir']}/report.html ({summary['seconds']} s)"])


def write_model_report(out: Path, summary: Mapping[str, Any],
                       attention_rows: Sequence[Sequence[AttentionView]] | None) -> None:
    """``summary.md`` of an analysed model in ``out``, and its self-contained ``report.html`` unless
    ``attention_rows`` is None."""
    write_text(Path(out) / "summary.md", summary_markdown(summary))
    if attention_rows is None:
        return
    # No "verdicts": the page counts the claims it shows rather than trusting a count handed over.
    keys = ("task", "run", "kind", "checkpoint", "mechanism", "circuit_heads", "params")
    write_report(Path(out) / "report.html", title=f"{summary['task']} / {summary['run']}",
                 summary={**{k: summary[k] for k in keys}, "claims": summary["claims"], "symmetry": summary.get("symmetry")},
                 figures=[Path(out) / f for f in summary["figures"]], attention_rows=attention_rows,
                 notes_markdown=MODEL_REPORT_NOTES)


def write_analysis_report(analysis: CheckpointAnalysis, out: str | Path, write_html: bool = True) -> dict[str, Any]:
    """Write an analysed checkpoint's report to ``out``: the PNG plots, ``summary.json`` (the summary with its
    verdict counts, figure files and ``report_dir``), ``summary.md`` and, if ``write_html``, the self-contained ``report.html``
    with the model's attention beside its construction's. Returns the summary as written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [draw(plot, out).name for plot in analysis.plots]
    summary = {**analysis.summary, "verdicts": verdict_counts(analysis.summary["claims"]), "figures": figures,
               "report_dir": str(out)}
    write_json(out / "summary.json", summary)
    task = analysis.task
    # A view draws every (query, key) cell, so a long sequence takes seconds to render: then one example, not two.
    examples = (0, 1) if task.seq_len <= LONG_SEQUENCE else (0,)
    views = (side_by_side(analysis.model, analysis.reference, task, task.sample(len(examples), analysis.seed + 7),
                          indices=examples) if write_html else None)
    write_model_report(out, summary, views)
    return summary


def report_checkpoint(directory: str | Path, out: str | Path | None = None, samples: int = 2048, seed: int = 0,
                      write_html: bool = True) -> dict[str, Any]:
    """Analyse the checkpoint in ``directory`` and write its report (default
    ``analyses/reports/<task>/<run>/``); returns the summary."""
    analysis = analyze_checkpoint(directory, samples, seed)
    return write_analysis_report(analysis, out or REPORTS / analysis.task.name / Path(directory).name, write_html)
