"""interp.viz: attention views, circuitsvis props and the offline HTML report (no browser here)."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from interp.models import ModelConfig, build_model
from interp.tasks import make_task
from interp.viz import AttentionView, attention_views, render_report, show_attention, to_props, write_report
from interp.viz.attention import VIEW_CLASS, bundle_js
from interp.viz.figures import draw
from interp.plot import Plot

BUNDLE_MARK = "var CircuitsVis="  # the bundle's one global definition


class Elements(HTMLParser):
    """Every start tag with its (unescaped) attributes, and every script's text."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.in_script = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.scripts.append(data)

    def props(self) -> list[dict]:
        return [json.loads(a["data-props"]) for _, a in self.tags if VIEW_CLASS in a.get("class", "")]


def view(causal: bool = True, tokens: list[str] | None = None, title: str = "layer 0", seed: int = 0) -> AttentionView:
    tokens = tokens or ["a", "b", "c", "d"]
    n = len(tokens)
    scores = torch.randn(2, n, n, generator=torch.Generator().manual_seed(seed))
    if causal:
        scores = scores.masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
    return AttentionView(
        title=title,
        tokens=tokens,
        pattern=scores.softmax(-1),
        head_names=["L0H0", "L0H1"],
        causal=causal,
        relevant=torch.tensor([True] + [False] * (n - 1)),
    )


CLAIMS = [
    {"name": "heads find S", "expected": ">= 0.9", "value": 0.97312, "verdict": "found"},
    {"name": "one head per bit", "expected": 3, "value": 2, "verdict": "partial", "detail": "two heads share a bit"},
    {"name": "frozen control fails", "expected": "< 0.6", "value": None, "verdict": "not_found"},
]


def png(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return path


def report(tmp_path: Path, **changes) -> str:
    args = dict(
        title="parity / run-1",
        summary={"claims": CLAIMS, "task": "parity", "params": {"n": 20, "k": 3}},
        figures=[png(tmp_path / "loss.png")],
        attention_rows=[[view(), view(seed=1)], [view(causal=False), view(causal=False, seed=1)]],
        notes_markdown="Some *notes*.",
    )
    args.update(changes)
    return write_report(tmp_path / "r" / "report.html", **args).read_text(encoding="utf-8")


def test_bundle_inlined_exactly_once(tmp_path):
    page = report(tmp_path)
    assert page.count(BUNDLE_MARK) == 1
    assert bundle_js().count(BUNDLE_MARK) == 1
    parsed = Elements(page)
    assert len(parsed.props()) == 4
    # the bundle, then one call rendering every view
    assert len(parsed.scripts) == 2 and parsed.scripts[0].strip().startswith('"use strict";var CircuitsVis=')


def test_no_external_resources(tmp_path):
    page = report(tmp_path, notes_markdown="![remote](https://example.org/a.png) <img src='http://x/y.png'> [paper](https://arxiv.org)")
    parsed = Elements(page)
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        assert tag != "img" or attrs["src"].startswith("data:image/"), attrs
        assert "src" not in attrs or tag == "img", (tag, attrs)
        assert "href" not in attrs, (tag, attrs)
    assert "unpkg" not in page and "sourceMappingURL" not in page
    csp = [a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]


def test_figures_embedded_as_data_uris(tmp_path):
    import base64

    figure = png(tmp_path / "accuracy curve.png")
    page = report(tmp_path, figures=[figure])
    assert f"data:image/png;base64,{base64.b64encode(figure.read_bytes()).decode()}" in page
    assert "<figcaption>accuracy curve</figcaption>" in page
    with pytest.raises(ValueError, match="cannot embed"):
        report(tmp_path, figures=[tmp_path / "r" / "report.html"])


def test_a_log_plot_whose_series_have_no_value_is_drawn(tmp_path):
    """A width no run reached leaves a series of Nones; on log axes that is an empty plot, not a crash."""
    empty = Plot.lines("widths", "no run got there", [10, 20], {"width": [None, None]}, logx=True, logy=True)
    assert draw(empty, tmp_path).stat().st_size > 0
    some = Plot.lines("widths", "one did", [10, 20], {"width": [None, 8], "other": [None, None]}, logy=True)
    assert draw(some, tmp_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verdicts_rendered_and_checked(tmp_path):
    page = report(tmp_path)
    assert '<td class="verdict verdict-found">found</td>' in page
    assert '<td class="verdict verdict-partial">partial</td>' in page
    assert '<td class="verdict verdict-not_found">not found</td>' in page
    assert "3 claims: 1 found, 1 partial, 1 not found." in page
    assert "<td>0.9731</td>" in page and "<td>two heads share a bit</td>" in page
    bad = [{**CLAIMS[0], "verdict": "maybe"}]
    with pytest.raises(ValueError, match="verdict 'maybe'"):
        report(tmp_path, summary={"claims": bad})


def test_untestable_claims_render_everywhere(tmp_path):
    """A fourth verdict, for claims that cannot be computed on a model: its own class and colour in HTML,
    its word in Markdown and terminal text, counted only when present."""
    from interp.viz.claims import CLAIMS_CSS, claims_markdown, claims_text, show_claims

    claims = CLAIMS + [{"name": "coverage", "expected": "> chance", "value": None, "verdict": "untestable",
                        "detail": "more heads than positions"}]
    page = report(tmp_path, summary={"claims": claims})
    assert '<td class="verdict verdict-untestable">untestable</td>' in page
    assert "4 claims: 1 found, 1 partial, 1 not found, 1 untestable." in page
    assert ".verdict-untestable {" in CLAIMS_CSS
    assert claims_markdown(claims).splitlines()[-1].startswith("| coverage | > chance | — | untestable | more heads")
    assert claims_text(claims).splitlines()[-1] == "  [untestable] coverage: —"
    assert "verdict-untestable" in show_claims(claims)._repr_html_()
    assert "3 claims: 1 found, 1 partial, 1 not found.<" in report(tmp_path)  # not counted when no claim is untestable


def test_text_is_escaped(tmp_path):
    evil = '<script>alert("x")</script>&'
    page = report(
        tmp_path,
        title=evil,
        summary={"claims": [{**CLAIMS[0], "name": evil, "detail": evil}], evil: evil},
        attention_rows=[[view(tokens=[evil, "b", "c"], title=evil)]],
        notes_markdown=evil,
    )
    assert "<script>alert" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") >= 5
    # the token survives the round trip through the escaped attribute
    assert Elements(page).props()[0]["tokens"][0] == evil + "*"


def test_props_round_trip_through_page(tmp_path):
    views = [view(), view(causal=False)]
    page = report(tmp_path, attention_rows=[views])
    assert Elements(page).props() == [to_props(v) for v in views]


def test_props_mask_upper_tri_follows_attention_dir():
    assert to_props(view(causal=True))["maskUpperTri"] is True
    assert to_props(view(causal=False))["maskUpperTri"] is False
    props = to_props(view())
    assert set(props) == {"attention", "tokens", "attentionHeadNames", "maskUpperTri"}
    assert len(props["attention"]) == 2 and len(props["attention"][0]) == 4


def test_relevant_positions_marked_once():
    v = AttentionView("t", ["x0*", "x1", "x2"], torch.full((1, 3, 3), 1 / 3), ["H0"], False, torch.tensor([1, 1, 0]))
    assert v.labels() == ["x0*", "x1*", "x2"]
    assert AttentionView("t", ["a"], torch.ones(1, 1, 1), ["H0"], True).labels() == ["a"]


@pytest.mark.parametrize(
    "pattern, names, relevant, message",
    [
        (torch.ones(3, 3), ["H0"], None, "heads, dest, src"),
        (torch.ones(1, 3, 2), ["H0"], None, "does not match"),
        (torch.ones(2, 3, 3), ["H0"], None, "head names"),
        (torch.ones(1, 3, 3), ["H0"], torch.ones(2), "relevant"),
    ],
)
def test_view_shapes_checked(pattern, names, relevant, message):
    with pytest.raises(ValueError, match=message):
        AttentionView("t", ["a", "b", "c"], pattern, names, True, relevant)


SMALL = dict(n_heads=2, d_model=16, d_head=8, d_mlp=16)


def test_attention_views_from_bidirectional_model():
    task = make_task("parity", n=6, k=2)
    model = build_model(ModelConfig.for_task(task, n_layers=1, attention_dir="bidirectional", **SMALL), seed=0)
    batch = task.sample(3, seed=0)
    views = attention_views(model, task, batch, index=1, title_prefix="trained ")
    assert [v.title for v in views] == ["trained layer 0"]
    (v,) = views
    assert v.causal is False and to_props(v)["maskUpperTri"] is False
    assert v.pattern.shape == (2, task.n_ctx, task.n_ctx)
    assert torch.allclose(v.pattern.sum(-1), torch.ones(2, task.n_ctx), atol=1e-5)
    assert v.relevant.nonzero().flatten().tolist() == list(task.subset)
    assert v.head_names == ["L0H0", "L0H1"]


def test_attention_views_from_causal_model_layers_and_readout():
    task = make_task("counting", L=10, R=2)
    model = build_model(ModelConfig.for_task(task, n_layers=2, attention_dir="causal", **SMALL), seed=0)
    batch = task.sample(2, seed=0)
    n_layers = 2
    views = attention_views(model, task, batch, layers=[n_layers - 1], readout=0)
    assert len(views) == 1 and views[0].title == f"layer {n_layers - 1}"
    assert views[0].causal and to_props(views[0])["maskUpperTri"] is True
    assert torch.equal(views[0].relevant, batch.relevant[0, 0].bool())
    union = attention_views(model, task, batch)
    assert len(union) == n_layers
    assert torch.equal(union[0].relevant, batch.relevant[0].bool().any(0))
    with pytest.raises(ValueError, match="out of range"):
        attention_views(model, task, batch, layers=[n_layers])


def test_show_attention_is_offline_and_unique():
    shown = show_attention([view(), view(causal=False)])
    first, second = shown._repr_html_(), shown._repr_html_()
    for out in (first, second):
        assert out.count(BUNDLE_MARK) == 1 and "unpkg" not in out and "http" not in out.split("<script>")[0]
    ids = lambda out: {a["id"] for _, a in Elements(out).tags if VIEW_CLASS in a.get("class", "")}  # noqa: E731
    assert len(ids(first)) == 2 and not ids(first) & ids(second)
    assert len(Elements(show_attention(view())._repr_html_()).props()) == 1
    assert len(Elements(show_attention([[view()], [view(), view()]])._repr_html_()).props()) == 3


def test_bundle_has_no_closing_script_tag():
    assert "</script" not in bundle_js().lower()


def test_write_is_atomic_and_replaces(tmp_path):
    target = tmp_path / "deep" / "report.html"
    for title in ("first", "second"):
        path = write_report(target, title=title, summary={"claims": []}, figures=[], attention_rows=[])
    assert path == target and "<title>second</title>" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    assert BUNDLE_MARK not in target.read_text()  # nothing to render, so no 1.3 MB bundle


def test_render_report_matches_written_file(tmp_path):
    args = dict(title="t", summary={"claims": CLAIMS}, figures=[], attention_rows=[[view()]])
    assert render_report(**args) == write_report(tmp_path / "report.html", **args).read_text(encoding="utf-8")


# --- reports lead with their answer --------------------------------------------------------------

COUNTS = re.compile(r"(\d+) (?:claim|row)s?: (\d+ [a-z ]+(?:, \d+ [a-z ]+)*)\.")


def opening_counts(text: str, table: str) -> dict[str, int]:
    """The counts sentence a report opens with, as ``{verdict words: n}``, checked to come before ``table``
    and to add up to the total it states."""
    match = COUNTS.search(text)
    assert match and match.start() < text.index(table), text[:400]
    counts = {word: int(n) for n, word in (part.split(" ", 1) for part in match[2].split(", "))}
    assert sum(counts.values()) == int(match[1])
    return counts


def assert_counts_match(counts: dict[str, int], verdicts: list[str], words: dict[str, str]) -> None:
    """The counts shown are those of the verdicts themselves (zeros may be shown; nothing else may be)."""
    assert {w: n for w, n in counts.items() if n} == Counter(words[v] for v in verdicts)


def test_model_report_opens_with_mechanism_and_counts(tmp_path):
    from interp.viz.claims import VERDICTS
    from interp.viz.report import write_model_report

    claims = CLAIMS + [{**CLAIMS[0], "name": "another"}, {**CLAIMS[1], "verdict": "untestable", "name": "coverage"}]
    mechanism = "partly the predicted circuit"
    summary = {"task": "parity", "run": "run-1", "kind": "trained", "checkpoint": "ckpt", "params": {"n": 20},
               "mechanism": mechanism, "circuit_heads": ["L0H1"], "claims": claims, "figures": [],
               "verdicts": {"found": 99}}  # a stale tally handed over: the reports must count the claims instead
    write_model_report(tmp_path, summary, attention_rows=[])
    markdown, page = (tmp_path / "summary.md").read_text(), (tmp_path / "report.html").read_text(encoding="utf-8")
    for text, table, line in ((markdown, "| Claim |", f"**Mechanism:** {mechanism}."),
                              (page, '<table class="claims">', f"<strong>Mechanism:</strong> {mechanism}.")):
        assert text.index(line) < text.index(table)
        assert_counts_match(opening_counts(text, table), [c["verdict"] for c in claims], VERDICTS)
    assert page.count(mechanism) == 1 and "<th>verdicts</th>" not in page  # moved out of the run table, not copied


def test_experiment_report_opens_with_row_counts(tmp_path):
    from interp.viz.experiments import VERDICTS, experiment_text, write_experiment_report

    verdicts = ["reproduced", "partial", "reproduced", "not_reproduced", "reproduced"]
    rows = [{"name": f"row {i}", "reference": {"value": 1.0, "source": "a paper", "kind": "paper"},
             "measured": {"accuracy": 0.9}, "rule": "reproduced if >= 0.9", "verdict": v, "detail": ""}
            for i, v in enumerate(verdicts)]
    summary = {"experiment": "demo", "title": "A demo", "paper": "a paper", "scale": "quick", "options": {},
               "seeds": 2, "device": "cpu", "runs": {"asked": 4, "finished": 4, "failed": 0}, "failures": [],
               "rows": rows, "verdicts": {"reproduced": 0, "partial": 0, "not_reproduced": 9},  # stale, ignored
               "notes": "", "figures": []}
    write_experiment_report(tmp_path, summary)
    markdown, page = (tmp_path / "summary.md").read_text(), (tmp_path / "report.html").read_text(encoding="utf-8")
    assert markdown.splitlines()[2] == "5 rows: 3 reproduced, 1 partial, 1 not reproduced."  # right under the title
    for text, table in ((markdown, "| Row |"), (page, '<table class="rows">'), (experiment_text(summary), "[")):
        assert_counts_match(opening_counts(text, table), verdicts, VERDICTS)
    assert page.index('<div class="lead">') < page.index("Paper:")
