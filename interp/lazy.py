"""Package attributes imported on first use, so that ``interp --help`` and the like never load torch.

A package's ``__init__`` names what it offers and the submodule that defines each one; the submodule is
imported when the attribute is first read (PEP 562), then cached in the package like an eager import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, sources: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose attribute ``name`` lives in ``sources[name]``
    (a submodule relative to the package, e.g. ``".graph"``)."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(sources[name], package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *sources})

    return getattr_, dir_
