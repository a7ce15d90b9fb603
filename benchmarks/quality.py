"""Sample quality per NFE on Gaussian mixtures with exact marginals: ours against k-diffusion.

Every sampler gets the same k-diffusion sigmas at a given number of positive sigmas: the Karras
ρ = 7 spacing of σ̃ = σ/α = e^{−λ} between the schedule's end points (``lambda_grid(...,
"karras")``), with a trailing 0. The NFE of a sampler is ``nfe_per_step·(M − 1) + 1``
(see :mod:`benchmarks.registry`); budgets of the form 1 + 6j give every sampler (1, 2 or 3 calls
per step) the same NFE exactly. The start is an exact draw from p_σ̃ at the first sigma (the same
draw for every sampler at one problem and schedule).

The target is the law a perfect sampler returns on these sigmas: X ~ p_σ̃min exactly, then the
final step to 0, D(X, σ̃_min). A large exact draw from it is the reference R. Metrics of a
sample S (n points) against R:

* ``tv``: ½ Σ_k |ŵ_k(S) − ŵ_k(R)|, ŵ_k the fraction of points whose most responsible
  component (at σ̃ = 0) is k — mode coverage;
* ``sw2``: sliced Wasserstein-2 over fixed random directions (quantiles of S against the
  interpolated quantiles of R at levels (i + ½)/n);
* ``mean``: ‖m(S) − m(R)‖ / sqrt(tr C(R)); ``cov``: ‖C(S) − C(R)‖_F / ‖C(R)‖_F;
* ``logp``: |mean log p_0(S) − mean log p_0(R)| (exact mixture log-density at σ̃ = 0).

Noise floor: the same metric for independent exact samples of size n (``floor_reps`` of them);
the band is their 99th percentile. A sampler's 95% CI comes from a bootstrap of its n points.
NFE to optimal quality: the smallest budget whose point estimate lies in the band, per metric;
the overall value is the largest over the metrics (all metrics in their bands).

Run ``python -m benchmarks.quality`` (default sizes, < 15 min on 2 cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from seeds_verify.problems import get_problem
from seeds_verify.schedules import get_schedule, lambda_grid, sigmas_from_lambdas

from .common import RESULTS_DIR, set_threads, environment, resolve_device, write_json
from .registry import CountingModel, all_samplers, positive_sigmas

__all__ = ["PROBLEMS", "SCHEDULES", "METRICS", "Reference", "run", "main"]

# Short name -> get_problem name: 2-D ring of 8, 16-D with 16 components, one rare mode, far modes.
PROBLEMS = {"ring8": "gmm", "gmm16": "gmm16", "unequal": "gmm_unequal", "separated": "gmm_separated"}
SCHEDULES = ("vp_linear", "edm")
METRICS = ("tv", "sw2", "mean", "cov", "logp")
FLOOR_QUANTILE = 0.99

DEFAULT = dict(nfe=(7, 13, 25, 49, 97, 193, 385), n=2000, n_high_dim=1000, ref_factor=25,
               floor_reps=100, boot=20, projections=32)
QUICK = dict(nfe=(7, 13, 25), n=256, n_high_dim=256, ref_factor=8, floor_reps=20, boot=10,
             projections=16)


def karras_sigmas(schedule, n_positive: int, device, dtype=torch.float64) -> torch.Tensor:
    """M positive sigmas (Karras ρ = 7 spacing of e^{−λ} over the schedule's range) and a 0.

    Give ``dtype`` = the samples' dtype: k-diffusion's Euler/Heun broadcast a sigma taken from
    ``sigmas`` against x and would promote float32 samples to float64.
    """
    lams = lambda_grid(schedule, n_positive - 1, "karras")
    return sigmas_from_lambdas(lams, append_zero=True, dtype=dtype, device=device)


class Reference:
    """The exact target law on one problem and σ̃_min, and the metrics against it."""

    def __init__(self, problem, sigma_min: float, n: int, n_ref: int, projections: int,
                 device, seed: int):
        self.problem, self.sigma_min, self.n, self.device = problem, float(sigma_min), n, device
        gen = torch.Generator(device=device).manual_seed(seed)
        self._gen = gen
        proj = torch.randn((problem.dim, projections), generator=gen, device=device, dtype=torch.float64)
        self.directions = proj / proj.norm(dim=0, keepdim=True)
        ref = self.draw(n_ref)
        stats = self.per_point(ref)
        self.weights = np.bincount(stats["label"], minlength=problem.n_components) / n_ref
        self.mean = ref.mean(0)
        self.cov = torch.cov(ref.T).reshape(problem.dim, problem.dim)
        self.scale = math.sqrt(float(torch.trace(self.cov)))
        self.cov_norm = float(torch.linalg.matrix_norm(self.cov))
        self.logp = float(stats["logp"].mean())
        levels = (torch.arange(n, device=device, dtype=torch.float64) + 0.5) / n
        self.quantiles = torch.quantile(stats["proj"], levels, dim=0)  # (n, P)

    def draw(self, n: int) -> torch.Tensor:
        """n exact draws of D(X, σ̃_min), X ~ p_σ̃min: what a perfect sampler returns."""
        x = self.problem.sample(n, self.sigma_min, generator=self._gen, device=self.device)
        sigma = torch.full((n,), self.sigma_min, dtype=torch.float64, device=self.device)
        return self.problem.denoiser(x, sigma)

    def per_point(self, x: torch.Tensor) -> dict:
        """What the metrics need of each point: component label, log p_0, projections."""
        x = x.to(torch.float64)
        label = self.problem.responsibilities(x, 0.0).argmax(-1).cpu().numpy()
        return {"x": x, "label": label, "logp": self.problem.log_density(x, 0.0), "proj": x @ self.directions}

    def metrics(self, pts: dict, index=None) -> dict:
        """The five metrics of the sample described by ``pts`` (rows ``index`` if given)."""
        x, label, logp, proj = pts["x"], pts["label"], pts["logp"], pts["proj"]
        if index is not None:
            x, logp, proj = x[index], logp[index], proj[index]
            label = label[index.cpu().numpy()]
        n = x.shape[0]
        if n != self.n:
            raise ValueError(f"sample has {n} points, the reference quantiles are for {self.n}")
        w = np.bincount(label, minlength=self.problem.n_components) / n
        sw2 = torch.sqrt(((torch.sort(proj, dim=0).values - self.quantiles) ** 2).mean())
        cov = torch.cov(x.T).reshape(self.problem.dim, self.problem.dim)
        return {
            "tv": float(0.5 * np.abs(w - self.weights).sum()),
            "sw2": float(sw2),
            "mean": float(torch.linalg.vector_norm(x.mean(0) - self.mean)) / self.scale,
            "cov": float(torch.linalg.matrix_norm(cov - self.cov)) / self.cov_norm,
            "logp": abs(float(logp.mean()) - self.logp),
        }

    def floor(self, reps: int) -> dict:
        """Each metric between independent exact samples of size n and R: median and band."""
        values = {m: [] for m in METRICS}
        for _ in range(reps):
            for m, v in self.metrics(self.per_point(self.draw(self.n))).items():
                values[m].append(v)
        return {m: {"median": float(np.median(v)), "band": float(np.quantile(v, FLOOR_QUANTILE)),
                    "reps": reps} for m, v in values.items()}

    def bootstrap(self, pts: dict, boot: int, seed: int) -> dict:
        """95% percentile intervals of each metric over ``boot`` resamples of the points."""
        if boot < 2:
            return {}
        gen = torch.Generator(device=self.device).manual_seed(seed)
        values = {m: [] for m in METRICS}
        for _ in range(boot):
            idx = torch.randint(0, self.n, (self.n,), generator=gen, device=self.device)
            for m, v in self.metrics(pts, idx).items():
                values[m].append(v)
        return {m: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] for m, v in values.items()}


def nfe_to_quality(curve: dict, floor: dict) -> dict:
    """Per metric and overall: the smallest NFE whose value lies within the floor band.

    ``curve`` maps NFE -> metrics (None where the sampler failed). Also reports whether a
    larger budget leaves the band again (``left_band_after``).
    """
    budgets = sorted(curve)
    out = {}
    for m in METRICS:
        inside = [nfe for nfe in budgets if curve[nfe] is not None and curve[nfe][m] <= floor[m]["band"]]
        first = inside[0] if inside else None
        left = [nfe for nfe in budgets if first is not None and nfe > first and nfe not in inside]
        out[m] = {"nfe": first, "left_band_after": left}
    firsts = [out[m]["nfe"] for m in METRICS]
    out["all"] = None if any(f is None for f in firsts) else max(firsts)
    # Metrics that are back outside their band at some budget above ``all``: the value rests on
    # a budget where the curve only touched the band.
    out["leaves_band_above_all"] = sorted(m for m in METRICS if out["all"] is not None
                                          and any(b > out["all"] for b in out[m]["left_band_after"]))
    return out


def _ratio(a, b):
    if a is None or b is None:
        return None
    return a / b


def run(*, problems=tuple(PROBLEMS), schedules=SCHEDULES, nfe=DEFAULT["nfe"], n=DEFAULT["n"],
        n_high_dim=DEFAULT["n_high_dim"], ref_factor=DEFAULT["ref_factor"],
        floor_reps=DEFAULT["floor_reps"], boot=DEFAULT["boot"], projections=DEFAULT["projections"],
        samplers=None, device="cpu", seed=0, log=print, partial_path=None) -> dict:
    """Run the study; returns the JSON-ready result (see the module docstring).

    With ``partial_path`` the result so far is written there after every problem/schedule, so a
    run stopped by a time limit still leaves its finished cases.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    entries, peer_reason = all_samplers(include_noise_form=True)
    if samplers is not None:
        unknown = set(samplers) - {e.name for e in entries}
        if unknown:
            raise ValueError(f"samplers not available: {sorted(unknown)} (peers: {peer_reason or 'present'})")
        entries = [e for e in entries if e.name in samplers]
    for b in nfe:
        if (b - 1) % 6 or b < 7:
            raise ValueError(f"every NFE budget must be 1 + a multiple of 6 and >= 7, got {b}")
    result = {"config": dict(problems=list(problems), schedules=list(schedules), nfe=list(nfe), n=n,
                             n_high_dim=n_high_dim, ref_factor=ref_factor, floor_reps=floor_reps,
                             boot=boot, projections=projections, seed=seed, spacing="karras rho=7",
                             floor_quantile=FLOOR_QUANTILE, eta=1.0),
              "environment": environment(device),
              "samplers": {e.name: {"family": e.family, "nfe_per_step": e.nfe_per_step, "note": e.note,
                                    "options": e.options} for e in entries},
              "peers_missing": peer_reason, "cases": []}
    start = time.perf_counter()
    for ci, pname in enumerate(problems):
        problem = get_problem(PROBLEMS[pname])
        size = n_high_dim if problem.dim > 2 else n
        for si, sname in enumerate(schedules):
            schedule = get_schedule(sname)
            case_seed = seed * 1000 + 10 * ci + si
            probe = karras_sigmas(schedule, 2, device)
            sigma_max, sigma_min = float(probe[0]), float(probe[1])
            ref = Reference(problem, sigma_min, size, ref_factor * size, projections, device, case_seed)
            floor = ref.floor(floor_reps)
            gen = torch.Generator(device=device).manual_seed(case_seed + 7)
            x_start = problem.sample(size, sigma_max, generator=gen, device=device)
            case = {"problem": pname, "schedule": sname, "dim": problem.dim, "n": size,
                    "sigma_max": sigma_max, "sigma_min": sigma_min, "floor": floor, "curves": {}}
            for entry in entries:
                curve = {}
                for budget in nfe:
                    sigmas = karras_sigmas(schedule, positive_sigmas(budget, entry.nfe_per_step), device)
                    model = CountingModel(problem.denoiser)
                    torch.manual_seed(case_seed * 7919 + budget)
                    t0 = time.perf_counter()
                    out = entry.run(model, x_start.clone(), sigmas)
                    seconds = time.perf_counter() - t0
                    if model.calls != budget:
                        raise RuntimeError(f"{entry.name} made {model.calls} model calls, expected {budget}")
                    point = {"nfe": budget, "seconds": seconds}
                    if torch.isfinite(out).all():
                        pts = ref.per_point(out)
                        point["metrics"] = ref.metrics(pts)
                        point["ci95"] = ref.bootstrap(pts, boot, case_seed + budget)
                    else:
                        point["metrics"] = None
                        point["error"] = "non-finite output"
                    curve[budget] = point
                case["curves"][entry.name] = {
                    "points": [curve[b] for b in nfe],
                    "nfe_to_quality": nfe_to_quality({b: curve[b]["metrics"] for b in nfe}, floor),
                }
            case["headline"] = _headline(case)
            result["cases"].append(case)
            if partial_path is not None:
                write_json(partial_path, result)
            log(f"[{time.perf_counter() - start:7.1f}s] {pname}/{sname}: "
                + ", ".join(f"{k}={v['nfe_to_quality']['all']}" for k, v in case["curves"].items()))
    result["seconds"] = time.perf_counter() - start
    result["summary"] = _summary(result)
    return result


def _headline(case: dict) -> dict:
    """NFE to optimal quality of each sampler and its ratio to SEEDS-3's and SEEDS-2's."""
    nfe_all = {name: c["nfe_to_quality"]["all"] for name, c in case["curves"].items()}
    out = {}
    for name, value in nfe_all.items():
        out[name] = {"nfe": value, "ratio_to_seeds3": _ratio(value, nfe_all.get("seeds3")),
                     "ratio_to_seeds2": _ratio(value, nfe_all.get("seeds2"))}
    return out


def _summary(result: dict) -> dict:
    """The NFE-to-quality table (rows = samplers, one column per problem/schedule) and, per
    sampler, the median over cases of its NFE ratio to SEEDS-3 and to SEEDS-2 (cases where
    both reached the band; ``unreached`` counts the cases where this sampler did not)."""
    table, ratios3, ratios2, unreached = {}, {}, {}, {}
    for case in result["cases"]:
        key = f"{case['problem']}/{case['schedule']}"
        for name, row in case["headline"].items():
            table.setdefault(name, {})[key] = row["nfe"]
            unreached[name] = unreached.get(name, 0) + (row["nfe"] is None)
            if row["ratio_to_seeds3"] is not None:
                ratios3.setdefault(name, []).append(row["ratio_to_seeds3"])
            if row["ratio_to_seeds2"] is not None:
                ratios2.setdefault(name, []).append(row["ratio_to_seeds2"])
    ratio = {name: {"median_ratio_to_seeds3": float(np.median(ratios3[name])) if name in ratios3 else None,
                    "median_ratio_to_seeds2": float(np.median(ratios2[name])) if name in ratios2 else None,
                    "cases_compared_to_seeds3": len(ratios3.get(name, [])),
                    "cases_unreached": unreached[name]} for name in table}
    return {"nfe_to_quality": table, "ratios": ratio, "max_nfe_tried": max(result["config"]["nfe"])}


def format_table(result: dict) -> str:
    """The summary as a fixed-width text table (">N" where a sampler never reached the band)."""
    table = result["summary"]["nfe_to_quality"]
    top = result["summary"]["max_nfe_tried"]
    cols = [f"{c['problem']}/{c['schedule']}" for c in result["cases"]]
    width = max(len(c) for c in cols) + 1
    ratios = result["summary"]["ratios"]
    lines = ["sampler".ljust(22) + "".join(c.rjust(width) for c in cols) + "  /SEEDS-3  /SEEDS-2"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    unsteady = {(c["problem"] + "/" + c["schedule"], name) for c in result["cases"]
                for name, curve in c["curves"].items() if curve["nfe_to_quality"].get("leaves_band_above_all")}
    for name, row in table.items():
        cells = [((str(row[c]) + ("*" if (c, name) in unsteady else "")) if row[c] is not None
                  else f">{top}").rjust(width) for c in cols]
        lines.append(name.ljust(22) + "".join(cells) + fmt(ratios[name]["median_ratio_to_seeds3"]).rjust(10)
                     + fmt(ratios[name]["median_ratio_to_seeds2"]).rjust(9))
    lines.append(f"* some metric leaves its band again at a larger budget (see nfe_to_quality in the JSON)")
    return "\n".join(lines)


def plot(result: dict, path: Path, metric: str = "sw2") -> Path:
    """One panel per problem/schedule: ``metric`` against NFE, with the noise-floor band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = result["cases"]
    problems = list(dict.fromkeys(c["problem"] for c in cases))
    schedules = list(dict.fromkeys(c["schedule"] for c in cases))
    fig, axes = plt.subplots(len(problems), len(schedules), figsize=(5.5 * len(schedules), 3.6 * len(problems)),
                             squeeze=False)
    names = list(result["samplers"])
    palette = plt.get_cmap("tab20")
    styles = {name: palette(i % 20) for i, name in enumerate(names)}
    for c in cases:
        ax = axes[problems.index(c["problem"])][schedules.index(c["schedule"])]
        for name, curve in c["curves"].items():
            xs = [p["nfe"] for p in curve["points"] if p["metrics"] is not None]
            ys = [p["metrics"][metric] for p in curve["points"] if p["metrics"] is not None]
            ours = result["samplers"][name]["family"] == "ours"
            ls = "-" if ours else "--"
            ax.plot(xs, ys, ls, marker="o" if ours else "s", ms=3, lw=1.2, label=name, color=styles[name])
        fl = c["floor"][metric]
        ax.axhspan(0, fl["band"], color="0.85", zorder=0)
        ax.axhline(fl["median"], color="0.5", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{c['problem']} / {c['schedule']} (n={c['n']})", fontsize=9)
        ax.set_xlabel("NFE")
        ax.set_ylabel(metric)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle(f"{metric} vs NFE (grey: exact-sample noise floor, band = {FLOOR_QUANTILE:.0%} quantile)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    # k-diffusion builds its Brownian tree on float32 copies of the end sigmas, so torchsde
    # reports queries a rounding error outside [t0, t1]; the queries are still answered.
    warnings.filterwarnings("ignore", message="Should have t", module="torchsde")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--problems", nargs="+", choices=tuple(PROBLEMS))
    parser.add_argument("--schedules", nargs="+", choices=SCHEDULES)
    parser.add_argument("--samplers", nargs="+")
    parser.add_argument("--nfe", nargs="+", type=int)
    parser.add_argument("--n", type=int, help="samples per run on the 2-D problems")
    parser.add_argument("--n-high-dim", type=int, help="samples per run on the 16-D problem")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--replot", type=Path, help="re-derive summary and plot from a result JSON; no sampling")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.replot is not None:
        with open(args.replot) as fh:
            result = json.load(fh)
        for case in result["cases"]:
            for curve in case["curves"].values():
                curve["nfe_to_quality"] = nfe_to_quality(
                    {p["nfe"]: p["metrics"] for p in curve["points"]}, case["floor"])
            case["headline"] = _headline(case)
        result["summary"] = _summary(result)
        write_json(args.replot, result)
        plot(result, args.replot.with_suffix(".png"))
        print(format_table(result))
        return result
    sizes = dict(QUICK if args.quick else DEFAULT)
    stem = ("quality_quick" if args.quick else "quality") + ("" if resolve_device(args.device).type == "cpu" else "_cuda")
    for key in ("nfe", "n", "n_high_dim"):
        if getattr(args, key) is not None:
            sizes[key] = tuple(args.nfe) if key == "nfe" else getattr(args, key)
    result = run(problems=tuple(args.problems or PROBLEMS), schedules=tuple(args.schedules or SCHEDULES),
                 samplers=args.samplers, device=args.device, partial_path=args.out / f"{stem}.partial.json",
                 **sizes)
    result["config"]["quick"] = bool(args.quick)
    (args.out / f"{stem}.partial.json").unlink(missing_ok=True)
    write_json(args.out / f"{stem}.json", result)
    if not args.no_plot:
        plot(result, args.out / f"{stem}.png")
    if result["peers_missing"]:
        print(f"peers skipped: {result['peers_missing']}")
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
