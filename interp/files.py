"""Writing files so that a reader never sees half of one: temporary file, fsync, rename.

Every file the toolkit writes (checkpoints, summaries, reports, experiment results) goes through here, and
so do the checks every writing command makes before it starts: that its output folder can be created
(``check_writable_dir``) and that no other run is writing into it (``exclusive``). An I/O error while
writing (a full disk, a file-size limit) comes out as ``WriteError``, whose message is the one line a user
reads: ``cannot write PATH: No space left on device``.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

LOCK = ".lock"  # in an output folder while a run writes into it; flock'ed, so a killed run leaves it free


class WriteError(OSError):
    """Writing ``path`` failed (the disk is full, a limit was hit, ...); the file there, if any, is untouched."""

    def __init__(self, path: str | Path, error: OSError):
        super().__init__(error.errno, error.strerror or str(error), str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class FolderBusy(BlockingIOError):
    """Another process holds the lock of an output folder (``exclusive``)."""

    def __str__(self) -> str:
        return str(self.strerror)


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)``, then atomically move the finished file to ``path``; returns ``path``.

    The temporary file sits in the target's folder (a rename across file systems is not atomic) and is
    removed if ``write`` fails or the process is interrupted before the rename. An OSError on the way
    becomes ``WriteError`` naming ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shared files unreadable to others
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(path, e) from None
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None, in nested dicts, lists and tuples.

    JSON has no NaN or Infinity: Python writes them by default, but strict readers (browsers' JSON.parse,
    jq, most other languages) refuse the whole file. None reads as "no value", which is what a non-finite
    measurement is.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(value) for value in data]
    return data


def json_text(data: Any, **kwargs: Any) -> str:
    """Strict JSON of ``data`` (``finite``'s None for non-finite floats); ``kwargs`` go to ``json.dumps``."""
    return json.dumps(finite(data), allow_nan=False, **kwargs)


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json_text(data, indent=2) + "\n")


def check_writable_dir(name: str, path: str | Path) -> Path:
    """``path`` if this process can create it (or files in it); else ValueError naming ``name``.

    Called before any work starts, so that a bad ``--out`` fails in a second rather than after training.
    It creates nothing that stays: the nearest existing folder is probed by making (and removing) a
    temporary folder in it, since permission bits say nothing for root, read-only mounts or /proc.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path} exists and is not a directory")
    existing = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{name} {path} cannot be created: {existing} is a file, not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".interp-probe-", dir=existing))
    except OSError as e:
        raise ValueError(f"{name} {path} is not writable (cannot create anything in {existing}: "
                         f"{e.strerror or e})") from None
    return path


@contextmanager
def exclusive(name: str, folder: str | Path) -> Iterator[Path]:
    """Hold output folder ``folder`` (made if missing) for this process alone while the block writes into it.

    A second run that asks for the same folder meanwhile gets ``FolderBusy`` at once. The lock is an
    ``flock`` on ``folder/.lock``, which the kernel releases when its holder dies, so a killed run leaves
    no stale lock; the file itself is removed on the way out, and so are the folders this made if they are
    still empty (a run that failed before writing anything leaves nothing behind).
    """
    folder = Path(folder)
    made = [p for p in (folder, *folder.absolute().parents) if not p.exists()]  # deepest first
    try:
        fd = _lock(name, folder)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        yield folder
    finally:
        with suppress(OSError):
            os.unlink(folder / LOCK)  # while still held: see _lock
        os.close(fd)
        _remove_empty(made)


def _lock(name: str, folder: Path) -> int:
    """Make ``folder`` and return an open descriptor of its lock file, whose flock this process now holds;
    FolderBusy if another process holds it."""
    lock = folder / LOCK
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise WriteError(lock, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(fd)
            raise FolderBusy(e.errno, f"{name} {folder} is in use by another interp run (it holds {lock}); "
                                      f"wait for it to finish or choose another {name}") from None
        # The previous holder removes the file before it lets go: if that happened between our open and our
        # flock, we hold a file no longer at that path, which a third run would not see. Open it afresh then.
        with suppress(FileNotFoundError):
            here, held = os.stat(lock), os.fstat(fd)
            if (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino):
                return fd
        os.close(fd)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: what a run made and wrote nothing into."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (the run wrote something, which stays) or already gone
            break
