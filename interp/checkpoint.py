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

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from . import __version__, limits
from .files import atomic_write, write_json
from .models import ModelConfig, build_model
from .tasks import Task, TaskError, make_task, task_class
from .validation import CheckpointError, check_int

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

FORMAT = "interp-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"



def save_file(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """safetensors' ``save_file``, but an I/O error (a full disk) stays an OSError with its errno: safetensors'
    own writer turns it into a SafetensorError that says only "Error while serializing"."""
    Path(path).write_bytes(safetensors.torch.save(tensors, metadata=metadata))


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Atomically write a safetensors file; returns its SHA-256. An I/O error is ``interp.files.WriteError``."""
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
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
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


# config.json's sections: key -> the JSON types it may hold (None: null allowed).
SECTIONS: dict[str, tuple[type | None, ...]] = {
    "task": (dict,), "model": (dict,), "weights": (dict,),
    "interp_version": (str, None), "seed": (int, None), "train": (dict, None), "construction": (dict, None),
    "residual_labels": (list, None),
}
REQUIRED_SECTIONS = ("task", "model", "weights")
# Model fields that only matter while training; every other field changes what the weights compute.
TRAINING_ONLY_MODEL_FIELDS = ("freeze_attention", "init_mode")
# Model fields added after format version 1 was written; a config without them means their defaults, which
# is what those checkpoints were built with.
ADDED_MODEL_FIELDS = ("architecture", "layer", "bias", "decoder", "decoder_vocab_start", "d_value", "readout")


JSON_TYPES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
              bool: "a boolean"}


def _check_history(history: Any, path: Path) -> None:
    """The training record the analysis plots (``interp.analysis.run.formation_plots``): a list of evaluations, JSON
    objects; those that record the attention on the relevant positions map the same heads to numbers, at a numeric
    step."""
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise CheckpointError(f"{path}: history must be a list of JSON objects, got {_type_name(history)}")
    heads = None
    for entry in history:
        if "attention_on_relevant" not in entry:
            continue
        attention = entry["attention_on_relevant"]
        if not (number(entry.get("step")) and isinstance(attention, dict) and all(map(number, attention.values()))
                and (heads is None or set(attention) == heads)):
            raise CheckpointError(f"{path}: each history entry's attention_on_relevant must map the same heads to "
                                  "numbers, at a numeric step")
        heads = set(attention)


def _type_name(value: Any) -> str:
    return "null" if value is None else JSON_TYPES.get(type(value), type(value).__name__)


def _check_type(where: str, value: Any, allowed: tuple[type | None, ...]) -> None:
    ok = any(value is None if t is None else isinstance(value, t) and not (t is int and isinstance(value, bool))
             for t in allowed)
    if not ok:
        wanted = " or ".join("null" if t is None else JSON_TYPES[t] for t in allowed)
        raise CheckpointError(f"{where} must be {wanted}, got {_type_name(value)}")


def read_config(directory: str | Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, with every section present and of the right type."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    path = directory / CONFIG
    config = read_json(path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an interp checkpoint config (no format: {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{directory} has checkpoint format version {config.get('format_version')!r}; "
            f"this interp reads version {FORMAT_VERSION}"
        )
    for key, allowed in SECTIONS.items():
        if key not in config:
            if key in REQUIRED_SECTIONS:
                raise CheckpointError(f"{path} has no {key!r} section")
            continue
        _check_type(f"{path}: {key}", config[key], allowed)
    for section, key, allowed in (("task", "name", (str,)), ("task", "params", (dict,)),
                                  ("weights", "file", (str,)), ("weights", "sha256", (str,))):
        if key not in config[section]:
            raise CheckpointError(f"{path} has no {section}.{key}")
        _check_type(f"{path}: {section}.{key}", config[section][key], allowed)
    file = config["weights"]["file"]
    if not file or Path(file).name != file or file in (".", ".."):
        raise CheckpointError(f"{path}: weights.file must be a file name in the checkpoint directory, got {file!r}")
    return config


def read_spec(directory: str | Path) -> tuple[dict[str, Any], Task, ModelConfig]:
    """A checkpoint's config, task and model config, checked against each other, without loading weights."""
    directory = Path(directory)
    config = read_config(directory)
    path = directory / CONFIG
    task_section, model_section = config["task"], config["model"]
    try:
        task_fields = [f.name for f in dataclasses.fields(task_class(task_section["name"]))]
        missing = [name for name in task_fields if name not in task_section["params"]]
        if missing:
            raise CheckpointError(f"{path}: task.params lacks {', '.join(missing)}")
        task = make_task(task_section["name"], **task_section["params"])
        model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = sorted(set(model_section) - model_fields)
        missing = sorted(model_fields - set(model_section) - set(TRAINING_ONLY_MODEL_FIELDS)
                         - set(ADDED_MODEL_FIELDS))
        if unknown or missing:
            raise CheckpointError(f"{path}: the model section " + "; ".join(
                part for part in (f"lacks {', '.join(missing)}" if missing else "",
                                  f"has unknown fields {', '.join(unknown)}" if unknown else "") if part))
        model_config = ModelConfig(**model_section)
        for name in ("n_ctx", "d_vocab", "d_vocab_out"):
            check_int(f"model.{name}", getattr(model_config, name), 1)
        model_config.check_fits(task)
    except TaskError as e:
        raise CheckpointError(f"{path} has an invalid task or model section: {e}") from None
    return config, task, model_config


def expected_shapes(model_config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's tensor shapes for ``model_config``, from a model built on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_model(model_config, seed=None, device="meta")
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_weights(path: Path, state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]]) -> None:
    """CheckpointError naming the first tensor of ``state`` that is missing, extra, misshapen or not finite."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = [f"lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}" if missing else "",
                 f"has unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}" if unexpected else ""]
        raise CheckpointError(f"{path} does not fit the model described in {CONFIG}: it "
                              + " and ".join(p for p in parts if p))
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"{path} does not fit the model described in {CONFIG}: {key} has shape "
                                  f"{list(tensor.shape)}, the model needs {list(shape)}")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: {key} holds {tensor.dtype} values, not floating point")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values (a diverged or corrupt run)")


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Load a checkpoint directory; raise CheckpointError with the reason if anything is wrong.

    Nothing is built before the config is checked: the task, the model config and that they fit each
    other, the weights' SHA-256, that the model fits in memory (``interp.limits``), and every tensor's
    name, shape and finiteness.
    """
    directory = Path(directory)
    config, task, model_config = read_spec(directory)
    weights = directory / config["weights"]["file"]
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing")
    try:
        digest = sha256(weights)
    except OSError as e:
        raise CheckpointError(f"{weights} cannot be read: {e.strerror or e}") from None
    if digest != config["weights"]["sha256"]:
        raise CheckpointError(
            f"{weights} does not match the SHA-256 recorded in {CONFIG}: truncated, corrupt or from another run"
        )
    limits.check_model(model_config, f"the model in {directory}")
    state = read_tensors(weights)
    check_weights(weights, state, expected_shapes(model_config))
    model = build_model(model_config, seed=None)
    model.load_state_dict(state, strict=True)
    labels = config.get("residual_labels")
    if labels:
        if not all(isinstance(label, str) for label in labels):
            raise CheckpointError(f"{directory / CONFIG}: residual_labels must be a list of strings")
        model.residual_labels = labels
    if config.get("construction"):
        model.construction = config["construction"]
    metrics_path = directory / METRICS
    metrics = read_json(metrics_path) if metrics_path.exists() else {}
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{metrics_path} must hold a JSON object, got {_type_name(metrics)}")
    _check_history(metrics.get("history", []), metrics_path)
    model.eval()
    return Checkpoint(model, task, model_config, config, metrics, directory)


def load(directory: str | Path) -> tuple["TransformerBridge", Task]:
    """``model, task = interp.load(DIR)``: a trained or constructed model and the task it was made for."""
    ckpt = load_checkpoint(directory)
    return ckpt.model, ckpt.task
