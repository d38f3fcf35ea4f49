"""Scoring a model on fresh samples of its task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..validation import check_int
from .base import Batch, Task

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

# torch is imported where a model is scored, so that listing the tasks (``interp tasks``) does not load it.

EVAL_SEED = 12345  # fresh samples for `interp eval` and reports; training's held-out set uses its own stream
# Bytes of attention scores and patterns one evaluation chunk may hold. Small enough that two processes
# evaluating long sequences side by side (a sweep's workers) do not fight over memory bandwidth: on the n = 200
# parity construction, 88 MB attention tensors ran 18-30 % slower side by side than alone, the ~20 MB this
# allows 0-5 %.
PATTERN_BUDGET = 2**26


def chunk_size(model: "nn.Module", task: Task, largest: int = 4096) -> int:
    """Examples per forward pass, so that the attention of a long sequence does not exhaust memory."""
    cfg = getattr(model, "cfg", None)
    heads = getattr(cfg, "n_heads", 1) if cfg is not None else 1
    per_example = 3 * 4 * heads * task.seq_len**2  # scores, pattern and a temporary, float32
    return max(1, min(largest, PATTERN_BUDGET // per_example))


def model_device(model: "nn.Module") -> torch.device:
    return next(model.parameters()).device


def evaluate(model: "nn.Module", task: Task, samples: int = 8192, seed: int = EVAL_SEED, chunk: int | None = None) -> dict[str, float]:
    """The task's metrics on ``samples`` fresh examples.

    The examples are drawn at once, run through the model in chunks of ``chunk`` (by default as many as fit
    ``PATTERN_BUDGET``) and scored once over all of them: the chunk size only bounds memory and never changes
    a number (chunks drawn one by one would be other examples, and a mean of chunk means rounds differently
    and weights a ratio such as counting's accuracy over asked queries wrongly).
    """
    import torch

    check_int("samples", samples, 1)
    chunk = chunk_size(model, task) if chunk is None else check_int("chunk", chunk, 1)
    device = model_device(model)
    batch = task.sample(samples, torch.Generator().manual_seed(seed))
    outputs = None
    with torch.no_grad():
        for start in range(0, samples, chunk):
            part = batch[start:start + chunk].to(device)
            logits = task.readout_logits(model(part.inputs), part)
            # One buffer for every chunk's outputs. A small tensor kept from each chunk would sit in the heap above
            # that chunk's freed temporaries, so the next chunk's come from fresh memory above it; a heap that never
            # shrinks (``interp.allocator``, in every experiment worker) then grows with the chunk count: 11 GB
            # instead of 0.8 GB for parity-construction's n = 200 cell at 20,000 samples, which OOM-killed its
            # full-scale sweep on 24 GB.
            if outputs is None:
                outputs = logits.new_empty((samples, *logits.shape[1:]))
            outputs[start:start + len(logits)] = logits
        return task.evaluate(outputs, readout_batch(batch.targets.to(device), readouts=outputs.shape[1]))


def readout_batch(targets: Tensor, readouts: int) -> Batch:
    """A batch whose positions are its readouts, to score outputs kept at the readout positions only
    (``[batch, n_readout, ...]``): ``Task.evaluate`` reads nothing of a batch but its targets and readout."""
    import torch

    n, device = targets.shape[0], targets.device
    return Batch(inputs=torch.zeros(n, 0, dtype=torch.long, device=device), targets=targets,
                 readout=torch.arange(readouts, device=device),
                 relevant=torch.zeros(n, readouts, 0, dtype=torch.bool, device=device))


def reached(task: Task, value: float, target: float | None) -> bool:
    """Whether ``value`` of the task's headline metric meets ``target`` (None: never)."""
    if target is None:
        return False
    return value >= target if task.higher_is_better else value <= target
