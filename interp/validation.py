"""Checks of configuration values, and the errors they raise: one place, importing nothing heavy.

Every configuration error is a ``ConfigError``, each kind its subclass here: ``TaskError`` for a task, model,
training or experiment parameter (``MemoryLimitError`` when the configuration needs more memory than the
machine has), ``UsageError`` for a command-line value, ``CheckpointError`` for a damaged or foreign
checkpoint, ``FamilyError`` for a task family declared incompletely or that cannot be loaded. The command
line turns any of them into one line and exit status 2.
"""

from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A value given to the toolkit is invalid; the message names it."""


class TaskError(ConfigError):
    """A task, model or training parameter is invalid. The message names the parameter."""


class UsageError(ConfigError):
    """A command-line value is invalid; the message names it."""


class MemoryLimitError(TaskError):
    """A configuration needs more memory than the machine has."""


class CheckpointError(ConfigError):
    """A checkpoint is missing, truncated, corrupt or not an interp checkpoint."""


class FamilyError(ConfigError):
    """A family is declared incompletely or inconsistently, or could not be loaded."""


MAX_SEED = 2**32 - 1
# Longest sequence a task may ask for. Far beyond any machine's memory for attention (interp.limits
# refuses long before), it only keeps a task's own set-up (parity draws a permutation of n) cheap.
MAX_LENGTH = 1 << 24


def shown(value: Any, width: int = 80) -> str:
    """``repr(value)`` for an error message: at most ``width`` characters, one line."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<an integer of {value.bit_length()} bits>"
    return text if len(text) <= width else text[: width - 3] + "..."


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int in ``[low, high]``; otherwise raise a TaskError naming ``name``."""
    allowed = f"[{low}, {high}]" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaskError(f"{name} must be an integer {allowed}, got {shown(value)}")
    if value < low or (high is not None and value > high):
        raise TaskError(f"{name} must be in {allowed}, got {shown(value)}")
    return value


def check_float(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` if it is a finite number (not a bool) in the range; otherwise a TaskError naming ``name``.

    ``low``/``high`` bound the range (None: unbounded), closed unless ``low_open``/``high_open``.
    """
    if low is not None and high is not None:
        allowed = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low}"
    else:
        allowed = "" if high is None else f"{'<' if high_open else '<='} {high}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise TaskError(f"{name} must be a finite number {allowed}".rstrip() + f", got {shown(value)}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise TaskError(f"{name} must be {allowed}, got {shown(value)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TaskError(f"{name} must be true or false, got {shown(value)}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise TaskError(f"{name} must be one of {', '.join(choices)}; got {shown(value)}")
    return value


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in ``[0, MAX_SEED]`` (torch generators take 64 bits; offsets are added to seeds)."""
    return check_int(name, value, 0, MAX_SEED)


def check_length(name: str, value: Any, low: int = 1) -> int:
    """A sequence length or position count: an integer in ``[low, MAX_LENGTH]``."""
    return check_int(name, value, low, MAX_LENGTH)
