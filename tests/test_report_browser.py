"""Reports render in headless Chromium with the network off, and fetch nothing.

Checks a report made here from synthetic data, and every ``analyses/reports/<task>/<run>/report.html``
that ``make analyze`` left in the repo. For each: every circuitsvis attention view rendered (its
element has content, a chart canvas and a non-zero size), the page raised no error, every request
was file:/data:/blob:, and ``screenshot.png`` is saved next to the report.

Needs Debian's ``chromium`` (``make install``) and the ``playwright`` package, whose driver ships in
its wheel (its own browser download is never used). Without them the tests fail, unless
``INTERP_ALLOW_NO_BROWSER=1`` turns that into a skip. ``INTERP_CHROMIUM`` overrides the binary.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from interp.paths import REPORTS
from interp.viz import AttentionView, write_report
from interp.viz.attention import VIEW_CLASS

pytestmark = pytest.mark.slow

EXISTING = sorted(REPORTS.glob("*/*/report.html"))  # what `make analyze` wrote here
LOCAL_SCHEMES = ("file:", "data:", "blob:")
SKIP_VAR = "INTERP_ALLOW_NO_BROWSER"
RENDER_TIMEOUT_MS = 8000  # rendering takes ~1.5 s here; the margin is for a loaded CI machine
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # even a browser-level request cannot resolve a host
]

# Every view element has rendered content with a drawn chart and a size.
RENDERED = f"""() => {{
    const views = [...document.querySelectorAll('.{VIEW_CLASS}')];
    return views.length > 0 && views.every(v => {{
        const box = v.getBoundingClientRect();
        const canvas = v.querySelector('canvas');
        return box.width > 0 && box.height > 0 && canvas && canvas.width > 0 && canvas.height > 0;
    }});
}}"""


def unavailable(reason: str) -> None:
    message = f"{reason}. Run `make install` (apt: chromium; pip: playwright), or set {SKIP_VAR}=1 to skip."
    if os.environ.get(SKIP_VAR):
        pytest.skip(message)
    pytest.fail(message)


def chromium_path() -> str | None:
    return os.environ.get("INTERP_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    executable = chromium_path()
    if not executable:
        unavailable("Chromium is not installed (no `chromium` on PATH)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def check_report(browser, report: Path) -> Path:
    """Open ``report`` offline, assert it rendered and fetched nothing; return its screenshot."""
    from playwright.sync_api import Error as PlaywrightError

    expected_views = len(re.findall(rf'class="{VIEW_CLASS}"', report.read_text(encoding="utf-8")))
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    # a blocked load shows up only as a console error (CSP) or a page error, never as a request
    context.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    rendered = ""
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(report.resolve().as_uri(), wait_until="load", timeout=RENDER_TIMEOUT_MS)
        try:
            page.wait_for_function(RENDERED, timeout=RENDER_TIMEOUT_MS)
        except PlaywrightError as e:
            rendered = str(e).splitlines()[0]
        boxes = [el.bounding_box() for el in page.query_selector_all(f".{VIEW_CLASS}")]
        screenshot = report.with_name("screenshot.png")
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    # the cause first: a page that fetched or failed also never renders
    leaked = [url for url in requests if not url.startswith(LOCAL_SCHEMES)]
    assert not leaked, f"{report} requested {leaked}"
    assert not problems, problems
    assert not rendered, f"attention views in {report} did not render: {rendered}"
    assert expected_views > 0, f"{report} has no attention view"
    assert len(boxes) == expected_views
    assert all(b and b["width"] > 0 and b["height"] > 0 for b in boxes), boxes
    assert report.resolve().as_uri() in requests
    assert screenshot.stat().st_size > 0
    return screenshot


def synthetic_views(n: int, causal: bool, seed: int) -> list[AttentionView]:
    """A [trained | construction] pair on ``n`` positions: random vs. one-hot attention."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(n, n).triu(1).bool() if causal else torch.zeros(n, n).bool()
    random = torch.randn(2, n, n, generator=g).masked_fill(mask, float("-inf")).softmax(-1)
    sharp = torch.zeros(2, n, n)
    sharp[:, :, 0] = 1.0
    tokens = [f"t{i}" for i in range(n)]
    relevant = torch.arange(n) % 3 == 0
    return [
        AttentionView(f"{name} ({'causal' if causal else 'bidirectional'})", tokens, pattern, ["L0H0", "L0H1"], causal, relevant)
        for name, pattern in (("trained", random), ("construction", sharp))
    ]


def test_fresh_report_renders_offline(tmp_path, browser):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([3, 1, 0.5, 0.2])
    fig.savefig(tmp_path / "loss.png")
    plt.close(fig)
    report = write_report(
        tmp_path / "parity" / "run" / "report.html",
        title="synthetic <report>",
        summary={"claims": [{"name": "c", "expected": 1, "value": 0.5, "verdict": "partial"}]},
        figures=[tmp_path / "loss.png"],
        attention_rows=[synthetic_views(8, causal=False, seed=0), synthetic_views(6, causal=True, seed=1)],
        notes_markdown="Synthetic.",
    )
    screenshot = check_report(browser, report)
    assert screenshot == report.parent / "screenshot.png"


@pytest.mark.trained
@pytest.mark.parametrize("report", EXISTING, ids=[str(p.relative_to(REPORTS).parent) for p in EXISTING])
def test_existing_report_renders_offline(report, browser):
    check_report(browser, report)


@pytest.mark.trained
@pytest.mark.parametrize("name", ["parity", "selection", "counting"])
def test_shipped_model_report_renders_offline(name, shipped_reports, browser):
    """The reports `make analyze` writes for the shipped models, generated afresh here."""
    _, directory = shipped_reports[name]
    assert check_report(browser, directory / "report.html").exists()
