"""``make bench``: speed numbers written to JSON, each against a baseline measured in the same run.

- samplers: a batch of 4096 (target: under 100 ms), as a ratio to drawing the same number of random
  values with torch (the floor any sampler pays);
- models: the TransformerBridge forward as a ratio to the bare native model underneath it (hook overhead),
  and ``run_with_cache`` as a ratio to the plain forward;
- analysis: seconds to analyse each shipped default model (target: all three under 120 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .models import ModelConfig, build_model
from .paths import TRAINED_MODELS
from .tasks import TASKS


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
    for name, cls in TASKS.items():
        task = cls()
        model = build_model(ModelConfig.for_task(task), seed=0).eval()
        inputs = task.sample(batch_size, 0).inputs
        native_kwargs = {"inputs_embeds" if inputs.is_floating_point() else "input_ids": inputs}
        bridge = best_of(lambda: model(inputs))
        native = best_of(lambda: model.original_model(**native_kwargs))
        cached = best_of(lambda: model.run_with_cache(inputs))
        out[name] = {"bridge_ms": 1e3 * bridge, "native_ms": 1e3 * native, "bridge_over_native": bridge / native,
                     "run_with_cache_ms": 1e3 * cached, "cache_over_forward": cached / bridge}
    return out


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
    args = parser.parse_args(argv)
    results = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "samplers": bench_samplers(),
        "models": bench_models(),
    }
    if not args.skip_analysis:
        results["analysis"] = bench_analysis()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
