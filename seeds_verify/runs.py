"""What the long-running entry points (``python -m seeds_verify.audit``,
``python -m seeds_verify.diffusers.audit``, ``python -m seeds_verify.convergence.precision``)
share: their common argument checks, and a timed run that records the command, versions, wall and
CPU time and the machine's load beside its results."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Callable, Sequence

__all__ = ["versions", "load_average", "check_seed_and_paths", "make_out_dir", "recorded_run",
           "write_records"]


def versions(dists: Sequence[str]) -> dict:
    """Python's version and each distribution's (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("seeds_verify", *dists):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    if out["seeds_verify"] is None:
        from . import __version__

        out["seeds_verify"] = __version__
    return out


def load_average() -> list | None:
    """1, 5 and 15 minute load averages (other processes share the machine), None if unknown."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def check_seed_and_paths(parser, seed: int, paths: int | None) -> None:
    """``--seed`` in [0, 2**63 − 2) and ``--paths`` ≥ 2 (when given); parser.error (exit 2) otherwise."""
    if not 0 <= seed < 2 ** 63 - 2:
        parser.error("argument --seed: must be an integer in [0, 2**63 - 2)")
    if paths is not None and paths < 2:
        parser.error("argument --paths: must be at least 2")


def make_out_dir(parser, path: str) -> None:
    """Create the output folder, or parser.error naming ``--out``."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --out: cannot create {path!r}: {exc}")


def recorded_run(fn: Callable[[], object], *, module: str, argv, seed: int,
                 dists: Sequence[str]) -> tuple[object, dict] | None:
    """``fn()`` timed → (its result, the start of a ``meta`` record: command, versions, seed, wall
    and CPU seconds, load average before and after); None when interrupted (nothing to write)."""
    before = load_average()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        result = fn()
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return None
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    meta = {"command": [os.path.basename(sys.executable), "-m", module,
                        *(sys.argv[1:] if argv is None else list(argv))],
            "versions": versions(dists), "seed": seed, "wall_time_s": round(wall, 1),
            "cpu_time_s": round(cpu, 1),
            "load_average": {"start": before, "end": load_average(), "cpus": os.cpu_count()}}
    return result, meta


def write_records(result: dict, out_dir, stem: str, plot: Callable[[list, str], object],
                  json_default: Callable | None = None) -> list[str]:
    """``{stem}.json`` (``{"meta", "records"}`` of ``result``) and ``{stem}.png`` (drawn by
    ``plot(records, path)``) in ``out_dir``, each written atomically; returns the two paths."""
    from .files import atomic_write_bytes

    if not isinstance(stem, str) or not stem or os.sep in stem or stem.startswith("."):
        raise ValueError(f"stem must be a plain file name stem, got {stem!r}")
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, f"{stem}.png")
    plot(result["records"], png)
    path = os.path.join(out_dir, f"{stem}.json")
    payload = {"meta": result["meta"], "records": result["records"]}
    atomic_write_bytes(path, (json.dumps(payload, indent=1, default=json_default) + "\n").encode())
    return [path, png]
