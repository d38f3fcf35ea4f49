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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
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

    # The attention views render offline: the circuitsvis bundle is inlined, nothing is fetched.
    views = [page for page in html_outputs(notebook) if VIEW_CLASS in page]
    assert views, f"{path.name} shows no attention views"
    for page in views:
        assert BUNDLE_MARK in page
        assert "unpkg" not in page and "jsdelivr" not in page
        assert not re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE)
