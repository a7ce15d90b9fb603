"""What the benchmark scripts share: devices, timing, summaries, the machine description."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from seeds_verify.files import atomic_write_bytes

from .peers import peer_versions

__all__ = ["resolve_device", "synchronize", "Timer", "summarize", "environment", "write_json",
           "set_threads", "RESULTS_DIR"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; ValueError when CUDA is asked for but absent."""
    if not isinstance(name, str):
        raise TypeError(f"device must be a str, got {type(name).__name__}")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} asked for but torch sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, got {name!r}")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """Wall-clock seconds of a block, synchronising the device on entry and exit."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds = float("nan")

    def __enter__(self):
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start
        return False


def summarize(values) -> dict:
    """Median, min and max of repeated measurements (NaN-free), with their count."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def environment(device: torch.device) -> dict:
    """The machine and versions a result was measured on."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        # Other processes share the machine; a load above the core count slows every timing.
        "load_average": list(os.getloadavg()),
        "device": str(device),
        "versions": peer_versions(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def set_threads(threads: int | None) -> None:
    """Fix torch's intra-op threads (None: leave torch's default).

    On a machine shared with other processes, one thread per process avoids the large
    slow-downs of oversubscribed parallel regions.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        torch.set_num_threads(threads)


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` as JSON, atomically (``seeds_verify.files.atomic_write_bytes``): a reader
    sees the old result or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=1, sort_keys=False, default=_jsonable) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def _jsonable(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (torch.device, torch.dtype, Path)):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
