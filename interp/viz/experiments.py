"""An experiment's summary as Markdown (``summary.md``), an offline HTML page (``report.html``) and terminal
text: each row's reference (value, source, kind) beside what we measured, the rule and the verdict (an
untested row's detail opens with why it could not be tested)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import write_json, write_text
from ..paths import experiment_subfolder
from .claims import counts_sentence, format_value, tally
from .figures import draw
from .report import figures_html, lead_html, markdown_html, page

VERDICTS = {"reproduced": "reproduced", "partial": "partial", "not_reproduced": "not reproduced", "untested": "untested"}
# Always counted; "untested" is counted only where some row is (as claims' "untestable"), though the README's
# results table always has its column.
CORE_VERDICTS = ("reproduced", "partial", "not_reproduced")
REFERENCE_KINDS = {"paper": "paper", "authors_code": "authors' code", "closed_form": "closed form",
                   "proof": "proof", "reference_run": "reference run"}
COLUMNS = ("Row", "Reference", "Source", "Measured", "Verdict", "Rule", "Detail")
ROWS_CSS = """
.verdict-reproduced { background: #dafbe1; color: #116329; }
.verdict-not_reproduced { background: #ffebe9; color: #a40e26; }
.verdict-untested { background: #eaeef2; color: #59636e; }
.short { color: #a40e26; }
"""


def measured_text(measured: Mapping[str, Any]) -> str:
    """``median [low, high] over n`` for a spread, ``slope [low, high]`` for a fit, else the value(s)."""
    if "median" in measured:
        text = f"{format_value(measured['median'])} [{format_value(measured['low'])}, {format_value(measured['high'])}]"
        text += f" over {measured['n']}"
        return text + (f" ({measured['missing']} never got there)" if measured.get("missing") else "")
    if "slope" in measured:
        return f"slope {format_value(measured['slope'])} [{format_value(measured['low'])}, {format_value(measured['high'])}]"
    return ", ".join(f"{k} {nested_text(v)}" for k, v in measured.items())


def nested_text(value: Any) -> str:
    """A value inside ``measured``: a spread or fit as above, a table by key as ``key: value`` pairs."""
    if isinstance(value, Mapping):
        if "median" in value or "slope" in value:
            return measured_text(value)
        return "{" + ", ".join(f"{k}: {nested_text(v)}" for k, v in value.items()) + "}"
    return format_value(value)


def row_cells(row: Mapping[str, Any]) -> dict[str, str]:
    reference = row["reference"]
    runs = f"{row['runs']}/{row['runs_asked']} runs" if row.get("runs_asked") else ""
    short = " (fewer runs than asked)" if row.get("short_of_runs") else ""
    return {
        "Row": row["name"],
        "Reference": format_value(reference["value"]),
        "Source": f"{reference['source']} ({REFERENCE_KINDS.get(reference['kind'], reference['kind'])})",
        "Measured": measured_text(row["measured"]) + (f"; {runs}{short}" if runs else ""),
        "Verdict": VERDICTS[row["verdict"]],
        "Rule": row["rule"],
        "Detail": row.get("detail", ""),
    }


def rows_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = row_cells(row)
        lines.append("| " + " | ".join(cells[c].replace("|", "\\|").replace("\n", " ") for c in COLUMNS) + " |")
    return "\n".join(lines)


def rows_html(rows: Sequence[Mapping[str, Any]]) -> str:
    body = []
    for row in rows:
        cells = row_cells(row)
        tds = "".join(
            f'<td class="verdict verdict-{row["verdict"]}">{cells[c]}</td>' if c == "Verdict"
            else f'<td{" class=short" if c == "Measured" and row.get("short_of_runs") else ""}>{html.escape(cells[c])}</td>'
            for c in COLUMNS)
        body.append(f"<tr>{tds}</tr>")
    header = "<tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS) + "</tr>"
    return f'<table class="rows">\n{header}\n' + "\n".join(body) + "\n</table>"


def row_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many rows have each verdict, counted from the rows themselves rather than the summary's own tally,
    so a report's counts always agree with its table. Untested only where some row is."""
    return tally([row["verdict"] for row in rows], list(VERDICTS), CORE_VERDICTS)


def counts_line(summary: Mapping[str, Any]) -> str:
    """What an experiment's report opens with: ``N rows: a reproduced, b partial, c not reproduced[, d untested].``"""
    return counts_sentence(row_counts(summary["rows"]), VERDICTS, "row")


def _header_lines(summary: Mapping[str, Any]) -> list[str]:
    """How the rows were measured: paper, scale, options, device, and how many runs finished."""
    runs = summary["runs"]
    return [
        f"Paper: {summary['paper']}. Scale: {summary['scale']} ({summary['seeds']} seeds); options "
        f"`{format_value(summary['options'])}`; device {summary['device']}"
        + (f" ({summary['machine']}), {summary['seconds']:g} s." if summary.get("machine") else "."),
        f"Runs: {runs['finished']} of {runs['asked']} finished" + (f", {runs['failed']} failed" if runs["failed"] else "") + ".",
    ]


CENSUS_LEAD = ("Mechanism census: each trained transformer's status from its task's probes (predicted / partly / "
               "absent), among the seeds that solved the task and among all.")


def census_markdown(entries: Sequence[Mapping[str, Any]]) -> str:
    """The census (``interp.experiments.census``) as a Markdown table; empty where no run recorded one."""
    if not entries:
        return ""

    def statuses(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{status} {n}" for status, n in counts.items() if n) or "-"  # in census's order

    lines = ["| Group | Model | Seeds | Solved | Mechanism of the solving seeds | Mechanism of every seed |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {e['group']} | {e['model']} | {e['seeds']} | {e['solved']} | {statuses(e['among_solved'])} | "
              f"{statuses(e['among_all'])} |" for e in entries]
    return "\n".join(lines)


def experiment_markdown(summary: Mapping[str, Any]) -> str:
    lines = [f"# {summary['experiment']}: {summary['title']}", "", counts_line(summary), "",
             *_header_lines(summary), "", rows_markdown(summary["rows"]), ""]
    if summary.get("census"):
        lines += [CENSUS_LEAD, "", census_markdown(summary["census"]), ""]
    if summary.get("failures"):
        lines += ["Failed runs:", *[f"- {f['group']} seed {f['seed']}: {f['error']}" for f in summary["failures"]], ""]
    if summary.get("notes"):
        lines += [summary["notes"], ""]
    lines += [f"![{name}]({name})" for name in summary["figures"]] + [""]
    return "\n".join(lines)


def experiment_text(summary: Mapping[str, Any]) -> str:
    """What ``interp experiment run`` prints."""
    lines = [f"{summary['experiment']}: {summary['title']}", counts_line(summary), *_header_lines(summary)]
    for row in summary["rows"]:
        cells = row_cells(row)
        lines.append(f"  [{cells['Verdict']:>14}] {cells['Row']}: {cells['Measured']} (reference {cells['Reference']}, "
                     f"{cells['Source']})")
    return "\n".join(lines)


RESULTS_BEGIN, RESULTS_END = "<!-- results table: begin (interp experiment table --readme README.md) -->", "<!-- results table: end -->"


def miss_text(row: Mapping[str, Any]) -> str:
    """A row that did not reproduce (fully), for the README: what was measured against what was expected, or
    for an untested row its detail, which opens with why it could not be tested."""
    cells = row_cells(row)
    said = cells["Detail"] if row["verdict"] == "untested" else f"{cells['Measured']} ({cells['Reference']})"
    return f"{cells['Verdict']}: *{row['name']}*: {said}"


def results_table(summaries: Sequence[Mapping[str, Any]], root: str = "analyses/experiments") -> str:
    """The README's table of every experiment's committed summary: verdict counts (untested always with its
    column), and for each row that did not reproduce (fully), ``miss_text``. A full-scale summary (in ``NAME/full/``)
    says on which device and in how many seconds it ran."""
    lines = ["| experiment | scale | rows | " + " | ".join(VERDICTS.values())
             + " | what did not reproduce: measured (reference), or why untested |",
             "|---|---|---|" + "---|" * len(VERDICTS) + "---|"]
    for summary in summaries:
        counts = row_counts(summary["rows"])
        misses = [miss_text(row) for row in summary["rows"] if row["verdict"] != "reproduced"]
        folder = experiment_subfolder(summary["experiment"], summary["scale"] == "quick")
        link = f"[{summary['experiment']}]({root}/{folder}/summary.md)"
        scale = summary["scale"] + (f" ({summary['device']}, {summary['seconds']:g} s)" if summary["scale"] == "full" else "")
        lines.append(f"| {link} | {scale} | {len(summary['rows'])} | "
                     + " | ".join(str(counts.get(v, 0)) for v in VERDICTS) + " | "
                     + "<br>".join(m.replace("|", "\\|") for m in misses) + " |")
    return "\n".join(lines)


def replace_results_block(text: str, table: str) -> str:
    """``text`` (a README) with the block between the results markers replaced by ``table``."""
    start, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if start < 0 or end < start:
        raise ValueError(f"no results block: the README needs the lines {RESULTS_BEGIN!r} and {RESULTS_END!r}")
    return text[: start + len(RESULTS_BEGIN)] + "\n" + table + "\n" + text[end:]


def write_experiment_report(out: Path, summary: Mapping[str, Any]) -> None:
    """``summary.md`` and the self-contained ``report.html`` of an experiment in ``out``."""
    out = Path(out)
    write_text(out / "summary.md", experiment_markdown(summary))
    failures = "".join(f"<li>{html.escape(f['group'])} seed {f['seed']}: {html.escape(f['error'])}</li>"
                       for f in summary.get("failures", []))
    sections = [
        f"<h1>{html.escape(summary['experiment'])}: {html.escape(summary['title'])}</h1>",
        lead_html([counts_line(summary)]),
        "".join(markdown_html(line) for line in _header_lines(summary)),
        "<h2>Rows</h2>\n" + rows_html(summary["rows"]),
        (f"<h2>Mechanism census</h2>\n{lead_html([CENSUS_LEAD])}{markdown_html(census_markdown(summary['census']))}"
         if summary.get("census") else ""),
        f"<h2>Failed runs</h2><ul>{failures}</ul>" if failures else "",
        f"<h2>Notes</h2>\n{markdown_html(summary['notes'])}" if summary.get("notes") else "",
        figures_html([out / name for name in summary["figures"]]) if summary["figures"] else "",
    ]
    write_text(out / "report.html", page(f"{summary['experiment']}: {summary['title']}", sections, css=ROWS_CSS))


def write_summary(out: Path, experiment: Any, summary: Any, results: Sequence[Any], *, options: dict[str, Any],
                  seeds: int, quick: bool, device: str, seconds: float, machine: str | None = None) -> dict[str, Any]:
    """An experiment's summary (``experiment.summarize``'s rows, plots and notes over ``results``, the runs' records)
    written to ``out``: ``summary.json`` (rows as data), the PNG plots, ``summary.md`` and ``report.html``.
    ``machine``: the hardware behind ``device`` in words (``interp.machine.describe``); summaries written before it
    was recorded have none."""
    figures = [draw(plot, out) for plot in summary.plots]
    failed = [r for r in results if not r.ok]
    rows = [row.to_dict() for row in summary.rows]
    data = {
        "experiment": experiment.name,
        "title": experiment.title,
        "paper": experiment.paper,
        "scale": "quick" if quick else "full",
        "options": options,
        "seeds": seeds,
        "device": device,
        **({"machine": machine} if machine else {}),
        "runs": {"asked": len(results), "finished": len(results) - len(failed), "failed": len(failed)},
        "failures": [{"group": r.group, "seed": r.seed, "error": (r.error or "").splitlines()[0]} for r in failed],
        "rows": rows,
        "verdicts": row_counts(rows),
        "census": summary.census,
        "notes": summary.notes,
        "figures": [path.name for path in figures],
        "seconds": seconds,
    }
    write_json(out / "summary.json", data)
    write_experiment_report(out, data)
    return data
