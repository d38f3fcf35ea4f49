"""Writing files so that a reader never sees half of one: temporary file, fsync, rename.

Every file the toolkit writes (checkpoints, summaries, reports, experiment results) goes through here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)``, then atomically move the finished file to ``path``; returns ``path``.

    The temporary file sits in the target's folder (a rename across file systems is not atomic) and is
    removed if ``write`` fails or the process is interrupted before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shared files unreadable to others
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")


def check_writable_dir(name: str, path: str | Path) -> Path:
    """``path`` as a folder this process can create files in (made if missing); else ValueError naming ``name``.

    Called before any work starts, so that a bad ``--out`` fails in a second rather than after training.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path} exists and is not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{name} {path} cannot be created: {existing} is a file, not a directory")
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path} is not writable (no permission to create files in {existing})")
    return path
