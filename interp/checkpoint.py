"""Checkpoints: a directory with ``model.safetensors``, ``config.json`` and ``metrics.json``.

Every file is written atomically (temporary file, fsync, rename) and ``config.json`` is written last,
holding the SHA-256 of the weights it describes, so a reader never sees a half-written or mismatched
checkpoint. Loading never unpickles: weights come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from . import __version__
from .files import atomic_write, write_json
from .models import ModelConfig, build_model
from .tasks import Task, TaskError, make_task

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

FORMAT = "interp-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or not an interp checkpoint."""


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Atomically write a safetensors file; returns its SHA-256."""
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return sha256(path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    return read_tensors_and_metadata(path)[0]


def read_tensors_and_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A safetensors file's tensors and its string metadata; CheckpointError if it cannot be read."""
    try:
        with safe_open(str(path), "pt") as f:
            return {key: f.get_tensor(key) for key in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file (truncated or corrupt): {e}") from None


def read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON (truncated or corrupt): {e}") from None


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, its task and what the files say about it."""

    model: "TransformerBridge"
    task: Task
    model_config: ModelConfig
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save(
    directory: str | Path,
    model: "TransformerBridge",
    task: Task,
    *,
    seed: int | None = None,
    train: dict[str, Any] | None = None,
    construction: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (built by ``interp.models.build_model``) and its task as a checkpoint."""
    directory = Path(directory)
    model_config: ModelConfig = model.interp_config
    digest = write_tensors(directory / WEIGHTS, model.state_dict())
    write_json(directory / METRICS, metrics or {})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "interp_version": __version__,
        "task": {"name": task.name, "params": task.params()},
        "model": dataclasses.asdict(model_config),
        "seed": seed,
        "train": train,
        "construction": construction,
        "residual_labels": getattr(model, "residual_labels", None),
        "weights": {"file": WEIGHTS, "sha256": digest},
    }
    write_json(directory / CONFIG, config)
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    config = read_json(directory / CONFIG)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory / CONFIG} is not an interp checkpoint config (no format: {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{directory} has checkpoint format version {config.get('format_version')!r}; "
            f"this interp reads version {FORMAT_VERSION}"
        )
    return config


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Load a checkpoint directory; raise CheckpointError with the reason if anything is wrong."""
    directory = Path(directory)
    config = read_config(directory)
    try:
        task = make_task(config["task"]["name"], **config["task"]["params"])
        model_config = ModelConfig(**config["model"])
    except (KeyError, TypeError, TaskError) as e:
        raise CheckpointError(f"{directory / CONFIG} has an invalid task or model section: {e}") from None
    weights = directory / config["weights"]["file"]
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing")
    if sha256(weights) != config["weights"]["sha256"]:
        raise CheckpointError(
            f"{weights} does not match the SHA-256 recorded in {CONFIG}: truncated, corrupt or from another run"
        )
    state = read_tensors(weights)
    model = build_model(model_config, seed=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights} does not fit the model described in {CONFIG}: {e}") from None
    if config.get("residual_labels"):
        model.residual_labels = config["residual_labels"]
    if config.get("construction"):
        model.construction = config["construction"]
    metrics_path = directory / METRICS
    metrics = read_json(metrics_path) if metrics_path.exists() else {}
    model.eval()
    return Checkpoint(model, task, model_config, config, metrics, directory)


def load(directory: str | Path) -> tuple["TransformerBridge", Task]:
    """``model, task = interp.load(DIR)``: a trained or constructed model and the task it was made for."""
    ckpt = load_checkpoint(directory)
    return ckpt.model, ckpt.task
