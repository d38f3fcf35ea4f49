"""The training loop (the package docstring says what it does): ``train`` and the pieces it is made of."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from .. import checkpoint
from ..files import json_text
from ..models import ModelConfig, build_model, trainable_parameters
from ..models.fast import training_forward
from ..models.readout import FORMATION_SAMPLES, attention_on_relevant
from ..naming import head_label
from ..tasks import Task, reached
from .config import TrainConfig, check_loss

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

RESUME = "resume.safetensors"
EVAL_SEED_OFFSET = 1_000_003  # held-out data never shares a stream with training batches
TRAIN_SET_SEED_OFFSET = 2_000_003


class TrainingDiverged(ArithmeticError):
    """A training step's loss or gradient norm (or the weights) became NaN or infinite; the message says which
    and at which step."""


@dataclass
class TrainResult:
    model: "TransformerBridge"
    metrics: dict[str, Any]


def make_optimizer(params: list[torch.nn.Parameter], train_cfg: TrainConfig) -> torch.optim.AdamW:
    """The optimizer of every ``interp train`` run: AdamW with the multi-tensor (foreach) update, one kernel per
    step for all parameters instead of one per tensor; its elementwise arithmetic is the per-tensor loop's, so
    the weights come out bit-identical, sooner."""
    return torch.optim.AdamW(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                             betas=(train_cfg.beta1, train_cfg.beta2), foreach=True)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors = {}
    for index, slot in state["state"].items():
        for key, value in slot.items():
            tensors[f"optimizer.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            slots.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})


def run_identity(task: Task, model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict[str, Any]:
    """Everything that determines a run's weights, JSON-ready."""
    return {
        "task": {"name": task.name, "params": task.params()},
        "model": dataclasses.asdict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
    }


def _check_step(step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
    """TrainingDiverged if step ``step``'s loss or total gradient norm is NaN or infinite (the loss first: a
    non-finite loss makes the gradients non-finite too, and is the cause to name)."""
    values = torch.stack([loss.detach().float(), grad_norm.to(loss.device).float()]).tolist()  # one device sync
    for quantity, value in zip(("loss", "gradient norm"), values):
        if not math.isfinite(value):
            raise TrainingDiverged(f"training diverged: {quantity} is {value} at step {step}")


def _check_weights(step: int, params: list[torch.nn.Parameter]) -> None:
    """TrainingDiverged if a weight is NaN or infinite after step ``step`` (a finite step can overflow them):
    called before anything is saved, so no checkpoint or resume state ever holds such weights."""
    if not all(bool(torch.isfinite(p).all()) for p in params):
        raise TrainingDiverged(f"training diverged: the weights are not finite after step {step}")


def make_plateau(optimizer: torch.optim.Optimizer, train_cfg: TrainConfig) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """``lr_schedule="plateau"``'s scheduler: PyTorch's ReduceLROnPlateau in mode ``min`` (relative threshold 1e-4,
    no cooldown), stepped with each epoch's summed training loss."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", patience=train_cfg.plateau_patience,
                                                      factor=train_cfg.plateau_factor, min_lr=train_cfg.plateau_min_lr)


def _scheduler_state(scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in scheduler.state_dict().items()}


def _load_scheduler(scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, state: dict[str, Any]) -> None:
    """The inverse of ``_scheduler_state`` (JSON holds no infinity: ``best`` and ``mode_worse`` start at inf)."""
    scheduler.load_state_dict({k: (math.inf if v is None and k in ("best", "mode_worse") else v)
                               for k, v in state.items()})


def _restore(path: Path, identity: dict[str, Any], model: "TransformerBridge", optimizer: torch.optim.Optimizer,
             data: torch.Generator, device: str, scheduler=None) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Load the resume state at ``path`` into ``model``, ``optimizer`` and ``data``; returns its step and history.

    CheckpointError if the file is truncated or damaged, or was written by a run with other settings."""
    tensors, metadata = checkpoint.read_tensors_and_metadata(path)
    try:
        meta = json.loads(metadata["state"])
        written_by = meta["identity"]
    except (KeyError, TypeError, ValueError):
        raise checkpoint.CheckpointError(f"{path} holds no interp training state") from None
    if written_by != identity:
        raise checkpoint.CheckpointError(
            f"{path} was written by a run with another task, model or training config; "
            "resume with the same settings or start afresh without --resume"
        )
    try:
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        _load_optimizer(optimizer, {k: v.to(device) for k, v in tensors.items()}, meta)
        data.set_state(tensors["data_rng"])
        if scheduler is not None:
            _load_scheduler(scheduler, meta["scheduler"])
        epoch = {"loss": float(meta.get("epoch_loss", 0.0)), "order": tensors.get("epoch_order")}
        return int(meta["step"]), list(meta["history"]), epoch
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise checkpoint.CheckpointError(f"{path} holds a damaged training state ({type(e).__name__}: {e}); "
                                         "start afresh without --resume") from None


def squared_mean_hinge(task: Task, logits: torch.Tensor, batch) -> torch.Tensor:
    """Han & Ghoshdastidar's loss, ``(mean_b max(0, 1 - d_b (2 y_b - 1)))^2``, on the logit difference
    ``d = logit[1] - logit[0]`` at the readout (for the pointer model ``d = 2 s - 1``, their margin)."""
    out = task.readout_logits(logits, batch)[:, 0]
    margin = (out[:, 1] - out[:, 0]) * (2 * batch.targets.to(out.dtype) - 1)
    return torch.relu(1 - margin).mean().pow(2)


def _held_out(model: "TransformerBridge", task: Task, batch) -> dict[str, Any]:
    with torch.no_grad():
        metrics = task.evaluate(model(batch.inputs), batch)
    mass = attention_on_relevant(model, batch[:FORMATION_SAMPLES])
    heads = {head_label(layer, head): round(float(mass[layer, head]), 6)
             for layer in range(mass.shape[0]) for head in range(mass.shape[1])}
    return {**metrics, "attention_on_relevant": heads}


def train(
    task: Task,
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainConfig | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> TrainResult:
    """Train a model on ``task``; write a checkpoint to ``out`` (if given) and return it.

    Data is always drawn on the CPU from the run's seed, so a run sees the same batches on any device.
    Raises ``TrainingDiverged`` at the first non-finite step (see the module's docstring), CheckpointError
    if ``resume`` finds no usable state, and ``interp.files.WriteError`` if a file cannot be written.
    """
    model_cfg = model_cfg or ModelConfig.for_task(task)
    train_cfg = train_cfg or TrainConfig.for_task(task)
    model_cfg.check_fits(task)
    check_loss(task, train_cfg)
    model = build_model(model_cfg, seed=train_cfg.seed, device=device)
    params = trainable_parameters(model)
    optimizer = make_optimizer(params, train_cfg)
    scheduler = make_plateau(optimizer, train_cfg) if train_cfg.lr_schedule == "plateau" else None
    per_epoch = train_cfg.steps_per_epoch
    # The epoch under way: its summed training loss (the plateau schedule's metric) and, for train_order="epochs",
    # the permutation of the training set it reads.
    epoch: dict[str, Any] = {"loss": 0.0, "order": None}
    data = torch.Generator().manual_seed(train_cfg.seed)
    eval_batch = task.sample(train_cfg.eval_samples, train_cfg.seed + EVAL_SEED_OFFSET).to(device)
    train_set = (
        task.sample(train_cfg.train_size, train_cfg.seed + TRAIN_SET_SEED_OFFSET).to(device) if train_cfg.train_size else None
    )
    identity = run_identity(task, model_cfg, train_cfg)
    history: list[dict[str, Any]] = []
    step = 0
    out = Path(out) if out is not None else None

    if resume:
        if out is None or not (out / RESUME).is_file():
            raise checkpoint.CheckpointError(f"--resume: no {RESUME} in {out}; nothing to resume")
        step, history, epoch = _restore(out / RESUME, identity, model, optimizer, data, device, scheduler)

    def save_resume() -> None:
        _check_weights(step, params)
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt_tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
        tensors["data_rng"] = data.get_state()
        if epoch["order"] is not None:
            tensors["epoch_order"] = epoch["order"]
        meta = {"identity": identity, "step": step, "history": history, **opt_meta, "epoch_loss": epoch["loss"]}
        if scheduler is not None:
            meta["scheduler"] = _scheduler_state(scheduler)
        checkpoint.write_tensors(out / RESUME, {k: v.cpu() for k, v in tensors.items()},
                                 metadata={"state": json_text(meta)})

    metric = task.metric
    with tqdm(total=train_cfg.max_steps, initial=step, desc=f"train {task.name}", disable=not progress,
              dynamic_ncols=True) as bar:
        stopped_early = bool(history) and reached(task, history[-1][metric], train_cfg.target)
        model.train()
        while step < train_cfg.max_steps and not stopped_early:
            if train_set is None:
                batch = task.sample(train_cfg.batch_size, data).to(device)
            elif train_cfg.full_batch:
                batch = train_set
            elif train_cfg.train_order == "epochs":
                within = step % per_epoch
                if within == 0 or epoch["order"] is None:
                    epoch["order"] = torch.randperm(len(train_set), generator=data)
                idx = epoch["order"][within * train_cfg.batch_size:(within + 1) * train_cfg.batch_size]
                batch = train_set[idx.to(device)]
            else:
                idx = torch.randint(0, len(train_set), (train_cfg.batch_size,), generator=data)
                batch = train_set[idx.to(device)]
            if scheduler is None:
                for group in optimizer.param_groups:
                    group["lr"] = train_cfg.lr_at(step)
            logits = training_forward(model, batch.inputs)
            loss = task.loss(logits, batch) if train_cfg.loss == "task" else squared_mean_hinge(task, logits, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Clipping computes the total gradient norm anyway; without clipping it is computed to be checked.
            if train_cfg.grad_clip:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, train_cfg.grad_clip)
            else:
                grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            _check_step(step + 1, loss, grad_norm)
            optimizer.step()
            step += 1
            bar.update(1)
            if scheduler is not None:
                epoch["loss"] += loss.item()
                if step % per_epoch == 0:
                    scheduler.step(epoch["loss"])
                    epoch["loss"] = 0.0
            if step % train_cfg.eval_every == 0 or step == train_cfg.max_steps:
                model.eval()
                held_out = _held_out(model, task, eval_batch)
                model.train()
                lr = {"lr": optimizer.param_groups[0]["lr"]} if scheduler is not None else {}
                history.append({"step": step, "train_loss": loss.item(), **lr, **held_out})
                bar.set_postfix({"loss": f"{loss.item():.4f}", f"held-out {metric}": f"{held_out[metric]:.4f}"})
                stopped_early = reached(task, held_out[metric], train_cfg.target)
            if out is not None and step % train_cfg.checkpoint_every == 0 and not stopped_early:
                save_resume()
    model.eval()
    _check_weights(step, params)  # a last step can overflow the weights with a finite loss and gradient

    metrics = {"steps": step, "stopped_early": stopped_early, "final": history[-1] if history else {}, "history": history}
    if out is not None:
        checkpoint.save(out, model, task, seed=train_cfg.seed, train=dataclasses.asdict(train_cfg), metrics=metrics)
        (out / RESUME).unlink(missing_ok=True)
    return TrainResult(model, metrics)


__all__ = ["EVAL_SEED_OFFSET", "RESUME", "TRAIN_SET_SEED_OFFSET", "TrainResult", "TrainingDiverged", "make_optimizer",
           "make_plateau", "run_identity", "squared_mean_hinge", "train"]
