"""``make bench``: speed numbers written to JSON, each against a baseline measured in the same run.

- samplers: a batch of 4096 (target: under 100 ms), as a ratio to drawing the same number of random
  values with torch (the floor any sampler pays);
- models: the TransformerBridge forward as a ratio to the bare native model underneath it (hook overhead),
  and ``run_with_cache`` as a ratio to the plain forward;
- training: steps per second of ``interp.training``'s step (the fused training forward of a hooked model,
  loss, backward, AdamW) over a plain PyTorch transformer of the same shape and parameter count, written
  here as the baseline (target >= 0.95 for every task);
- sweeps: runs per second of a real experiment (``parity-construction --quick``, 44 runs) with ``--jobs 2``
  over ``--jobs 1`` (target >= 1.8 on two cores; it includes starting the worker processes), beside what
  two processes get out of the machine over one for pure compute and for pure memory traffic;
- analysis: seconds to analyse each shipped default model (target: all three under 120 s).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from .allocator import reuse_freed_memory
from .files import write_json
from .models import ModelConfig, build_model
from .paths import TRAINED_MODELS
from .tasks import TASKS

# The tasks whose models are TransformerBridges (the value tasks build a HookedRootModule, which has no native model).
BRIDGE_TASKS = ("parity", "selection", "counting")


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Fastest of ``repeat`` timed calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_samplers(batch_size: int = 4096) -> dict[str, Any]:
    out = {}
    tasks = {name: cls() for name, cls in TASKS.items()}
    tasks["selection-orthonormal"] = TASKS["selection"](positions="orthonormal")
    for name, task in tasks.items():
        generator = torch.Generator().manual_seed(0)
        sample = best_of(lambda: task.sample(batch_size, generator))
        inputs = task.sample(batch_size, 0).inputs
        baseline = best_of(lambda: torch.rand(inputs.shape, generator=generator))
        out[name] = {"ms": 1e3 * sample, "baseline_ms": 1e3 * baseline, "ratio": sample / baseline,
                     "target_ms": 100, "meets_target": sample < 0.1}
    return out


@torch.no_grad()
def bench_models(batch_size: int = 1024) -> dict[str, Any]:
    out = {}
    for name in BRIDGE_TASKS:
        task = TASKS[name]()
        model = build_model(ModelConfig.for_task(task), seed=0).eval()
        inputs = task.sample(batch_size, 0).inputs
        native_kwargs = {"inputs_embeds" if inputs.is_floating_point() else "input_ids": inputs}
        bridge = best_of(lambda: model(inputs))
        native = best_of(lambda: model.original_model(**native_kwargs))
        cached = best_of(lambda: model.run_with_cache(inputs))
        out[name] = {"bridge_ms": 1e3 * bridge, "native_ms": 1e3 * native, "bridge_over_native": bridge / native,
                     "run_with_cache_ms": 1e3 * cached, "cache_over_forward": cached / bridge}
    return out


class PlainBlock(nn.Module):
    """One pre-norm block the way a plain PyTorch model writes it: fused QKV, softmax attention, ReLU MLP."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        self.ln1 = nn.LayerNorm(D) if cfg.normalization_type == "LN" else nn.Identity()
        self.ln2 = nn.LayerNorm(D) if cfg.normalization_type == "LN" else nn.Identity()
        self.qkv, self.o = nn.Linear(D, 3 * H * dh), nn.Linear(H * dh, D)
        self.mlp = nn.Sequential(nn.Linear(D, cfg.d_mlp), nn.ReLU(), nn.Linear(cfg.d_mlp, D)) if cfg.d_mlp else None
        self.heads, self.d_head, self.causal = H, dh, cfg.attention_dir == "causal"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, P, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, P, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        if self.causal:
            scores = scores.masked_fill(torch.ones(P, P, dtype=torch.bool).triu(1), float("-inf"))
        x = x + self.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, P, -1))
        return x + self.mlp(self.ln2(x)) if self.mlp is not None else x


class PlainTransformer(nn.Module):
    """The baseline: a transformer of ``cfg``'s shape with no hooks, no bridge, nothing but PyTorch."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.input_kind == "features":
            self.embed = nn.Linear(cfg.d_vocab, cfg.d_model, bias=False)
        else:
            self.embed = nn.Embedding(cfg.d_vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(PlainBlock(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model) if cfg.normalization_type == "LN" else nn.Identity()
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos.weight[: x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.unembed(self.ln(h))


def bench_training(rounds: int = 7, steps: int = 10) -> dict[str, Any]:
    """Seconds per training step, ours and the plain baseline's, timed in alternating rounds (best round)."""
    from .defaults import configure
    from .models.fast import training_forward
    from .training import make_optimizer

    out = {}
    for name in BRIDGE_TASKS:
        task, model_cfg, train_cfg = configure(name)
        batch = task.sample(train_cfg.batch_size, 0)
        ours, plain = build_model(model_cfg, seed=0), PlainTransformer(model_cfg)

        def stepper(model: nn.Module, forward: Callable) -> Callable[[], None]:
            optimizer = make_optimizer(list(model.parameters()), train_cfg)

            def run() -> None:
                for _ in range(steps):
                    loss = task.loss(forward(batch.inputs), batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
            return run

        candidates = {"ours": stepper(ours, lambda x: training_forward(ours, x)), "plain": stepper(plain, plain)}
        best = {key: math.inf for key in candidates}
        for key, run in candidates.items():
            run()  # warm-up
        for _ in range(rounds):
            for key, run in candidates.items():
                start = time.perf_counter()
                run()
                best[key] = min(best[key], (time.perf_counter() - start) / steps)
        ratio = best["plain"] / best["ours"]
        out[name] = {"ours_ms_per_step": 1e3 * best["ours"], "plain_ms_per_step": 1e3 * best["plain"],
                     "parameters": [sum(p.numel() for p in m.parameters()) for m in (ours, plain)],
                     "throughput_ratio": ratio, "target": 0.95, "meets_target": ratio >= 0.95}
    return out


def bench_sweep(experiment: str = "parity-construction") -> dict[str, Any]:
    """``experiment`` at ``--quick`` scale with ``--jobs 1`` and ``--jobs 2``, each in a fresh folder.

    The ``--jobs 2`` time includes starting its two worker processes (each imports torch and TransformerLens,
    about 5 s); the ``--jobs 1`` sweep runs in this process, where both are already imported. Two runs side
    by side also share the memory bus and last-level cache: ``side_by_side_run_seconds`` is how much longer
    the runs' own seconds add up to with two workers than with one.
    """
    from .experiments import run_experiment

    seconds, run_seconds = {}, {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            summary = run_experiment(experiment, quick=True, jobs=jobs, out=out, device="cpu", progress=False)
            seconds[jobs] = time.perf_counter() - start
            runs = [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]
            run_seconds[jobs] = sum(run["seconds"] for run in runs)
    ratio = seconds[1] / seconds[2]
    return {"experiment": experiment, "scale": "quick", "runs": summary["runs"]["asked"],
            "jobs_1_seconds": seconds[1], "jobs_2_seconds": seconds[2],
            # how busy the two workers were: the runs' own seconds over the sweep's wall time (2 at best)
            "jobs_2_busy_workers": run_seconds[2] / seconds[2],
            "side_by_side_run_seconds": run_seconds[2] / run_seconds[1],
            "throughput_ratio": ratio, "target": 1.8, "meets_target": ratio >= 1.8}


# One kind of work on one thread: small products that stay in a core's own cache, or copies that stream
# 128 MiB arrays through memory (four times the shared last-level cache). Starts at the wall-clock time it
# is given, so that processes started together work at the same time; prints its seconds.
MACHINE_PROBE = """
import sys, time, torch
torch.set_num_threads(1)
if sys.argv[1] == "compute":
    a = torch.randn(64, 64)
    step, repeats = lambda: a @ a, 100000
else:
    x, y = torch.randn(2**25), torch.zeros(2**25)
    step, repeats = lambda: y.copy_(x), 100
step()
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
start = time.perf_counter()
for _ in range(repeats):
    step()
print(time.perf_counter() - start)
"""


def bench_machine() -> dict[str, Any]:
    """What two processes get out of this machine over one, for compute and for memory traffic: the ceiling
    a ``--jobs 2`` sweep runs into, measured in the same run as it (2.0 is perfect scaling). Best of three."""

    def seconds(kind: str, processes: int) -> float:
        times = []
        for _ in range(3):
            at = str(time.time() + 3)  # after the interpreters and torch have started
            started = [subprocess.Popen([sys.executable, "-c", MACHINE_PROBE, kind, at], stdout=subprocess.PIPE,
                                        text=True) for _ in range(processes)]
            times.append(max(float(p.communicate()[0]) for p in started))
        return min(times)

    return {f"{kind}_2_over_1": 2 * seconds(kind, 1) / seconds(kind, 2) for kind in ("compute", "memory")}


def bench_analysis(root: Path = TRAINED_MODELS) -> dict[str, Any]:
    from .analysis.run import analyze_checkpoint

    out: dict[str, Any] = {}
    runs = sorted(p.parent for p in root.glob("*/default-seed0/config.json"))
    total = 0.0
    for run in runs:
        start = time.perf_counter()
        analyze_checkpoint(run, out=Path("bench-reports") / run.parent.name, html=False)
        seconds = time.perf_counter() - start
        out[run.parent.name] = {"seconds": seconds}
        total += seconds
    out["total_seconds"] = total
    out["target_seconds"] = 120
    out["meets_target"] = total < 120
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--skip-analysis", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true", help="skip the ~3 minute sweep benchmark")
    args = parser.parse_args(argv)
    reuse_freed_memory()  # as every experiment run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `interp train` and every experiment run: per-step speed on one core
    results = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                    "cores": threads},
        "samplers": bench_samplers(),
        "models": bench_models(),
        "training": bench_training(),
    }
    if not args.skip_sweep:
        results["sweep"] = {**bench_sweep(), "machine": bench_machine()}
    if not args.skip_analysis:
        results["analysis"] = bench_analysis()
    write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
