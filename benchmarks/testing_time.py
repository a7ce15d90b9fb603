"""Wall time of ``seeds_verify.testing.assert_convergence_order`` with its default settings.

``python -m benchmarks.testing_time [--repeats N]`` times two checks a user's test suite would
write, each with the defaults (1000 paths, steps 4…256, escalation on):

* ``deterministic``: a deterministic sampler written below in the k-diffusion convention (a
  two-step exponential multistep method, DPM-Solver++(2M)-like), declared order 2;
* ``strong``: ``seeds_verify.samplers.sample_seeds_2`` at η = 1, declared strong order 1.

Each is run ``N`` times (default 3) in one process on one CPU thread; the script prints each wall
time, the median, and the median's ratio to its target (5 s deterministic, 10 s strong), and
writes ``results/testing_time_cpu.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seeds_verify.convergence.suite import single_thread
from seeds_verify.samplers import sample_seeds_2
from seeds_verify.testing import assert_convergence_order

from .common import RESULTS_DIR, environment, write_json


def sample_two_step(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Two-step exponential multistep sampler (order 2): exponential Euler on the first step, then
    the denoiser extrapolated linearly to mid-step from the last two outputs."""
    extra_args = {} if extra_args is None else extra_args
    ones = x.new_ones(x.shape[0])
    before = None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = model(x, s * ones, **extra_args)
        if s_next == 0:
            x = d
            continue
        h = torch.log(s / s_next)
        d_mid = d if before is None else d + (h / (2.0 * before[1])) * (d - before[0])
        x = (s_next / s) * x - torch.expm1(-h) * d_mid
        before = (d, h)
    return x


CHECKS = {
    "deterministic": dict(sampler=sample_two_step, regime="deterministic", order=2, target_s=5.0,
                          name="benchmarks.testing_time:sample_two_step", eta=None),
    "strong": dict(sampler=sample_seeds_2, regime="strong", order=1, target_s=10.0,
                   name="seeds_verify.samplers:sample_seeds_2", eta=1.0),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.testing_time", description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    results = {}
    with single_thread("cpu"):
        for key, c in CHECKS.items():
            times, last = [], None
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                last = assert_convergence_order(c["sampler"], regime=c["regime"], order=c["order"], eta=c["eta"])
                times.append(time.perf_counter() - t0)
                print(f"{key}: {times[-1]:.2f} s  verdict {last.verdict}, measured order {last.measured_order:.3f}")
            median = statistics.median(times)
            ratio = median / c["target_s"]
            print(f"{key}: median {median:.2f} s over {len(times)} runs; ratio to the {c['target_s']:.0f} s "
                  f"target: {ratio:.2f} ({len(last.rounds)} round(s), {last.paths} paths, "
                  f"steps {last.step_counts[0]}…{last.step_counts[-1]})")
            results[key] = {
                "sampler": c["name"], "regime": c["regime"], "declared": c["order"], "eta": c["eta"],
                "times_s": times, "median_s": median, "target_s": c["target_s"], "ratio_to_target": ratio,
                "verdict": last.verdict, "measured_order": last.measured_order,
                "interval": [last.ci_low, last.ci_high], "rounds": len(last.rounds), "paths": last.paths,
                "steps": list(last.step_counts)}
    write_json(RESULTS_DIR / "testing_time_cpu.json", {
        "settings": "assert_convergence_order defaults (1000 paths, steps 4..256, escalation on)",
        "checks": results, "environment": environment(torch.device("cpu"))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
