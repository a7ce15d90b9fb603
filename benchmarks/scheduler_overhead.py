"""Time of ``SEEDSScheduler.step`` per model evaluation, as a ratio to diffusers' DPM-Solver++ 2M SDE.

``python -m benchmarks.scheduler_overhead [--quick]`` runs the plain diffusers loop

    for t in scheduler.timesteps:
        x = scheduler.step(eps, t, x, generator=g).prev_sample

for SEEDS-1/2/3 (data form, η = 1) and for ``DPMSolverMultistepScheduler(algorithm_type=
"sde-dpmsolver++")`` (order 2, its default), on the same latent-shaped float32 sample, the same
stored ε-prediction ``eps`` (no model cost: only the schedulers' own work is timed) and
Stable Diffusion's training schedule (scaled_linear β from 0.00085 to 0.012). Every scheduler
makes about the same number of calls (``--nfe``; SEEDS-k with a final denoise makes
k·(N − 1) + 1). ``set_timesteps`` is outside the timing. All schedulers run in ONE process, in a
shuffled order per round; the number reported per SEEDS order is the median over rounds of
(its seconds per call) / (DPM-Solver++'s seconds per call in that round), with min and max.
Target: ≤ 1.1. One CPU thread unless ``--threads`` says otherwise: on a 2-core machine shared
with other processes, two threads gave ~10× the one-thread time per call and per-round ratios
anywhere from 0.04 to 2.6 (measured), one thread ratios within ±5 % of their median.
Writes ``results/scheduler_overhead_<device>.json`` (``_quick`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from .common import RESULTS_DIR, Timer, environment, resolve_device, set_threads, summarize, write_json

__all__ = ["run", "main", "TARGET_RATIO"]

BASELINE = "dpmsolver++-2m-sde"
TARGET_RATIO = 1.1
DEFAULT = dict(shape=(4, 4, 64, 64), nfe=25, repeats=9)
QUICK = dict(shape=(2, 4, 8, 8), nfe=7, repeats=2)
TRAINING = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def _schedulers(nfe: int) -> dict:
    """name → (scheduler, num_inference_steps) with about ``nfe`` step calls each."""
    from diffusers import DPMSolverMultistepScheduler

    from seeds_verify.diffusers import SEEDSScheduler

    out = {BASELINE: (DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++", **TRAINING), nfe)}
    for order in (1, 2, 3):
        seeds = SEEDSScheduler(solver_order=order, algorithm_type="data", eta=1.0, **TRAINING)
        out[f"seeds{order}"] = (seeds, (nfe - 1) // order + 1)
    return out


def _timed_run(scheduler, steps: int, x0: torch.Tensor, eps: torch.Tensor, seed: int, device) -> tuple[float, int]:
    """(seconds, calls) of one loop over the scheduler's timesteps."""
    scheduler.set_timesteps(steps, device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    x = x0.clone()
    with Timer(device) as t:
        for timestep in scheduler.timesteps:
            x = scheduler.step(eps, timestep, x, generator=generator).prev_sample
    if not bool(torch.isfinite(x).all()):
        raise RuntimeError(f"{type(scheduler).__name__} returned non-finite values")
    return t.seconds, len(scheduler.timesteps)


def run(*, shape=DEFAULT["shape"], nfe=DEFAULT["nfe"], repeats=DEFAULT["repeats"], device="cpu", seed=0,
        log=print) -> dict:
    """Time every scheduler side by side; see the module docstring."""
    device = resolve_device(device) if isinstance(device, str) else device
    gen = torch.Generator(device=device).manual_seed(seed)
    x0 = torch.randn(shape, generator=gen, device=device)
    eps = torch.randn(shape, generator=gen, device=device)
    entries = _schedulers(nfe)
    order = list(entries)
    rng = random.Random(seed)
    per_round, calls = [], {}
    for rnd in range(repeats + 1):  # round 0 warms up caches and lazy imports, and is dropped
        rng.shuffle(order)
        times = {}
        for name in order:
            scheduler, steps = entries[name]
            seconds, calls[name] = _timed_run(scheduler, steps, x0, eps, seed + rnd, device)
            times[name] = seconds / calls[name]
        if rnd > 0:
            per_round.append(times)
        log(f"round {rnd}: " + ", ".join(f"{k}={v * 1e6:.1f}us" for k, v in sorted(times.items())))
    rows = {}
    for name in entries:
        rows[name] = {"calls": calls[name], "seconds_per_call": summarize([r[name] for r in per_round]),
                      "ratio_to_baseline": summarize([r[name] / r[BASELINE] for r in per_round])}
    return {"config": dict(shape=list(shape), nfe=nfe, repeats=repeats, seed=seed, dtype="torch.float32",
                           baseline=BASELINE, target_ratio=TARGET_RATIO, training_schedule=TRAINING,
                           seeds=dict(algorithm_type="data", eta=1.0, prediction_type="epsilon")),
            "environment": environment(device), "schedulers": rows}


def format_table(result: dict) -> str:
    lines = [f"baseline: {result['config']['baseline']} (DPMSolverMultistepScheduler, sde-dpmsolver++); "
             f"sample {tuple(result['config']['shape'])}; target ratio <= {TARGET_RATIO}",
             f"{'scheduler':22s}{'calls':>6s}{'us/call':>10s}{'ratio':>8s}{'(min':>7s}{'max)':>7s}"]
    for name, row in result["schedulers"].items():
        r = row["ratio_to_baseline"]
        lines.append(f"{name:22s}{row['calls']:6d}{row['seconds_per_call']['median'] * 1e6:10.1f}"
                     f"{r['median']:8.3f}{r['min']:7.3f}{r['max']:7.3f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--nfe", type=int, help="step calls per run (default 25; quick 7)")
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    sizes = dict(QUICK if args.quick else DEFAULT)
    for key in ("nfe", "repeats"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    result = run(device=args.device, **sizes)
    result["config"]["quick"] = bool(args.quick)
    dev = resolve_device(args.device).type
    stem = f"scheduler_overhead_{dev}" + ("_quick" if args.quick else "")
    write_json(args.out / f"{stem}.json", result)
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
