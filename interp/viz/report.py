"""One self-contained HTML page per analysed run: claims and verdicts, figures, attention views.

The page fetches nothing: figures are base64 data URIs, circuitsvis's bundle is inlined once,
and a Content-Security-Policy forbids every load that is not inline or ``data:``, so a stray URL
fails closed instead of leaving the machine.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .attention import GRID_CSS, AttentionView, bundle_script, render_script, views_html

VERDICTS = {"found": "found", "partial": "partial", "not_found": "not found"}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}
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
.verdict { font-weight: 600; white-space: nowrap; border-radius: 4px; }
.verdict-found { background: #dafbe1; color: #116329; }
.verdict-partial { background: #fff8c5; color: #7d4e00; }
.verdict-not_found { background: #ffebe9; color: #a40e26; }
figure { display: inline-block; margin: 8px 16px 16px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { font-size: 13px; color: #59636e; }
code { background: #f6f8fa; padding: 0 3px; }
"""


def write_report(path: Path | str, **report: Any) -> Path:
    """Write the report page (``render_report``'s keywords) to ``path`` atomically and return the path.

    ``summary["claims"]`` is a list of ``{name, expected, value, verdict, detail?, control?}`` with verdict
    one of ``found``, ``partial``, ``not_found``; other summary keys are shown as a details table.
    ``figures`` are image files (PNG, JPEG, GIF, SVG), embedded. Each row of ``attention_rows``
    is shown side by side (e.g. trained model | construction).
    """
    from ..checkpoint import atomic_write

    page = render_report(**report)
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


def render_report(
    *,
    title: str,
    summary: Mapping[str, Any],
    figures: Sequence[Path | str],
    attention_rows: Sequence[Sequence[AttentionView]],
    notes_markdown: str = "",
) -> str:
    """The report page as an HTML string (see ``write_report``)."""
    details = {k: v for k, v in summary.items() if k != "claims"}
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        claims_html(summary.get("claims", [])),
        details_html(details) if details else "",
        f"<h2>Notes</h2>\n{markdown_html(notes_markdown)}" if notes_markdown.strip() else "",
        figures_html(figures) if figures else "",
        attention_html(attention_rows) if any(attention_rows) else "",
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}{GRID_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --- sections --------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A cell's text: floats to 4 significant digits, containers as compact JSON, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def _cell(value: Any) -> str:
    return f"<td>{html.escape(format_value(value))}</td>"


def claims_html(claims: Sequence[Mapping[str, Any]]) -> str:
    """The claims table with coloured verdicts, under a count of each verdict."""
    for claim in claims:
        if claim.get("verdict") not in VERDICTS:
            raise ValueError(
                f"claim {claim.get('name')!r} has verdict {claim.get('verdict')!r}; use one of {', '.join(VERDICTS)}"
            )
    counts = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {label}" for v, label in VERDICTS.items())
    with_control = any("control" in c for c in claims)

    def control(c: Mapping[str, Any]) -> str:
        if "control" not in c:
            return _cell("")
        return _cell(f"{format_value(c['control']['value'])} ({VERDICTS[c['control']['verdict']]})")

    rows = "\n".join(
        "<tr>"
        + _cell(c.get("name"))
        + _cell(c.get("expected"))
        + _cell(c.get("value"))
        + f'<td class="verdict verdict-{c["verdict"]}">{VERDICTS[c["verdict"]]}</td>'
        + (control(c) if with_control else "")
        + _cell(c.get("detail", ""))
        + "</tr>"
        for c in claims
    )
    control_header = "<th>Random init (control)</th>" if with_control else ""
    return (
        f"<h2>Claims</h2>\n<p>{len(claims)} claims: {counts}.</p>\n"
        "<table class=\"claims\">\n<tr><th>Claim</th><th>Expected</th><th>Measured</th><th>Verdict</th>"
        f"{control_header}<th>Detail</th></tr>\n{rows}\n</table>"
    )


def details_html(details: Mapping[str, Any]) -> str:
    rows = "\n".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in details.items())
    return f'<h2>Run</h2>\n<table class="details">\n{rows}\n</table>'


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML escaped; links and images stay text (an image would be a fetch,
    and an offline page has nowhere to link to)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("js-default").disable(["image", "link", "autolink"]).render(text)


def image_data_uri(path: Path) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot embed figure {path}: use one of {', '.join(IMAGE_TYPES)}")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


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
