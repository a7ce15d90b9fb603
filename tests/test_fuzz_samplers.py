"""Property tests of the public k-diffusion entry points over their whole accepted input space.

Every entry point (sample_seeds_1/2/3 and run_karras_sampler) is driven by hypothesis, with a
fixed derandomised search, through four categories:

* ``exact``: the point-mass denoiser D ≡ x0 in the data form. Every SEEDS data-form scheme is
  exact there (MATH §8): the model terms of a step sum to α_t(1 − e^{−H}) x0 whatever the stage
  values, so the end point is L x_s + (1 − e^{−H}) x0 + σ_t Σ_j F_mj z_j with the end-point noise
  row of MATH §7. The reference below iterates that formula in float64 on the recorded draws.
* ``noise_form``: the same problem with ``prediction="noise"`` at η = 0, also exact in exact
  arithmetic (ε̂ is constant along the exact flow); steps whose rounding gain is beyond the
  documented limit must be refused with a ValueError naming ``sigmas``.
* ``stochastic``: a Gaussian denoiser, any η ∈ [0, 1], s_noise ∈ [0, 2], either form: the output
  must be finite with x's shape and dtype (or the noise-form step refusal above).
* ``invalid``: a wrong argument (type, NaN, sign, shape, range, fraction beyond the conditioning
  bound) or a bad ``model``/``noise_sampler`` output must raise ValueError/TypeError whose
  message names the argument.

Tolerances of the exact categories. A step evaluates each stage as one product L·x plus at
most 3 model products and 3 noise products, each rounded (unit roundoff u of the working
dtype); a weight of a stage interpolant is at most Λ (its Lebesgue constant, ≤ 4096 by the
bound of seeds_verify.schemes) times the kernel mass ≤ 1, so a step adds at most
(1 + 3Λ + 3)·u·S ≤ 7Λ·u·S of absolute error, S the largest magnitude of the iterate, the
point and the noise terms; L ≤ 1 damps earlier errors. Over N steps: 7Λ(N + 1)·u·S, with
the coefficients themselves a few ulp off (absorbed by doubling: 14Λ(N + 1)·u·S). In the
noise form the stage values feed ε̂ = (x − D)/σ, which multiplies their rounding by the
step's gain G_n (``ExponentialSolver.rounding_gain``): 14(Σ_n G_n + N + 1)·u·S.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from seeds_verify import sample_seeds_1, sample_seeds_2, sample_seeds_3
from seeds_verify.samplers import run_karras_sampler
from seeds_verify.schedules import EDM
from seeds_verify.schemes import MAX_LEBESGUE_CONSTANT
from seeds_verify.solvers import SEEDS1, SEEDS2, SEEDS3, DDPMAncestral

ENTRY_POINTS = ("sample_seeds_1", "sample_seeds_2", "sample_seeds_3", "run_karras_sampler")
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
R_MIN = 2.0 / 4097.0  # SEEDS-2: Λ = 2/r − 1 ≤ 4096
COMMON = (0.5, 1 / 3, 2 / 3, 0.25, 0.75, 0.1, 0.9)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


@st.composite
def sigma_grids(draw, max_steps: int = 60):
    """Decreasing sigmas inside [1e-4, 1e4], optionally ending in 0: random gaps in log σ, a
    log-uniform grid of up to ``max_steps`` steps, one or two wide steps (up to the whole range in
    one step), or a single σ."""
    lo, hi = math.log(1e-4), math.log(1e4)
    top = draw(st.floats(lo + 0.05, hi))
    mode = draw(st.sampled_from(["gaps", "uniform", "single", "wide"]))
    if mode == "single":
        return [math.exp(top), 0.0]
    if mode == "wide":  # one or two steps of 5 or more e-folds
        assume(top - lo > 5.0)
        cuts = sorted(draw(st.lists(st.floats(5.0, top - lo), min_size=1, max_size=2, unique=True)))
        logs = top - np.array([0.0] + cuts)
    elif mode == "uniform":
        n = draw(st.integers(1, max_steps))
        bottom = draw(st.floats(lo, top - 0.01))
        logs = np.linspace(top, bottom, n + 1)
    else:
        gaps = draw(st.lists(st.one_of(st.floats(1e-3, 2.0), st.floats(2.0, hi - lo)), min_size=1, max_size=12))
        total = sum(gaps)
        if total > top - lo:
            gaps = [g * (top - lo) / total for g in gaps]
        logs = top - np.concatenate([[0.0], np.cumsum(gaps)])
    sig = np.exp(np.maximum(logs, lo))
    assume(np.all(np.diff(-np.log(sig)) > 0))
    final_zero = draw(st.booleans())
    return (np.concatenate([sig, [0.0]]) if final_zero else sig).tolist()


def lebesgue_dense(nodes) -> float:
    """max of Σ_j |ℓ_j(v)| over a dense grid of [0, 1] plus the nodes: a lower bound of Λ
    computed independently of seeds_verify.schemes."""
    v = np.concatenate([np.linspace(0.0, 1.0, 20001), nodes])
    total = np.zeros_like(v)
    for j, vj in enumerate(nodes):
        ell = np.ones_like(v)
        for k, vk in enumerate(nodes):
            if k != j:
                ell = ell * (v - vk) / (vj - vk)
        total += np.abs(ell)
    return float(total.max())


def scheme_lebesgue(kind: str, fr: tuple) -> float:
    """Largest Λ over the stages of a scheme (dense-grid lower bound; exact for ≤ 2 nodes)."""
    if kind == "seeds2":
        return lebesgue_dense([0.0, fr[0]])
    if kind == "seeds3a":
        return max(lebesgue_dense([0.0, fr[0] / fr[1]]), lebesgue_dense([0.0, fr[1]]))
    if kind == "seeds3b":
        return max(lebesgue_dense([0.0, fr[0] / fr[1]]), lebesgue_dense([0.0, fr[0], fr[1]]))
    return 1.0


@st.composite
def schemes(draw, entry: str):
    """(kind, fractions, variant, call) for one entry point; fractions inside the documented bound."""
    if entry == "run_karras_sampler":
        kind = draw(st.sampled_from(["seeds1", "seeds2", "seeds3a", "seeds3b", "ddpm"]))
    else:
        kind = {"sample_seeds_1": "seeds1", "sample_seeds_2": "seeds2"}.get(entry) \
            or draw(st.sampled_from(["seeds3a", "seeds3b"]))
    if kind in ("seeds1", "ddpm"):
        fr, variant = (1.0,), None
    elif kind == "seeds2":
        r = draw(st.one_of(st.sampled_from(COMMON + (1.0, R_MIN * (1 + 1e-12))), st.floats(R_MIN * (1 + 1e-12), 1.0)))
        fr, variant = (r, 1.0), draw(st.sampled_from(["phi_1", "phi_2"]))
    else:
        r1 = draw(st.one_of(st.sampled_from(COMMON[:6]), st.floats(1e-3, 0.99)))
        r2 = draw(st.one_of(st.sampled_from([2 / 3, 0.75, 0.9, 0.999]), st.floats(r1, 1.0, exclude_min=True,
                                                                                   exclude_max=True)))
        assume(r1 < r2 < 1.0)
        fr, variant = (r1, r2, 1.0), kind[-2:]
        # well inside the bound by an independent estimate (the boundary itself is tested in
        # tests/test_coefficients_conditioning.py)
        assume(scheme_lebesgue(kind, fr) <= 0.99 * MAX_LEBESGUE_CONSTANT)
    return kind, fr, variant


def label(kind, fr, variant, sigmas, shape, dtype, **extra):
    """hypothesis events: which corners of the input space a run covered (--hypothesis-show-statistics)."""
    steps = sum(s > 0 for s in sigmas) - 1
    event(f"scheme={kind}{'' if variant is None else ':' + variant}")
    event(f"dtype={str(dtype).replace('torch.', '')}")
    event(f"steps={'0' if steps == 0 else '1' if steps == 1 else '2-9' if steps < 10 else '10+'}")
    event(f"final_zero={sigmas[-1] == 0.0}")
    event(f"ndim={len(shape)}")
    if kind != "seeds1" and kind != "ddpm":
        gap = min(np.diff((0.0,) + tuple(fr))[:-1])
        event(f"min fraction gap={'<1e-2' if gap < 1e-2 else '>=1e-2'}")
    for key, value in extra.items():
        event(f"{key}={value}")


def call(entry: str, kind: str, fr: tuple, variant, **kwargs):
    """Call an entry point with the scheme's own arguments."""
    if entry == "run_karras_sampler":
        solver = {"seeds1": lambda: SEEDS1(), "ddpm": lambda: DDPMAncestral(),
                  "seeds2": lambda: SEEDS2(fr[0], variant),
                  "seeds3a": lambda: SEEDS3(fr[0], fr[1], "3a"), "seeds3b": lambda: SEEDS3(fr[0], fr[1], "3b")}[kind]()
        return run_karras_sampler(solver, **kwargs)
    if entry == "sample_seeds_1":
        return sample_seeds_1(**kwargs)
    if entry == "sample_seeds_2":
        return sample_seeds_2(**kwargs, r=fr[0], solver_type=variant)
    return sample_seeds_3(**kwargs, r_1=fr[0], r_2=fr[1], solver_type=variant)


def solver_of(kind: str, fr: tuple, variant):
    return {"seeds1": SEEDS1, "ddpm": DDPMAncestral}[kind]() if kind in ("seeds1", "ddpm") else \
        SEEDS2(fr[0], variant) if kind == "seeds2" else SEEDS3(fr[0], fr[1], variant)


shapes = st.one_of(
    st.tuples(st.integers(1, 4), st.integers(1, 5)),
    st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
)
dtypes = st.sampled_from([torch.float32, torch.float64])


class Recorder:
    """A noise sampler replaying seeded standard normals of a fixed shape (float64)."""

    def __init__(self, shape, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.draws = []

    def __call__(self, sigma_a, sigma_b):
        z = torch.randn(self.shape, generator=self.gen, dtype=torch.float64)
        self.draws.append(z)
        return z


def resolved_subintervals(sigmas, fractions) -> bool:
    """Whether every noise sub-interval of every step is far longer than float64's σ resolution."""
    pos = [s for s in sigmas if s > 0]
    for s, t in zip(pos[:-1], pos[1:]):
        h = math.log(s) - math.log(t)
        prev = 0.0
        for c in fractions:
            if c != prev and (c - prev) * h < 1e-9 * max(1.0, abs(math.log(t))):
                return False
            prev = c
    return True


def point_mass(x0):
    def model(x, sigma):
        return x0.to(x.dtype).expand_as(x)
    return model


def gaussian(x, sigma):
    """Data N(0.3, 0.5²) per coordinate: D = 0.3 + 0.25/(0.25 + σ²)(x − 0.3) (MATH §8)."""
    s2 = sigma.reshape((-1,) + (1,) * (x.ndim - 1)).to(x.dtype) ** 2
    return 0.3 + 0.25 / (0.25 + s2) * (x - 0.3)


def reference_point_mass(x, sigmas, fractions, eta, s_noise, draws, x0, noisy):
    """float64 iterate of x_t = L x_s + (1 − e^{−H}) x0 + s_noise σ_t Σ_j F_mj z_j (MATH §6–§8)."""
    pos = [s for s in sigmas if s > 0]
    it = iter(draws)
    scale = float(x.abs().max()) + float(x0.abs().max())
    for s, t in zip(pos[:-1], pos[1:]):
        h = math.log(s) - math.log(t)
        new = (t / s) * math.exp(-eta * h) * x + (-math.expm1(-(1 + eta) * h)) * x0
        if noisy:
            prev = 0.0
            for c in fractions:
                if c == prev:
                    continue  # zero-length sub-interval: nothing drawn
                z = next(it)
                coef = t * math.sqrt(-math.expm1(-2 * eta * (c - prev) * h)) * math.exp(-eta * (1 - c) * h)
                new = new + s_noise * coef * z
                scale = max(scale, abs(s_noise * coef) * float(z.abs().max()))
                prev = c
        x = new
        scale = max(scale, float(x.abs().max()))
    if sigmas[-1] == 0.0:
        x = x0.expand_as(x)
    return x, scale


# --------------------------------------------------------------------------------------------
# Valid inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), sigmas=sigma_grids(), shape=shapes, dtype=dtypes,
       eta=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
       s_noise=st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.0, 2.0)), seed=st.integers(0, 2 ** 16))
def test_fuzz_exact_on_a_point_mass(entry, data, sigmas, shape, dtype, eta, s_noise, seed):
    """Data form, any η and s_noise: the recorded path gives the point-mass solution to rounding."""
    kind, fr, variant = data.draw(schemes(entry))
    if kind == "ddpm":
        eta = 0.0  # the DDIM step is exact at η = 0 only
    # A sub-interval whose end points share one float64 σ is drawn with randn_like rather than
    # asked of the noise_sampler (tests/test_samplers.py checks that case); the replayed reference
    # needs every draw, so such sub-intervals are left out here.
    assume(resolved_subintervals(sigmas, fr))
    label(kind, fr, variant, sigmas, shape, dtype, noise="on" if eta > 0 and s_noise > 0 else "off")
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape[1:], generator=gen, dtype=torch.float64).to(dtype)
    x = (x0.double() + sigmas[0] * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    rec = Recorder(shape, seed + 1)
    out = call(entry, kind, fr, variant, model=point_mass(x0), x=x, sigmas=sigmas, eta=eta, s_noise=s_noise,
               noise_sampler=rec, disable=True)
    assert out.dtype == dtype and out.shape == x.shape and torch.isfinite(out).all()
    draws = [d.to(dtype).double() for d in rec.draws]
    noisy = eta > 0.0 and s_noise > 0.0
    ref, scale = reference_point_mass(x.double(), sigmas, fr, eta, s_noise, draws, x0.double(), noisy)
    n_steps = sum(s > 0 for s in sigmas) - 1
    unit = torch.finfo(dtype).eps / 2
    cond = max(scheme_lebesgue(kind, fr), 1.0)
    tol = 14 * cond * (n_steps + 1) * unit * scale
    err = float((out.double() - ref).abs().max())
    assert err <= tol, (err, tol, kind, fr, variant, sigmas)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@settings(max_examples=100, **SETTINGS)
@given(data=st.data(), sigmas=sigma_grids(), shape=shapes, dtype=dtypes, seed=st.integers(0, 2 ** 16))
def test_fuzz_noise_form_exact_or_refused(entry, data, sigmas, shape, dtype, seed):
    """Noise form, η = 0, point mass: exact to the rounding the gains allow, or a named refusal."""
    kind, fr, variant = data.draw(schemes(entry))
    label(kind, fr, variant, sigmas, shape, dtype)
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape[1:], generator=gen, dtype=torch.float64).to(dtype)
    x = (x0.double() + sigmas[0] * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    pos = np.array([s for s in sigmas if s > 0])
    unit = torch.finfo(dtype).eps / 2
    solver = solver_of(kind, fr, variant)
    gains = solver.rounding_gain(-np.log(pos), EDM(), 0.0, "noise") if pos.size > 1 and kind != "ddpm" \
        else np.zeros(0)
    try:
        out = call(entry, kind, fr, variant, model=point_mass(x0), x=x, sigmas=sigmas, eta=0.0,
                   prediction="noise", disable=True)
    except ValueError as exc:
        assert "sigmas" in str(exc) and "prediction='noise'" in str(exc)
        # gains recomputed here on the EDM schedule, the sampler's on the caller's exact sigmas:
        # equal to a few ulp, hence the 1e-9 slack at the limit
        assert np.any(gains * unit > 2.0 ** -12 * (1 - 1e-9)), (gains, str(exc))
        event("outcome=refused (rounding gain)")
        return
    event("outcome=exact")
    assert np.all(gains * unit <= 2.0 ** -12 * (1 + 1e-9))
    assert out.dtype == dtype and torch.isfinite(out).all()
    ref, scale = reference_point_mass(x.double(), sigmas, fr, 0.0, 0.0, [], x0.double(), False)
    tol = 14 * (float(np.sum(gains)) + pos.size) * unit * scale
    err = float((out.double() - ref).abs().max())
    assert err <= tol, (err, tol, kind, fr, sigmas)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@settings(max_examples=80, **SETTINGS)
@given(data=st.data(), sigmas=sigma_grids(), shape=shapes, dtype=dtypes, eta=st.floats(0.0, 1.0),
       s_noise=st.floats(0.0, 2.0), prediction=st.sampled_from(["data", "noise"]),
       own_noise=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_fuzz_stochastic_outputs_are_finite(entry, data, sigmas, shape, dtype, eta, s_noise, prediction,
                                            own_noise, seed):
    kind, fr, variant = data.draw(schemes(entry))
    label(kind, fr, variant, sigmas, shape, dtype, prediction=prediction,
          noise_sampler="own" if own_noise else "default")
    torch.manual_seed(seed)
    x = (sigmas[0] * torch.randn(shape, dtype=torch.float64)).to(dtype)
    try:
        out = call(entry, kind, fr, variant, model=gaussian, x=x, sigmas=sigmas, eta=eta, s_noise=s_noise,
                   prediction=prediction, noise_sampler=Recorder(shape, seed) if own_noise else None,
                   disable=True)
    except ValueError as exc:
        assert prediction == "noise" and "sigmas" in str(exc) and "prediction='noise'" in str(exc), str(exc)
        event("outcome=refused (rounding gain)")
        return
    event("outcome=finite")
    assert out.dtype == dtype and out.shape == x.shape and torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------
# Invalid inputs
# --------------------------------------------------------------------------------------------

X = torch.zeros(2, 3)
SIG = [10.0, 3.0, 1.0, 0.0]
COINCIDE = (777.7, 1234.5, 8e3, 150.0, 0.001, 2e-4)  # their one-ulp-smaller neighbours share their float64 λ


def _ulp_pair(v):
    w = float(np.nextafter(v, 0.0))
    assert np.log(v) == np.log(w)  # precondition: λ coincide (as the sampler computes it)
    return [v, w]


BAD_COMMON = {
    "sigmas": [[float("nan"), 1.0], [1.0, float("inf")], [1.0, -0.5], [1.0, 2.0], [1.0], [[1.0, 0.5]], [],
               "abc", [1.0, "a"], np.array([1.0 + 1j, 0.5]), torch.tensor([2.0 + 0j, 1.0]), [True, False], None,
               torch.tensor([True, False])] + [_ulp_pair(v) for v in COINCIDE],
    "x": [torch.tensor(1.0), torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.complex64),
          torch.tensor([[float("nan"), 0.0, 0.0]]), torch.tensor([[float("inf"), 0.0]]), [[0.0, 1.0]],
          np.zeros((2, 3)), None],
    "eta": [float("nan"), -0.1, 1.01, "0.5", None, True, 1j, float("inf"), torch.tensor(0.5)],
    "s_noise": [float("nan"), -1.0, float("inf"), "abc", 1j, None, True, torch.tensor(1.0), -1e-300],
    "prediction": ["v", None, 3, ["data"], "DATA"],
    "extra_args": [[1], "a", {1: 2}],
    "noise_sampler": [3, "f"],
    "callback": [3, "g"],
    "model": [None, 3, "m"],
}
BAD_FRACTIONS = {
    "sample_seeds_2": {"r": [0.0, 1.0 + 1e-9, float("nan"), -0.5, None, "0.5", True, 1e-5, 4.8e-4, 1e-300,
                             torch.tensor(0.5), float("inf")],
                       "solver_type": ["phi_9", None, 3]},
    "sample_seeds_3": {"r_1": [None, "1/3", 0.0, float("nan"), 1e-300, True],
                       "r_2": [None, 0.2, 1.0, 1 / 3, float("nan")],
                       "solver_type": ["phi_1", None, 3]},
    "run_karras_sampler": {"solver": ["seeds1", None, SEEDS1]},
}
# (entry-specific) pairs the message must name both of
PAIRS = {"sample_seeds_3": [("r_1", 0.5, "r_2", 0.5001, "3b"), ("r_1", 0.5, "r_2", 0.500001, "3b"),
                            ("r_1", 1e-300, "r_2", 2e-300, "3b"), ("r_1", 1e-4, "r_2", 0.5, "3a"),
                            ("r_1", 0.6, "r_2", 0.4, "3a")]}


def _bad_noise_outputs(shape):
    n, d = shape
    return [torch.zeros(d), torch.zeros(n, 1), torch.tensor(0.0), torch.zeros(n + 1, d), np.zeros(shape), 1.0, None,
            torch.zeros(shape, dtype=torch.int32), torch.full(shape, float("nan")), torch.full(shape, float("inf")),
            torch.zeros(shape, dtype=torch.complex64)]


def _bad_model_outputs(shape):
    n, d = shape
    return [torch.full(shape, float("nan")), torch.full(shape, float("-inf")), torch.zeros(n, d + 1), np.zeros(shape),
            None, torch.zeros(shape, dtype=torch.int64), torch.zeros(shape, dtype=torch.complex128)]


@st.composite
def invalid_cases(draw, entry):
    """(kwargs overrides, name the message must contain)."""
    options = dict(BAD_COMMON)
    options.update(BAD_FRACTIONS.get(entry, {}))
    category = draw(st.sampled_from(sorted(options) + ["noise_output", "model_output"]
                                    + (["pair"] if entry in PAIRS else [])))
    if category == "noise_output":
        bad = draw(st.sampled_from(_bad_noise_outputs((2, 3))))
        after = draw(st.integers(0, 1))  # good draws before the bad one (SEEDS-1 draws twice on SIG)
        gen = torch.Generator().manual_seed(0)
        count = [0]

        def sampler(a, b):
            count[0] += 1
            return torch.randn(2, 3, generator=gen) if count[0] <= after else bad

        return dict(noise_sampler=sampler, eta=1.0, s_noise=1.0), ("noise_sampler", "step")
    if category == "model_output":
        bad = draw(st.sampled_from(_bad_model_outputs((2, 3))))
        after = draw(st.integers(0, 2))  # good outputs before the bad one (SEEDS-1 calls thrice on SIG)
        count = [0]

        def model(x, sigma):
            count[0] += 1
            return x * 0.5 if count[0] <= after else bad

        return dict(model=model), ("model", "step", "sigma")
    if category == "pair":
        n1, v1, n2, v2, variant = draw(st.sampled_from(PAIRS[entry]))
        return {n1: v1, n2: v2, "solver_type": variant}, (n1, n2)
    value = draw(st.sampled_from(options[category]))
    return {category: value}, (category,)


def _category(overrides) -> str:
    if set(overrides) == {"noise_sampler", "eta", "s_noise"}:
        return "noise_sampler output"
    if set(overrides) == {"model"} and getattr(overrides["model"], "__name__", "") == "model":
        return "model output"
    return "+".join(sorted(overrides))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_fuzz_invalid_input_names_the_argument(entry, data):
    overrides, names = data.draw(invalid_cases(entry))
    event(f"argument={_category(overrides)}")
    args = dict(model=lambda x, sigma: x * 0.5, x=X, sigmas=SIG, disable=True)
    if entry == "run_karras_sampler":
        args["solver"] = SEEDS2()
    args.update(overrides)
    fn = {"sample_seeds_1": sample_seeds_1, "sample_seeds_2": sample_seeds_2, "sample_seeds_3": sample_seeds_3,
          "run_karras_sampler": run_karras_sampler}[entry]
    if entry == "run_karras_sampler":
        solver = args.pop("solver")
        call_it = functools.partial(fn, solver)
    else:
        call_it = fn
    with pytest.raises((ValueError, TypeError)) as info:
        call_it(**args)
    message = str(info.value)
    for name in names:
        assert re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message), (overrides, message)
