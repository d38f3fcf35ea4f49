"""The machine a measurement ran on, in words: what a benchmark or an experiment's summary records beside its time."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, where Linux says it (``platform.processor()`` is often empty there)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def describe(device: str) -> str:
    """``device`` ("cpu", "cuda", "cuda:1") as the hardware behind it: the GPU's name, or the CPU's model and cores."""
    if device.startswith("cuda"):
        import torch  # only where a CUDA device was asked for

        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()}, {os.cpu_count() or 1} cores"
