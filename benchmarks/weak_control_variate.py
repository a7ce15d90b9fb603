"""Control variates from the exact conditional law, measured on the 2-D ring (docs/weak_mixture.md §3).

``python -m benchmarks.weak_control_variate [--paths 1024] [--quick]``

For the exact η = 1 reverse process of a Gaussian mixture the law of the end state given the
state at noise level σ̃ is again a Gaussian mixture, so u(σ̃, y) = E[φ(Y_end) | Y_σ̃ = y] is known in
closed form for the weak statistics φ of the study (y, the upper triangle of y yᵀ, the
responsibilities at σ̃_end). Then E u(σ̃_start, Y_start) = E φ(Y_end) exactly, and for a sampler run
Y_0 … Y_N on a grid σ̃_0 > … > σ̃_N (its callback states) with the Brownian path's increments
z_n = z_1(λ_n, λ_{n+1}) of each step,

    e = φ(Y_N) − u(σ̃_0, Y_0) − Σ_n C_n,   E[C_n | Y_0 … Y_n] = 0,

is an unbiased estimate of the weak error E φ(Y_N) − E φ(Y_end) with no reference solve. The
C_n tried (m_n = e^{−2h} Y_n + (1 − e^{−2h}) D(Y_n, σ̃_n), c_n = σ̃_{n+1}(1 − e^{−2h})^{1/2}, the exact
η = 1 step's mean and noise level, MATH §4; u_{n+1} = u(σ̃_{n+1}, ·)):

* ``first``: c_n ∇u_{n+1}(m_n) · z_n (the Itô martingale increment, linearised);
* ``second``: that plus ½ c_n² Σ_ij ∂_ij u_{n+1}(m_n) (z_i z_j − δ_ij);
* ``quadrature``: u_{n+1}(m_n + c_n z_n) − Q[u_{n+1}(m_n + c_n ·)], Q the tensor Gauss–Hermite
  rule (``--nodes`` per axis; the rule's own error is reported as the change from ``--nodes``
  − 8 nodes) — for a sampler whose step is m_n + c_n z_n (SEEDS-1) this leaves only the sum of
  the local weak errors.

Each estimator is compared with the engine's coupled difference φ(Y_N) − φ(Y_ref) (the fine
SEEDS-2 reference of ``seeds_verify.convergence.shards``) on the same paths: the table gives the
delta-method standard error of E = Σ_j |mean d_j| per estimator and the variance reduction
factor against the coupled difference. Writes ``benchmarks/results/weak_control_variate.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from seeds_verify.convergence.conditional import ConditionalLaw, gauss_hermite

from .common import RESULTS_DIR, environment, write_json

SAMPLERS = ("sample_seeds_1", "sample_seeds_2")
SCHEDULES = ("vp_linear", "edm")
STEPS = (4, 8, 16, 32, 64)
ESTIMATORS = ("coupled", "plain", "first", "second", "quadrature")


def control_sums(law: ConditionalLaw, problem, states, sigmas, path, nodes: int) -> dict:
    """Σ_n C_n of every kind (module docstring) along one run; arrays (paths, q)."""
    from torch.func import jvp

    d = states[0].shape[-1]
    rules = {n: gauss_hermite(n, d) for n in (nodes, nodes - 8)}
    sums = {"first": 0.0, "second": 0.0, "quadrature": 0.0, "quadrature_coarse": 0.0}
    for i, y in enumerate(states):
        s0, s1 = float(sigmas[i]), float(sigmas[i + 1])
        decay = (s1 / s0) ** 2
        m = decay * y + (1.0 - decay) * problem.denoiser(y, s0)
        c = s1 * math.sqrt(1.0 - decay)
        z = path(-math.log(s0), -math.log(s1), 1.0)
        u = lambda x: law(x, s1)  # noqa: E731
        _, grad = jvp(u, (m,), (c * z,))
        _, curv = jvp(lambda x: jvp(u, (x,), (c * z,))[1], (m,), (c * z,))
        trace = 0.0
        for j in range(d):
            e = torch.zeros_like(m)
            e[:, j] = c
            trace = trace + jvp(lambda x: jvp(u, (x,), (e,))[1], (m,), (e,))[1]
        sums["first"] = sums["first"] + grad
        sums["second"] = sums["second"] + grad + 0.5 * (curv - trace)
        at_z = u(m + c * z)
        for key, n in (("quadrature", nodes), ("quadrature_coarse", nodes - 8)):
            points, weights = rules[n]
            sums[key] = sums[key] + at_z - torch.einsum("n,pnq->pq", weights, u(m[:, None, :] + c * points))
    return {k: v.numpy() for k, v in sums.items()}


def study(sampler_name: str, schedule: str, paths: int, steps, seed: int, nodes: int) -> dict:
    from seeds_verify import samplers
    from seeds_verify.convergence.shards import StudySpec, block_reference, weak_statistics

    spec = StudySpec("gmm", schedule, 1.0, tuple(steps), paths, seed, "cpu", torch.float64, (2,), path_block=paths)
    setup = spec.setup(0)
    problem, path = setup.problem, setup.path()
    y0 = setup.start_points()
    law = ConditionalLaw(problem, setup.sigma_end)
    reference = block_reference(spec, 0).phi
    u0 = law(y0, setup.sigma_start).numpy()
    sampler = getattr(samplers, sampler_name)
    rows = []
    for n in steps:
        sigmas = torch.as_tensor(np.exp(-setup.grids[n]))
        states = []
        out = sampler(problem.denoiser, y0.clone(), sigmas, noise_sampler=path.noise_sampler(1.0), eta=1.0,
                      callback=lambda info: states.append(info["x"].clone()))
        phi = weak_statistics(problem, out, setup.sigma_end)
        sums = control_sums(law, problem, states[:n], sigmas, path, nodes)
        est = {"coupled": phi - reference, "plain": phi - u0}
        for kind in ("first", "second", "quadrature"):
            est[kind] = phi - u0 - sums[kind]
        signs = np.sign(est["coupled"].mean(axis=0))
        var = {k: float(np.var((v * signs).sum(-1), ddof=1)) for k, v in est.items()}
        rows.append({
            "steps": n,
            "weak_error": {k: float(np.abs(v.mean(axis=0)).sum()) for k, v in est.items()},
            "standard_error": {k: math.sqrt(v / paths) for k, v in var.items()},
            "reduction_vs_coupled": {k: var["coupled"] / v for k, v in var.items()},
            "quadrature_rule_change": float(np.abs((sums["quadrature"] - sums["quadrature_coarse"]).mean(0)).sum()),
        })
    return {"sampler": sampler_name, "problem": "gmm", "schedule": schedule, "paths": paths, "rows": rows}


def table(payload: dict) -> str:
    lines = ["| sampler | schedule | steps | E (coupled) | se: coupled | plain | first | second | quadrature |"
             " R: first | second | quadrature |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in payload["studies"]:
        for r in s["rows"]:
            se, red = r["standard_error"], r["reduction_vs_coupled"]
            lines.append(f"| {s['sampler']} | {s['schedule']} | {r['steps']} | {r['weak_error']['coupled']:.3g} | "
                         + " | ".join(f"{se[k]:.2g}" for k in ESTIMATORS) + " | "
                         + " | ".join(f"{red[k]:.2f}" for k in ("first", "second", "quadrature")) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from seeds_verify.arguments import positive_int

    p = argparse.ArgumentParser(prog="python -m benchmarks.weak_control_variate", description=__doc__.split("\n\n")[0])
    p.add_argument("--paths", type=positive_int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nodes", type=int, default=20, help="Gauss-Hermite nodes per axis (>= 10)")
    p.add_argument("--quick", action="store_true", help="steps 4, 8, 16 and 128 paths")
    p.add_argument("--out", default=str(RESULTS_DIR / "weak_control_variate.json"))
    args = p.parse_args(argv)
    if args.nodes < 10:
        p.error(f"--nodes must be >= 10, got {args.nodes}")
    steps = STEPS[:3] if args.quick else STEPS
    paths = 128 if args.quick else args.paths
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    studies = [study(s, sch, paths, steps, args.seed, args.nodes) for sch in SCHEDULES for s in SAMPLERS]
    payload = {"meta": {"command": ["python", "-m", "benchmarks.weak_control_variate", *sys.argv[1:]],
                        "paths": paths, "steps": list(steps), "seed": args.seed, "nodes": args.nodes,
                        "wall_time_s": round(time.perf_counter() - t0, 1), "environment": environment(torch.device("cpu"))},
               "studies": studies}
    write_json(args.out, payload)
    print(table(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
