"""The analyses/ notebooks (jupytext percent-format .py files) run top to bottom.

Each notebook is converted to an .ipynb in a temporary directory and executed with nbclient on a kernel
that runs this interpreter (the project's virtualenv), with the analyses/ folder as working directory,
as a user opening it there would. The executed notebook is left in ``tmp_path`` for inspection.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"
NOTEBOOKS = sorted(p for p in ANALYSES.glob("*.py") if not p.name.startswith("_"))
KERNEL = "interp-notebook-test"
CELL_TIMEOUT = 600  # seconds; a whole notebook takes well under a minute on a free CPU
BUNDLE_MARK = "var CircuitsVis="  # the inlined circuitsvis bundle's one global definition
VIEW_CLASS = "cv-attention"  # the element of each attention view (interp.viz.attention.VIEW_CLASS)


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks (*.py) in {ANALYSES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_percent_text(path):
    """Reviewable text: jupytext reads it, it has prose, every code cell parses, no outputs are stored."""
    notebook = jupytext.read(path)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and "code" in kinds
    for cell in notebook.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)  # raises SyntaxError naming the line
            assert not cell.get("outputs")
    assert any(cell.cell_type == "markdown" and "What was found" in cell.source for cell in notebook.cells)


def kernel_manager(folder: Path) -> AsyncKernelManager:
    """A kernel running ``sys.executable`` (not whatever ``python3`` kernelspec the machine has)."""
    from ipykernel.kernelspec import write_kernel_spec

    write_kernel_spec(folder / KERNEL)
    specs = KernelSpecManager(kernel_dirs=[str(folder)])
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def html_outputs(notebook) -> list[str]:
    return [
        output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]


def execute(path: Path, tmp_path: Path):
    """Run the notebook at ``path`` on this interpreter's kernel (environment inherited); return it executed."""
    notebook = jupytext.read(path)
    # First make sure the kernel is this interpreter, so the notebook sees the project's packages.
    check = f"import os, sys\nassert os.path.realpath(sys.prefix) == {os.path.realpath(sys.prefix)!r}, sys.executable"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(check))
    client = NotebookClient(
        notebook,
        km=kernel_manager(tmp_path / "kernels"),
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(ANALYSES)}},  # the kernel's working directory
    )
    try:
        client.execute()  # raises CellExecutionError with the failing cell's traceback
    finally:
        nbformat.write(notebook, tmp_path / f"{path.stem}.ipynb")

    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    return notebook


def findings(notebook) -> str:
    """The Markdown the "What was found" cell displayed."""
    last = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    return "".join(o["data"]["text/markdown"] for o in last.get("outputs", []) if "text/markdown" in o.get("data", {}))


@pytest.mark.trained
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    notebook = execute(path, tmp_path)
    # "What was found" is computed from the analysis: it opens its list with the mechanism line and its claims
    shown = findings(notebook)
    assert "**Mechanism:**" in shown and ("Holds" in shown or "Missing" in shown), shown

    # The attention views render offline: the circuitsvis bundle is inlined, nothing is fetched.
    views = [page for page in html_outputs(notebook) if VIEW_CLASS in page]
    assert views, f"{path.name} shows no attention views"
    for page in views:
        assert BUNDLE_MARK in page
        assert "unpkg" not in page and "jsdelivr" not in page
        assert not re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE)


@pytest.mark.slow
def test_selection_notebook_runs_on_an_orthonormal_preset_run(tmp_path, monkeypatch):
    """The notebook follows ``INTERP_SELECTION_CHECKPOINT`` to a run with per-example orthonormal codes (no
    positional table, code-block QK), here a tiny one trained on the spot."""
    from interp.defaults import configure
    from interp.training import train

    settings = {"task": {"T": 6, "d": 4, "q": 2, "code_dim": 16}, "model": {"d_model": 48, "d_head": 32},
                "train": {"max_steps": 150, "eval_every": 50, "eval_samples": 256, "batch_size": 64}}
    task, model_cfg, train_cfg = configure("selection", "orthonormal", settings)
    train(task, model_cfg, train_cfg, out=tmp_path / "run", progress=False)
    monkeypatch.setenv("INTERP_SELECTION_CHECKPOINT", str(tmp_path / "run"))
    notebook = execute(ANALYSES / "selection.py", tmp_path)
    shown = findings(notebook)
    assert "positions='orthonormal'" in "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "**Mechanism:**" in shown
