"""Throughput of a strong-order study: our solvers on a BrownianPath against torchsde.sdeint.

The study: the data-form reverse SDE (η = 1) of a 2-D Gaussian problem in the k-diffusion
convention (α = 1, σ̃ = e^{−λ}; MATH §3 with dlogα/dλ = 0),

    dy = (1+η)(D(y, λ) − y) dλ + e^{−λ} sqrt(2η) dW_λ,

from an exact draw at σ̃_max = 80 to σ̃_min = 0.002, solved on uniform λ-grids of N = 2^j steps
that all read ONE Brownian path per sample, and the strong error of each grid against the finest
one (MATH §9). Our side: :class:`~seeds_verify.solvers.EulerMaruyama` (and SEEDS-1) reading a
:class:`~seeds_verify.noise.BrownianPath`, all grids advanced together by
``Solver.solve_ladder``; torchsde's side: ``torchsde.sdeint(method="euler")`` with one
``torchsde.BrownianInterval`` for every grid. Both Euler schemes are the same map
y + f h + g ΔW, so the errors agree statistically and the timing compares the machinery.

Throughput = samples × steps (over all grids) / seconds. Sides alternate within ONE process;
the ratio per repeat is ours/torchsde, reported as median with min–max. Peak memory: on CUDA,
``torch.cuda.max_memory_allocated`` per side; on CPU, each side runs once more in its own
child process, which reports the growth of its resident-set high-water mark
(``resource.getrusage``) over its resident size before the study and the peak of Python-level
allocations (``tracemalloc``; torch's CPU tensors are not traced by it).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from seeds_verify.noise import BrownianPath
from seeds_verify.problems import get_problem
from seeds_verify.schedules import get_schedule
from seeds_verify.solvers import SEEDS1, DiffusionModel, EulerMaruyama

from .common import RESULTS_DIR, set_threads, Timer, environment, resolve_device, summarize, synchronize, write_json
from .peers import PeerUnavailable, torchsde_module

__all__ = ["Study", "run", "main"]

ETA = 1.0
SIGMA_MAX, SIGMA_MIN = 80.0, 0.002
DEFAULT = dict(paths=1024, levels=(4, 5, 6, 7, 8, 9), repeats=3)
QUICK = dict(paths=64, levels=(4, 5, 6), repeats=2)
OURS = ("em", "seeds1")


class Study:
    """The problem, the start values and the grids shared by both sides."""

    def __init__(self, paths: int, levels, device, seed: int = 0, dtype=torch.float64):
        self.problem = get_problem("gaussian")
        self.schedule = get_schedule("edm")
        self.paths, self.levels, self.device, self.seed, self.dtype = paths, tuple(levels), device, seed, dtype
        self.lam0, self.lam1 = -math.log(SIGMA_MAX), -math.log(SIGMA_MIN)
        gen = torch.Generator(device=device).manual_seed(seed)
        self.y0 = self.problem.sample(paths, SIGMA_MAX, generator=gen, device=device, dtype=dtype)
        self.finest = 2 ** max(self.levels)
        self.steps_total = sum(2 ** j for j in self.levels)

    def grid(self, level: int) -> np.ndarray:
        return np.linspace(self.lam0, self.lam1, 2 ** level + 1)

    def ours(self, side: str = "em", path_seed: int = 1) -> dict:
        """Solve on every grid with one BrownianPath; final states by level.

        ``side``: "em" (plain increments, k = 0) or "seeds1" (data form, k = η). The path keeps
        the fewest Legendre moments per cell that are exact for the weight the solver reads
        (``BrownianPath.moments_needed``: 1 for k = 0) and draws each random number once.
        ``Solver.solve_ladder`` advances all grids together: one model call per λ shared by
        several grids (every node of a coarse grid is one of the finer grids'), the increments
        of the finest grid read from the path in one pass and those of each coarser grid
        combined from the next finer one's (``seeds_verify.noise.coarsen_increments``). The
        final states equal grid-by-grid ``solve`` calls on the same path up to rounding.
        """
        solver = SEEDS1() if side == "seeds1" else EulerMaruyama()
        fine = self.grid(max(self.levels))
        k = ETA if side == "seeds1" else 0.0
        path = BrownianPath(fine, self.y0.shape, seed=path_seed, device=self.device, dtype=self.dtype,
                            moments=BrownianPath.moments_needed(fine, [k]))
        model = DiffusionModel(self.problem.denoiser, "denoiser", self.schedule)
        finals = solver.solve_ladder(model, self.y0, [self.grid(j) for j in self.levels], schedule=self.schedule,
                                     noise=path, eta=ETA, prediction="data")
        return dict(zip(self.levels, finals))

    def torchsde(self, path_seed: int = 1) -> dict:
        """The same study with torchsde.sdeint (Euler) and one BrownianInterval."""
        torchsde = torchsde_module()
        problem, scale = self.problem, math.sqrt(2.0 * ETA)

        class ReverseSDE(torch.nn.Module):
            noise_type = "diagonal"
            sde_type = "ito"

            def f(self, t, y):
                sigma = torch.exp(-t).expand(y.shape[0])
                return (1.0 + ETA) * (problem.denoiser(y, sigma) - y)

            def g(self, t, y):
                return (scale * torch.exp(-t)).expand_as(y)

        bm = torchsde.BrownianInterval(t0=self.lam0, t1=self.lam1, size=tuple(self.y0.shape), dtype=self.dtype,
                                       device=self.device, entropy=path_seed,
                                       dt=(self.lam1 - self.lam0) / self.finest)
        ts = torch.tensor([self.lam0, self.lam1], dtype=self.dtype, device=self.device)
        sde = ReverseSDE()
        out = {}
        for j in self.levels:
            ys = torchsde.sdeint(sde, self.y0, ts, bm=bm, method="euler", dt=(self.lam1 - self.lam0) / 2 ** j)
            out[j] = ys[-1]
        return out

    def strong_errors(self, finals: dict) -> dict:
        """E‖y_N − y_finest‖ per level (all but the finest) and the fitted log2 slope."""
        ref = finals[max(self.levels)]
        errs = {j: float(torch.linalg.vector_norm(finals[j] - ref, dim=-1).mean()) for j in self.levels[:-1]}
        if len(errs) >= 2:
            x = np.array([2.0 ** -j for j in errs])
            slope = float(np.polyfit(np.log(x), np.log(np.array(list(errs.values()))), 1)[0])
        else:
            slope = None
        return {"errors": errs, "slope": slope}


def _time_side(study: Study, side: str, device) -> tuple[float, dict]:
    with Timer(device) as t:
        finals = study.torchsde() if side == "torchsde" else study.ours(side)
    return t.seconds, finals


def _memory_child(side: str, paths: int, levels, seed: int) -> dict:
    """Run one side once in this (fresh) process and report its memory growth."""
    device = torch.device("cpu")
    study = Study(paths, levels, device, seed)
    if side == "torchsde":
        torchsde_module()
    # Warm the lazy parts of torch on a tiny study so their one-off allocations are not counted.
    small = Study(4, levels[:2], device, seed)
    small.torchsde() if side == "torchsde" else small.ours(side)
    with open("/proc/self/statm") as fh:
        rss_before = int(fh.read().split()[1]) * resource.getpagesize()
    tracemalloc.start()
    study.torchsde() if side == "torchsde" else study.ours(side)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rss_peak_growth_bytes": max(maxrss - rss_before, 0), "tracemalloc_peak_bytes": py_peak,
            "rss_before_bytes": rss_before}


def _memory(side: str, study: Study, device, threads: int | None = None) -> dict:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        _time_side(study, side, device)
        return {"cuda_peak_growth_bytes": torch.cuda.max_memory_allocated(device) - base}
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--memory-child", side, "--paths", str(study.paths),
           "--levels", *map(str, study.levels)] + ([] if threads is None else ["--threads", str(threads)])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                          timeout=600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(*, paths=DEFAULT["paths"], levels=DEFAULT["levels"], repeats=DEFAULT["repeats"], device="cpu",
        seed=0, memory=True, threads=None, log=print) -> dict:
    device = resolve_device(device) if isinstance(device, str) else device
    study = Study(paths, levels, device, seed)
    try:
        torchsde_module()
        peer_reason = None
    except PeerUnavailable as exc:
        peer_reason = str(exc)
    sides = list(OURS) + (["torchsde"] if peer_reason is None else [])
    work = study.paths * study.steps_total
    seconds = {s: [] for s in sides}
    finals = {}
    for rep in range(repeats + 1):  # repeat 0 warms up and is dropped
        order = sides if rep % 2 == 0 else sides[::-1]
        for s in order:
            t, finals[s] = _time_side(study, s, device)
            if rep > 0:
                seconds[s].append(t)
        log(f"repeat {rep}: " + ", ".join(f"{s}={work / seconds[s][-1]:.3g}/s" if rep else f"{s} warm"
                                          for s in order))
    result = {"config": dict(paths=paths, levels=list(levels), repeats=repeats, seed=seed, eta=ETA,
                             lam_range=[study.lam0, study.lam1], steps_total=study.steps_total,
                             samples_x_steps=work, problem="gaussian (2-D)", dtype="float64"),
              "environment": environment(device), "peers_missing": peer_reason, "sides": {}}
    for s in sides:
        result["sides"][s] = {"seconds": summarize(seconds[s]),
                              "samples_x_steps_per_second": summarize([work / t for t in seconds[s]]),
                              "strong": study.strong_errors(finals[s])}
    if peer_reason is None:
        for s in OURS:
            result["sides"][s]["ratio_to_torchsde"] = summarize(
                [b / a for a, b in zip(seconds[s], seconds["torchsde"])])
    if memory:
        for s in sides:
            result["sides"][s]["memory"] = _memory(s, study, device, threads)
    return result


def format_table(result: dict) -> str:
    lines = [f"samples x steps per study: {result['config']['samples_x_steps']:,}; "
             f"peers missing: {result['peers_missing']}"]
    for s, row in result["sides"].items():
        thr = row["samples_x_steps_per_second"]
        line = f"{s:18s} {thr['median']:.3g}/s"
        if "ratio_to_torchsde" in row:
            r = row["ratio_to_torchsde"]
            line += f"  ours/torchsde {r['median']:.1f}x (min {r['min']:.1f}, max {r['max']:.1f})"
        line += f"  strong slope {row['strong']['slope']}"
        mem = row.get("memory", {})
        if "rss_peak_growth_bytes" in mem:
            line += (f"  peak RSS +{mem['rss_peak_growth_bytes'] / 2**20:.1f} MiB, "
                     f"tracemalloc {mem['tracemalloc_peak_bytes'] / 2**20:.2f} MiB")
        elif "cuda_peak_growth_bytes" in mem:
            line += f"  CUDA peak +{mem['cuda_peak_growth_bytes'] / 2**20:.1f} MiB"
        elif "error" in mem:
            line += f"  memory: {mem['error']}"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--paths", type=int)
    parser.add_argument("--levels", nargs="+", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", choices=OURS + ("torchsde",), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    sizes = dict(QUICK if args.quick else DEFAULT)
    for key in ("paths", "levels", "repeats"):
        if getattr(args, key) is not None:
            sizes[key] = tuple(args.levels) if key == "levels" else getattr(args, key)
    if args.memory_child:
        print(json.dumps(_memory_child(args.memory_child, sizes["paths"], sizes["levels"], 0)))
        return {}
    result = run(device=args.device, memory=not args.no_memory, threads=args.threads, **sizes)
    result["config"]["quick"] = bool(args.quick)
    stem = f"throughput_{resolve_device(args.device).type}" + ("_quick" if args.quick else "")
    write_json(args.out / f"{stem}.json", result)
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
