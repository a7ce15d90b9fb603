"""Time per NFE of every sampler with a cheap exact denoiser, as ratios to DPM++ 2M SDE.

The denoiser is an isotropic Gaussian mixture Σ_k w_k N(μ_k, s_k² I) in d = 64 (MATH §8 with
Σ_k = s_k² I): with v_k = s_k² + σ̃² and a_k = s_k²/v_k,

    r_k(x) = softmax_k(log w_k − ‖x − μ_k‖²/(2 v_k) − (d/2) log v_k),
    D(x, σ̃) = Σ_k r_k (1 − a_k) μ_k + (Σ_k r_k a_k) x,

two small matrix products per call, so the samplers' own work is a visible share of the time.
All samplers run in ONE process, in a shuffled order per round, on the same x and the same
Karras sigmas at (nearly) the same NFE; the reported number per sampler is the median over
rounds of (its seconds per NFE) / (``sample_dpmpp_2m_sde`` with its default noise sampler's
seconds per NFE in that round), with min and max. ``model_only`` times the denoiser alone.

``--roofline`` also measures the device's copy bandwidth and, for SEEDS-1/2/3 with a model that
returns a stored tensor (no model cost), the bytes every step reads and writes (counted per aten
operation with a dispatch mode) and the fraction of the copy bandwidth those steps reach.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from seeds_verify.schedules import get_schedule

from .common import RESULTS_DIR, set_threads, Timer, environment, resolve_device, summarize, synchronize, write_json
from .quality import karras_sigmas
from .registry import CountingModel, all_samplers, positive_sigmas

__all__ = ["IsotropicMixture", "run", "roofline", "main"]

BASELINE = "kd-dpmpp-2m-sde"
DEFAULT = dict(dim=64, batch=4096, components=8, nfe=49, repeats=7)
QUICK = dict(dim=8, batch=64, components=4, nfe=13, repeats=2)


class IsotropicMixture:
    """The cheap exact denoiser of the module docstring, computed in x's dtype."""

    def __init__(self, weights, means, variances, device=None, dtype=torch.float32):
        self.weights = torch.as_tensor(weights, dtype=dtype, device=device)
        self.means = torch.as_tensor(means, dtype=dtype, device=device)
        self.variances = torch.as_tensor(variances, dtype=dtype, device=device)
        if self.weights.ndim != 1 or self.means.ndim != 2 or self.variances.shape != self.weights.shape \
                or self.means.shape[0] != self.weights.shape[0]:
            raise ValueError("weights (K,), means (K, d) and variances (K,) must agree in K")
        if not bool((self.weights > 0).all()) or not bool((self.variances > 0).all()):
            raise ValueError("weights and variances must be > 0")
        self.log_w = torch.log(self.weights / self.weights.sum())
        self.sq_means = (self.means ** 2).sum(-1)
        self.dim = self.means.shape[1]

    @classmethod
    def random(cls, dim: int, components: int, seed: int = 0, device=None, dtype=torch.float32):
        """Means N(0, 3² I), variances log-uniform in [0.05, 1], Dirichlet(2) weights."""
        rng = np.random.default_rng(seed)
        return cls(rng.dirichlet(np.full(components, 2.0)), 3.0 * rng.standard_normal((components, dim)),
                   np.exp(rng.uniform(np.log(0.05), 0.0, size=components)), device=device, dtype=dtype)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1)
        v = self.variances + sigma * sigma  # (batch, K)
        sq_dist = (x * x).sum(-1, keepdim=True) - 2.0 * (x @ self.means.T) + self.sq_means
        r = torch.softmax(self.log_w - 0.5 * sq_dist / v - 0.5 * self.dim * torch.log(v), dim=-1)
        a = self.variances / v
        return (r * (1.0 - a)) @ self.means + (r * a).sum(-1, keepdim=True) * x


def _nfe_for(budget: int, nfe_per_step: int) -> int:
    """The largest NFE ≤ budget of the form nfe_per_step·(M − 1) + 1."""
    return (budget - 1) // nfe_per_step * nfe_per_step + 1


def run(*, dim=DEFAULT["dim"], batch=DEFAULT["batch"], components=DEFAULT["components"],
        nfe=DEFAULT["nfe"], repeats=DEFAULT["repeats"], device="cpu", dtype=torch.float32,
        schedule="edm", seed=0, samplers=None, log=print) -> dict:
    """Time every sampler side by side; see the module docstring."""
    device = resolve_device(device) if isinstance(device, str) else device
    denoiser = IsotropicMixture.random(dim, components, seed, device=device, dtype=dtype)
    sched = get_schedule(schedule)
    entries, peer_reason = all_samplers(include_noise_form=True, plain_noise_2m=True)
    if samplers is not None:
        entries = [e for e in entries if e.name in samplers]
    gen = torch.Generator(device=device).manual_seed(seed)
    sigmas_by = {}
    for e in entries:
        budget = _nfe_for(nfe, e.nfe_per_step)
        sigmas_by[e.name] = (budget, karras_sigmas(sched, positive_sigmas(budget, e.nfe_per_step), device, dtype))
    sigma_max = float(next(iter(sigmas_by.values()))[1][0])
    x0 = (sigma_max * torch.randn((batch, dim), generator=gen, device=device, dtype=torch.float64)).to(dtype)

    # The model alone, on the same x and sigmas, so the samplers' own share can be read off.
    sig = next(iter(sigmas_by.values()))[1]
    model_times = []
    for _ in range(max(repeats, 3)):
        with Timer(device) as t:
            for s in sig[:-1]:
                denoiser(x0, s * x0.new_ones(batch))
        model_times.append(t.seconds / (sig.numel() - 1))

    order = [e for e in entries]
    rng = random.Random(seed)
    per_round = []
    for rnd in range(repeats + 1):  # round 0 warms up caches and lazy imports, and is dropped
        rng.shuffle(order)
        times = {}
        for e in order:
            budget, sigmas = sigmas_by[e.name]
            model = CountingModel(denoiser)
            torch.manual_seed(seed + rnd)
            with Timer(device) as t:
                out = e.run(model, x0.clone(), sigmas)
            if model.calls != budget:
                raise RuntimeError(f"{e.name} made {model.calls} model calls, expected {budget}")
            if not bool(torch.isfinite(out).all()):
                raise RuntimeError(f"{e.name} returned non-finite values")
            times[e.name] = t.seconds / budget
        if rnd > 0:
            per_round.append(times)
        log(f"round {rnd}: " + ", ".join(f"{k}={v * 1e3:.2f}ms" for k, v in sorted(times.items())))

    # Without k-diffusion the ratios are taken to our Euler–Maruyama instead (and say so).
    baseline = BASELINE if BASELINE in sigmas_by else ("euler-maruyama" if "euler-maruyama" in sigmas_by else None)
    model_per_nfe = summarize(model_times)["median"]
    rows = {}
    for e in entries:
        t = [r[e.name] for r in per_round]
        row = {"family": e.family, "nfe": sigmas_by[e.name][0], "nfe_per_step": e.nfe_per_step, "note": e.note,
               "seconds_per_nfe": summarize(t),
               "sampler_seconds_per_nfe": summarize([v - model_per_nfe for v in t])}
        if baseline is not None:
            row["ratio_to_baseline"] = summarize([r[e.name] / r[baseline] for r in per_round])
            row["ratio_to_2m_sde_randn"] = (summarize([r[e.name] / r["kd-dpmpp-2m-sde-randn"] for r in per_round])
                                            if "kd-dpmpp-2m-sde-randn" in sigmas_by else None)
        rows[e.name] = row
    return {"config": dict(dim=dim, batch=batch, components=components, nfe_budget=nfe, repeats=repeats,
                           dtype=str(dtype), schedule=schedule, seed=seed, baseline=baseline),
            "environment": environment(device), "peers_missing": peer_reason,
            "model_only_seconds_per_call": summarize(model_times), "samplers": rows}


# --------------------------------------------------------------------------------------------
# Memory-bandwidth roofline of our elementwise step
# --------------------------------------------------------------------------------------------


def copy_bandwidth(device, elements: int, repeats: int = 7, dtype=torch.float32) -> dict:
    """Bytes moved per second by ``dst.copy_(src)`` on arrays of ``elements`` (read + write).

    Measured at the size of the step's arrays, so that the step and the copy see the same
    level of the memory hierarchy (on a CPU with a large cache, both may be cache-resident).
    """
    src = torch.ones(elements, device=device, dtype=dtype)
    dst = torch.empty_like(src)
    nbytes = 2 * elements * src.element_size()
    inner = min(10_000, max(1, int(2e8 // nbytes)))  # ~0.2 GB per timing, so small arrays time well
    dst.copy_(src)
    rates = []
    for _ in range(repeats):
        with Timer(device) as t:
            for _ in range(inner):
                dst.copy_(src)
        rates.append(inner * nbytes / t.seconds)
    return {"bytes_per_second": summarize(rates), "elements": elements, "array_mib": elements * src.element_size() / 2**20}


class _ByteCounter:
    """Counts bytes of tensor arguments and results of every aten op run under it."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                counter.ops += 1
                for t in _tensors((args, kwargs, out)):
                    counter.bytes += t.numel() * t.element_size()
                return out

        self.mode = Mode()
        self.bytes = 0
        self.ops = 0


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def roofline(*, dim=DEFAULT["dim"], batch=DEFAULT["batch"], steps=200, repeats=5, device="cpu",
             dtype=torch.float32, samplers=("seeds1", "seeds2", "seeds3", "kd-dpmpp-2m-sde-randn",
                                                          "kd-euler-ancestral")) -> dict:
    """Bytes per step and the fraction of copy bandwidth our steps reach (model cost removed).

    The model returns one stored tensor, so a step's time is the solver's elementwise work
    and its noise draws. ``ideal_bytes_per_step`` is what a fused SEEDS-1 step must move:
    read x and D, write the new x (three arrays), the noise generated in registers.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    copy = copy_bandwidth(device, batch * dim, dtype=dtype)
    bw = copy["bytes_per_second"]
    x0 = torch.randn((batch, dim), device=device, dtype=dtype)
    stored = torch.randn_like(x0)

    def model(x, sigma, **kw):
        return stored

    entries, _ = all_samplers(include_noise_form=False, plain_noise_2m=True)
    entries = [e for e in entries if e.name in samplers]
    sched = get_schedule("edm")
    out = {"copy_bandwidth": bw, "copy_array_mib": copy["array_mib"], "elements": batch * dim, "dtype": str(dtype), "samplers": {}}
    element = torch.finfo(dtype).bits // 8
    for e in entries:
        sigmas = karras_sigmas(sched, steps + 1, device, dtype)  # steps positive intervals and the final 0
        counter = _ByteCounter()
        with counter.mode:
            e.run(model, x0.clone(), sigmas)
        times = []
        for _ in range(repeats):
            torch.manual_seed(0)
            with Timer(device) as t:
                e.run(model, x0.clone(), sigmas)
            times.append(t.seconds / steps)
        per_step = summarize(times)["median"]
        bytes_per_step = counter.bytes / steps
        row = {"seconds_per_step": summarize(times), "bytes_per_step": bytes_per_step,
               "ops_per_step": counter.ops / steps,
               "arrays_per_step": bytes_per_step / (batch * dim * element),
               "achieved_bytes_per_second": bytes_per_step / per_step,
               "fraction_of_copy_bandwidth": bytes_per_step / per_step / bw["median"]}
        if e.name == "seeds1":
            ideal = 3 * batch * dim * element
            row["ideal_bytes_per_step"] = ideal
            row["ideal_fraction_of_roofline"] = ideal / per_step / bw["median"]
        out["samplers"][e.name] = row
    return out


def main(argv=None) -> dict:
    warnings.filterwarnings("ignore", message="Should have t", module="torchsde")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--dim", type=int)
    parser.add_argument("--nfe", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--roofline", action="store_true", help="also measure bytes per step and bandwidth")
    parser.add_argument("--roofline-batch", type=int, help="rows of the roofline arrays (default: --batch)")
    parser.add_argument("--roofline-dim", type=int, help="columns of the roofline arrays (default: --dim)")
    parser.add_argument("--roofline-steps", type=int, help="steps timed per roofline solve (default 200; quick 20)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    sizes = dict(QUICK if args.quick else DEFAULT)
    for key in ("batch", "dim", "nfe", "repeats"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    result = run(device=args.device, **sizes)
    if args.roofline:
        result["roofline"] = roofline(dim=args.roofline_dim or sizes["dim"], batch=args.roofline_batch or sizes["batch"],
                                      device=args.device,
                                      steps=args.roofline_steps or (20 if args.quick else 200))
    result["config"]["quick"] = bool(args.quick)
    dev = resolve_device(args.device).type
    stem = f"overhead_{dev}" + ("_quick" if args.quick else "")
    write_json(args.out / f"{stem}.json", result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    lines = [f"baseline: {result['config']['baseline']}; peers missing: {result['peers_missing']}",
             f"model alone: {result['model_only_seconds_per_call']['median'] * 1e3:.3f} ms/call",
             f"{'sampler':24s}{'ms/NFE':>9s}{'ratio':>8s}{'(min':>7s}{'max)':>7s}{'vs randn 2M':>12s}"]
    for name, row in result["samplers"].items():
        r = row.get("ratio_to_baseline") or {}
        rr = row.get("ratio_to_2m_sde_randn") or {}
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        lines.append(f"{name:24s}{row['seconds_per_nfe']['median'] * 1e3:9.3f}{fmt(r.get('median')):>8s}"
                     f"{fmt(r.get('min')):>7s}{fmt(r.get('max')):>7s}{fmt(rr.get('median')):>12s}")
    if "roofline" in result:
        rl = result["roofline"]
        lines.append(f"copy bandwidth {rl['copy_bandwidth']['median'] / 1e9:.1f} GB/s "
                     f"(arrays of {rl['copy_array_mib']:.1f} MiB, as in the steps)")
        for name, row in rl["samplers"].items():
            extra = (f", fused-ideal {row['ideal_fraction_of_roofline']:.2f}" if "ideal_fraction_of_roofline" in row
                     else "")
            lines.append(f"  {name:24s}{row['arrays_per_step']:.1f} arrays/step, {row['ops_per_step']:.1f} ops/step, "
                         f"{row['fraction_of_copy_bandwidth']:.2f} of copy bandwidth{extra}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
