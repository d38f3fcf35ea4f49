"""How much memory a run will need, estimated from its configs before anything is allocated.

A configuration beyond the machine (``selection`` with ``T=100000``: one attention pattern alone is
``batch x heads x T^2`` floats) is refused up front with the estimate and the limit, instead of being
killed by the kernel half-way. The estimates count what dominates a run's peak, each term a closed form
in the configs:

- the model: parameters (float32) and the causal-mask buffer every layer keeps (``n_ctx^2`` bools);
- training: gradients and AdamW's two moments (3 more copies of the trainable parameters), the activations
  a step keeps for backward (per layer q, k, v, z, the residual stream, the MLP and two
  ``[batch, heads, pos, pos]`` attention tensors), the gradients in flight during backward, the
  held-out batch and its evaluation (a plain forward, plus ``run_with_cache`` on its first 512
  examples), a finite training set, and the sampler's temporaries;
- evaluation: the model, the fresh samples, a chunk's copy and forward pass, and the outputs at the readouts
  of all samples; analysis: the model, the samples and a cached forward pass.

It estimates the growth of the process over its state just before the run, not the interpreter and
libraries. Before the ``SLACK`` factor, against the real peak resident growth it came out 0.99-1.6x for
training runs, 1.0-2.2x for evaluation and 1.4-2.3x for analysis; with it, it errs high, never low, and
``tests/test_cli.py`` measures training runs against it (within [1, 2.5]).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from .family import family_of
from .models.config import hooked_parameter_count, pointer_parameter_count
from .tasks.evaluation import chunk_size
from .validation import MemoryLimitError

if TYPE_CHECKING:
    from .models import ModelConfig
    from .tasks import Task
    from .training import TrainConfig

# The model modules that load torch are imported where they are used: the command line's text (interp.viz.text)
# reads this module, and interp tasks must not load torch.

FLOAT = 4  # float32
LONG = 8  # token ids, indices
GIB = 1 << 30
# The allocator's fragmentation and temporaries no term counts: measured peaks ran up to 1.03x the raw
# estimate, and the estimate must never be low.
SLACK = 1.25
ANALYSIS_SAMPLES = 2048  # interp.analysis.run.analyze_checkpoint's default



def parameter_count(cfg: "ModelConfig") -> int:
    """Parameters of ``build_model(cfg)``, trainable or not (the state dict's entries)."""
    if cfg.architecture == "hooked":
        return hooked_parameter_count(cfg)
    if cfg.architecture == "encoder-decoder":
        from .models.encoder_decoder import parameter_count

        return parameter_count(cfg)
    if cfg.architecture == "pointer":
        return pointer_parameter_count(cfg)
    d, width = cfg.d_model, cfg.n_heads * cfg.d_head
    norm = {"none": 0, "LN": 2 * d, "RMS": d}[cfg.normalization_type]
    attention = 4 * d * width + 3 * width + d  # W_Q, W_K, W_V, W_O and their biases
    mlp = 2 * d * cfg.d_mlp + cfg.d_mlp + d if cfg.d_mlp else 0
    block = norm + attention + (norm + mlp if cfg.d_mlp else 0)
    positional = cfg.n_ctx * d if cfg.positional != "rotary" else 0
    unembed = d * cfg.d_vocab_out + cfg.d_vocab_out
    return cfg.d_vocab * d + positional + cfg.n_layers * block + norm + unembed


def model_bytes(cfg: "ModelConfig") -> int:
    """Parameters plus buffers: each layer's ``[n_ctx, n_ctx]`` bool causal mask, rotary tables."""
    rotary = 2 * cfg.n_ctx * cfg.d_head * FLOAT if cfg.positional == "rotary" else 0
    return FLOAT * parameter_count(cfg) + cfg.n_layers * cfg.n_ctx**2 + rotary


def readouts(task: "Task") -> int:
    """Answer positions per example, as the task's family declares them (counting: one per region)."""
    return family_of(task.name).readouts(task)


def batch_bytes(task: "Task", n: int) -> int:
    """A sampled batch of ``n`` examples held in memory: inputs, targets, ``relevant`` and ``info``."""
    S = task.seq_len
    inputs = n * S * (task.d_vocab * FLOAT if task.input_kind == "features" else LONG)
    # ``info`` repeats the inputs' order of size (contents, codes, region ids); relevant is bool.
    return 2 * inputs + n * readouts(task) * S


def sampling_bytes(task: "Task", n: int) -> int:
    """The sampler's peak while drawing ``n`` examples: the batch and its temporaries."""
    return 2 * batch_bytes(task, n)


def _floats_per_example(task: "Task", cfg: "ModelConfig") -> tuple[int, int, int]:
    """Floats one example's forward pass produces: ``(attention, layer, outer)``.

    attention: one layer's ``[heads, pos, pos]`` tensor; layer: the rest of one layer (q, k, v, z, the
    residual stream and norms, the MLP's hidden units); outer: the embeddings and the logits.
    """
    S = task.seq_len
    norms = 0 if cfg.normalization_type == "none" else 2
    layer = S * (cfg.n_heads * (2 * cfg.d_head + 2 * cfg.value_width) + (4 + norms) * cfg.d_model + 2 * cfg.d_mlp)
    return cfg.n_heads * S * S, layer, S * (3 * cfg.d_model + 2 * cfg.d_vocab_out)


def forward_bytes(task: "Task", cfg: "ModelConfig", n: int, kind: str) -> int:
    """Peak of a forward pass over ``n`` examples.

    - ``backward``: a training step (or a cache of every hook): each layer keeps its activations and two
      attention tensors (the softmax and the masked pattern) for backward, plus about three attention
      tensors in flight while the gradients flow back;
    - ``no_grad``: only one layer's activations are alive at a time (scores, scaled scores, pattern);
    - ``patterns``: ``run_with_cache`` of every layer's ``hook_pattern`` under ``no_grad``.
    """
    attention, layer, outer = _floats_per_example(task, cfg)
    L = cfg.n_layers
    per_example = {
        "backward": L * (2 * attention + layer) + 3 * attention + outer,
        "no_grad": 3 * attention + layer + outer,
        "patterns": L * attention + 3 * attention + layer + outer,
    }[kind]
    return FLOAT * n * per_example


def estimate_bytes(task: "Task", model_cfg: "ModelConfig", train_cfg: "TrainConfig") -> int:
    """Peak memory of ``interp.training.train(task, model_cfg, train_cfg)``, in bytes."""
    from .models.readout import FORMATION_SAMPLES

    params = FLOAT * parameter_count(model_cfg)
    held = model_bytes(model_cfg) + 3 * params  # gradients and AdamW's two moments
    held += batch_bytes(task, train_cfg.eval_samples) + batch_bytes(task, train_cfg.train_size)
    step = batch_bytes(task, train_cfg.batch_size) + forward_bytes(task, model_cfg, train_cfg.batch_size, "backward")
    evaluation = max(forward_bytes(task, model_cfg, train_cfg.eval_samples, "no_grad"),
                     forward_bytes(task, model_cfg, min(FORMATION_SAMPLES, train_cfg.eval_samples), "patterns"))
    sampling = sampling_bytes(task, max(train_cfg.batch_size, train_cfg.eval_samples, train_cfg.train_size))
    saving = 3 * params  # the periodic resume file clones weights and optimizer state
    return int(SLACK * (held + max(step, evaluation, sampling, saving)))


def evaluation_bytes(task: "Task", model_cfg: "ModelConfig", samples: int) -> int:
    """Peak memory of ``interp.tasks.evaluate`` (all samples drawn at once, run in chunks sized by
    ``chunk_size``, the outputs at the readouts kept for all of them), in bytes."""
    from types import SimpleNamespace


    n = min(samples, chunk_size(SimpleNamespace(cfg=model_cfg), task))
    outputs = FLOAT * samples * readouts(task) * model_cfg.d_vocab_out
    return int(SLACK * (model_bytes(model_cfg) + max(sampling_bytes(task, samples), batch_bytes(task, samples) + outputs
                                                     + batch_bytes(task, n) + forward_bytes(task, model_cfg, n, "no_grad"))))


def analysis_bytes(task: "Task", model_cfg: "ModelConfig", samples: int = ANALYSIS_SAMPLES) -> int:
    """Peak memory of ``interp analyze``: the model, its construction and a control, and their caches.

    The probes cache every hook of ``samples`` examples, about a training step's activations; twice that
    covers the interventions run beside them.
    """
    return int(SLACK * (3 * model_bytes(model_cfg) + sampling_bytes(task, samples)
                        + 2 * forward_bytes(task, model_cfg, samples, "backward")))


def available_bytes() -> int:
    """Memory the machine can give this process now: ``MemAvailable``, else free physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # no way to tell: let the run try


def gib(n: int) -> str:
    """Bytes in GiB: three significant digits, whole GiB past 1000, a power of ten past what a float holds."""
    whole = n // GIB
    if whole >= 10**15:
        return f"about 10^{int((whole.bit_length() - 1) * math.log10(2))} GiB"
    return f"{n / GIB:.3g} GiB" if whole < 1000 else f"{whole:,} GiB"


def check_memory(what: str, need: int, parts: dict[str, int], available: int | None = None) -> int:
    """Raise MemoryLimitError if ``need`` bytes exceed what the machine has; returns ``need``.

    ``what`` names the run ("training selection"); ``parts`` are named pieces of the need, the largest of
    which the message shows, so that it says which setting to lower.
    """
    limit = available_bytes() if available is None else available
    if need > limit:
        name, size = max(parts.items(), key=lambda item: item[1])
        raise MemoryLimitError(f"{what} needs about {gib(need)} of memory (estimate), more than the {gib(limit)} "
                               f"available on this machine; the largest part is {name} ({gib(size)})")
    return need


def _model_part(cfg: "ModelConfig") -> dict[str, int]:
    return {f"the model ({parameter_count(cfg):,} parameters, n_layers={cfg.n_layers} causal masks of "
            f"n_ctx={cfg.n_ctx} squared)": model_bytes(cfg)}


def _attention_part(task: "Task", cfg: "ModelConfig", n: int, batch: str) -> dict[str, int]:
    S = task.seq_len
    return {f"one layer's attention pattern [{batch}={n}, n_heads={cfg.n_heads}, {S}, {S}]": FLOAT * n * cfg.n_heads * S * S}


def _batch_part(task: "Task", n: int, what: str) -> dict[str, int]:
    return {f"{what} of {task.seq_len}-position examples": batch_bytes(task, n)}


def check_training(task: "Task", model_cfg: "ModelConfig", train_cfg: "TrainConfig") -> int:
    """The training estimate in bytes, or MemoryLimitError if the machine has less."""
    parts = {**_model_part(model_cfg), **_attention_part(task, model_cfg, train_cfg.batch_size, "batch_size"),
             **_batch_part(task, train_cfg.batch_size, f"a batch (batch_size={train_cfg.batch_size})"),
             **_batch_part(task, train_cfg.eval_samples, f"the held-out set (eval_samples={train_cfg.eval_samples})"),
             **_batch_part(task, train_cfg.train_size, f"the training set (train_size={train_cfg.train_size})")}
    return check_memory(f"training {task.name}", estimate_bytes(task, model_cfg, train_cfg), parts)


def check_evaluation(task: "Task", model_cfg: "ModelConfig", samples: int) -> int:
    """The estimate for ``evaluate(model, task, samples)``, or MemoryLimitError."""
    parts = {**_model_part(model_cfg), **_attention_part(task, model_cfg, 1, "examples"),
             **_batch_part(task, samples, f"the samples (samples={samples})")}
    return check_memory(f"evaluating {task.name}", evaluation_bytes(task, model_cfg, samples), parts)


def check_analysis(task: "Task", model_cfg: "ModelConfig", samples: int = ANALYSIS_SAMPLES) -> int:
    """The estimate for ``interp analyze``, or MemoryLimitError."""
    parts = {**_model_part(model_cfg), **_attention_part(task, model_cfg, samples, "samples"),
             **_batch_part(task, samples, f"{samples} samples")}
    return check_memory(f"analysing {task.name}", analysis_bytes(task, model_cfg, samples), parts)


def check_model(model_cfg: "ModelConfig", what: str = "the model") -> int:
    """The memory ``build_model(model_cfg)`` takes, or MemoryLimitError."""
    return check_memory(f"building {what}", model_bytes(model_cfg), _model_part(model_cfg))
