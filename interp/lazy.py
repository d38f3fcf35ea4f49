"""Imports on first use, so that ``interp --help``, ``interp tasks`` and the like never load torch.

A package's ``__init__`` names what it offers and the submodule that defines each one; the submodule is
imported when the attribute is first read (PEP 562), then cached in the package like an eager import
(``lazy_exports``). A declaration that names a function from a module it must not import yet (a task family's
probes and constructions) holds a ``lazy_function``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cached_property
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


class LazyFunction:
    """A function that ``load()`` imports and returns on first use: a call, or a look at its signature
    (``inspect.signature`` follows ``__wrapped__``). Made with ``lazy_function``."""

    def __init__(self, load: Callable[[], Callable[..., Any]]) -> None:
        self._load = load
        self.__name__, self.__qualname__, self.__module__ = load.__name__, load.__qualname__, load.__module__

    @cached_property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._load()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __reduce__(self) -> str:
        return self.__qualname__  # pickled as the module attribute it is

    def __repr__(self) -> str:
        return f"<lazy function {self.__module__}.{self.__qualname__}>"


def lazy_function(load: Callable[[], Callable[..., Any]]) -> LazyFunction:
    """Decorate a loader named after the function it returns; its import runs on the function's first use::

        @lazy_function
        def analyze():
            from ..analysis.parity import analyze
            return analyze
    """
    return LazyFunction(load)
