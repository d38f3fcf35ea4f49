"""What the verbs make of their options: ``--set`` settings sorted into task, model and training fields, and
output folders checked before any work."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..family import SCOPES
from ..files import check_writable_dir
from ..models import ModelConfig
from ..tasks import task_class
from ..training import TrainConfig
from ..validation import UsageError, shown
from . import parse_value


def writable(flag: str, path: str | Path) -> Path:
    """``path`` if a folder can be made or written there (``interp.files.check_writable_dir``), else UsageError.

    Every command that writes calls it before any work, and then writes inside ``interp.files.exclusive``."""
    try:
        return check_writable_dir(flag, path)
    except ValueError as e:
        raise UsageError(str(e)) from None


def split_settings(task_name: str, settings: list[str]) -> dict[str, dict[str, Any]]:
    """Sort ``key=value`` settings into task, model and training overrides."""
    fields = {
        "task": {f.name for f in dataclasses.fields(task_class(task_name))},
        "model": {f.name for f in dataclasses.fields(ModelConfig)},
        "train": {f.name for f in dataclasses.fields(TrainConfig)},
    }
    out: dict[str, dict[str, Any]] = {scope: {} for scope in SCOPES}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {shown(item)}")
        scope, dot, name = key.partition(".")
        if dot and scope in SCOPES:
            if name not in fields[scope]:
                raise UsageError(f"unknown {scope} parameter {shown(name)}; known: {', '.join(sorted(fields[scope]))}")
            scopes = [scope]
        else:
            name = key
            scopes = [s for s in SCOPES if name in fields[s]]
            if not scopes:
                known = sorted(set().union(*fields.values()))
                raise UsageError(f"unknown parameter {shown(name)} for task {task_name}; known: {', '.join(known)}")
            if len(scopes) > 1:
                raise UsageError(f"{name!r} is ambiguous ({', '.join(scopes)}); write e.g. {scopes[0]}.{name}=...")
        out[scopes[0]][name] = parse_value(value)
    return out
