"""Any diffusers scheduler as a sampler in the k-diffusion convention, run on the closed-form
problems of :mod:`seeds_verify.convergence` (MATH §1–§4, §8).

:func:`scheduler_sampler` turns a :class:`SchedulerSpec` (a scheduler class, its configuration and
how its η and noise are reached) into ``sampler(model, x, sigmas, extra_args=None, callback=None,
disable=None[, eta][, noise_sampler])``, so that ``verify_subject`` / ``sampler_subject`` run it
unchanged. One call of the sampler:

1. **The scheduler's table.** The study hands the sampler ``sigmas`` = e^{−λ} of a uniform λ-grid
   with N steps between σ_start and σ_end (α = 1 coordinates, no trailing zero). The adapter builds
   a fresh scheduler whose training table (``trained_betas``, ᾱ_t = 1/(1 + σ_t²)) is uniform in
   λ over exactly that range, with :data:`TABLE_INTERVALS` = 6144 = 3·2¹¹ intervals (t = 0 at
   σ_end, t = 6144 at σ_start). EDM-type schedulers get ``sigma_min``, ``sigma_max`` and their
   ``"exponential"`` σ-schedule instead (also uniform in log σ).
2. **Its own grid.** ``set_timesteps`` then lays out the grid the scheduler itself chooses
   (``timestep_spacing``, final σ). With ``"linspace"`` spacing and N dividing 6144 its timesteps
   are integers and its positive σ's are the study's grid; the adapter checks this to 1e-9 on
   every run (:class:`~seeds_verify.convergence.subjects.SamplerError` otherwise) and stops the
   loop at σ_end, so the final step to σ = 0 that some schedulers append is not taken
   (:data:`GRIDS`). DDIM steps from t to t − T/N and ends at ``alphas_cumprod[0]``
   (``set_alpha_to_one=False``): its table (:data:`TRAILING`) has T = 6144 entries with t = 1 … T−1
   uniform in λ and t = 0 one spacing beyond, so that its ``"trailing"`` grid is the study's too.
3. **The model.** The exact denoiser D(y, σ) of the problem is turned into the scheduler's
   ``prediction_type`` at the timestep it asks for. A timestep's σ is the table's, interpolated
   linearly in log σ between integer timesteps (the inverse of diffusers' ``_sigma_to_t``; exact on
   a table uniform in λ); EDM-type schedulers condition on c_noise = log(σ)/4. The model input is
   the VP-scaled sample x_in = y/√(1 + σ²) (what ``scale_model_input`` gives VE schedulers and what
   VP schedulers hold), or c_in(σ)·y for EDM-type ones. With α = 1/√(1 + σ²), σ_vp = ασ:
   ``epsilon`` ε̂ = (x_in − αD)/σ_vp, ``v_prediction`` v̂ = αε̂ − σ_vp D, ``sample`` D; EDM-type
   F = (D − c_skip y)/c_out.
4. **Coordinates.** A scheduler with ``init_noise_sigma`` = 1 holds VP samples x = α y; any other
   holds VE samples x = y (σ the VE noise level). The start is the study's exact draw of p_T in
   those coordinates (not ``init_noise_sigma`` times a fresh normal); the end is read back as y.
5. **Noise.** Every Gaussian draw the scheduler makes (``randn_tensor`` of its module, or its
   ``noise_sampler`` attribute where it has one) is answered from the study's ``noise_sampler``
   over the step being taken: ``noise_sampler(σ_k, σ_{k+1})``, the weighted increment of exponent
   k = η = 1 of the study's Brownian path. That is the noise term of every scheduler here at
   η = 1, whose variance σ_{k+1}²(1 − e^{−2h}) is the exact one of the data-form SDE (MATH §4).
   A scheduler drawing a second normal within one step (which one path increment cannot
   answer) raises SamplerError.
6. **Precision.** diffusers keeps its tables and much of its arithmetic in float32 (``step``
   up-casts to float32), which floors every error near 1e-7 and hides orders above 2. While the
   sampler runs, the ``torch.float32`` and ``np.float32`` of the scheduler's module read as
   float64 and torch's default dtype is float64, so its own code runs in float64
   (``SchedulerSpec.float64``; off: the scheduler's native precision).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..convergence.subjects import SamplerError

__all__ = ["SchedulerSpec", "scheduler_sampler", "build_scheduler", "uniform_lambda_table",
           "timestep_sigma", "model_output", "PREDICTION_TYPES", "GRIDS", "TABLE_INTERVALS",
           "TRAILING", "ETA_CONTROLS", "NOISE_HOOKS"]

#: Intervals of the uniform-λ training table: every step count dividing it (3·2^k up to 6144,
#: 2^k up to 2048) has integer timesteps on the scheduler's own "linspace" grid.
TABLE_INTERVALS = 6144
#: Table layout of the "trailing" grid (DDIM), see the module docstring.
TRAILING = "trailing"
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
#: How a grid of N steps is asked of the scheduler: (its table layout, argument of
#: set_timesteps). "linspace": N timesteps, the last step ends at σ(t = 0) (``final_sigmas_type``
#: "sigma_min" or the scheduler's own); "linspace+1": N + 1 timesteps, the step after σ(t = 0) (to
#: σ = 0) is not taken; "trailing": DDIM's; "edm+1": N + 1 exponential σ's, no step to σ = 0.
GRIDS = {"linspace": ("linspace", 0), "linspace+1": ("linspace", 1), "trailing": (TRAILING, 0),
         "edm+1": ("edm", 1)}
#: How η reaches the scheduler: None (it has none: always η = 1 when stochastic), "step" (the
#: ``eta`` argument of ``step``), "tau" (SA-Solver's ``tau_func`` ≡ √η, its SDE having η = τ²),
#: "config" (an ``eta`` configuration entry).
ETA_CONTROLS = (None, "step", "tau", "config")
#: Where its normals come from: "randn" (``randn_tensor`` of its module), "noise_sampler" (a
#: ``noise_sampler(σ_a, σ_b)`` attribute it calls), None (it draws nothing that is used).
NOISE_HOOKS = ("randn", "noise_sampler", None)
_GRID_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SchedulerSpec:
    """One diffusers scheduler configuration to run (module docstring).

    Attributes:
        name: what records call it, e.g. ``DPMSolverMultistepScheduler(solver_order=3)``.
        scheduler: the class, or ``"module:Class"`` imported on first use.
        config: keyword arguments of the constructor (the table and grid entries are set by the
            adapter and may not be given).
        grid: a key of :data:`GRIDS`.
        stochastic: whether its noise is read (the sampler then takes ``noise_sampler``).
        eta_control: one of :data:`ETA_CONTROLS`.
        noise_hook: one of :data:`NOISE_HOOKS`.
        step_kwargs: extra keyword arguments of every ``step`` call.
        float64: run its own code in float64 (module docstring, 6).
    """

    name: str
    scheduler: Any
    config: Mapping = field(default_factory=dict)
    grid: str = "linspace"
    stochastic: bool = False
    eta_control: str | None = None
    noise_hook: str | None = None
    step_kwargs: Mapping = field(default_factory=dict)
    float64: bool = True

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {tuple(GRIDS)}, got {self.grid!r}")
        if self.eta_control not in ETA_CONTROLS:
            raise ValueError(f"eta_control must be one of {ETA_CONTROLS}, got {self.eta_control!r}")
        if self.noise_hook not in NOISE_HOOKS:
            raise ValueError(f"noise_hook must be one of {NOISE_HOOKS}, got {self.noise_hook!r}")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"config must be a mapping, got {type(self.config).__name__}")
        reserved = {"trained_betas", "num_train_timesteps", "timestep_spacing", "sigma_min",
                    "sigma_max", "sigma_schedule"} & set(self.config)
        if reserved:
            raise ValueError(f"config: {sorted(reserved)} are set by the adapter (the table and the grid)")
        if self.stochastic and self.noise_hook is None:
            raise ValueError("noise_hook: a stochastic scheduler needs a noise hook")

    def scheduler_class(self) -> type:
        cls = self.scheduler
        if isinstance(cls, str):
            module, _, attr = cls.partition(":")
            try:
                cls = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"scheduler: cannot import {self.scheduler!r}: {exc}") from exc
        if not isinstance(cls, type):
            raise TypeError(f"scheduler must be a class or 'module:Class', got {type(cls).__name__}")
        return cls

    def unavailable(self) -> str | None:
        """Why this scheduler cannot be built here (diffusers stands in a placeholder class for a
        scheduler whose optional backend, e.g. torchsde, is not installed), or None."""
        try:
            cls = self.scheduler_class()
        except ValueError as exc:
            return str(exc)
        if ".utils.dummy_" in getattr(cls, "__module__", ""):
            backends = getattr(cls, "_backends", None) or ["an optional backend"]
            return f"{cls.__name__} needs {', '.join(backends)}, which is not installed"
        return None


# --------------------------------------------------------------------------------------------
# The table and the model
# --------------------------------------------------------------------------------------------


def uniform_lambda_table(sigma_start: float, sigma_end: float, layout: str = "linspace",
                         intervals: int = TABLE_INTERVALS) -> np.ndarray:
    """``trained_betas`` (float64) of a table whose σ_t = sqrt((1 − ᾱ_t)/ᾱ_t) is uniform in log σ.

    ``"linspace"``: t = 0 … ``intervals`` from σ_end up to σ_start. ``"trailing"``: ``intervals``
    entries, t = 1 … intervals − 1 at the uniform positions 2 … intervals (σ_start at the top),
    t = 0 at position 0 = σ_end (module docstring, 2).
    """
    s0, s1 = float(sigma_start), float(sigma_end)
    if not (math.isfinite(s0) and math.isfinite(s1) and 0 < s1 < s0):
        raise ValueError(f"need 0 < sigma_end < sigma_start, got sigma_start={sigma_start!r}, "
                         f"sigma_end={sigma_end!r}")
    if isinstance(intervals, bool) or not isinstance(intervals, int) or intervals < 2:
        raise ValueError(f"intervals must be an int >= 2, got {intervals!r}")
    lo, hi = math.log(s1), math.log(s0)
    if layout == "linspace":
        pos = np.arange(intervals + 1, dtype=np.float64)
    elif layout == TRAILING:
        pos = np.concatenate([[0.0], np.arange(2, intervals + 1, dtype=np.float64)])
    else:
        raise ValueError(f"layout must be 'linspace' or 'trailing', got {layout!r}")
    log_sigma = lo + (hi - lo) * pos / intervals
    log_alpha_bar = -np.logaddexp(0.0, 2.0 * log_sigma)  # ᾱ = 1/(1 + σ²)
    log_ratio = np.diff(log_alpha_bar, prepend=0.0)  # log(ᾱ_t/ᾱ_{t−1}), ᾱ_{−1} = 1
    return -np.expm1(log_ratio)


def timestep_sigma(scheduler, timestep) -> float:
    """σ (VE) of ``timestep`` for ``scheduler``: e^{4 t} for EDM-type schedulers (c_noise =
    log(σ)/4), else the table's σ interpolated linearly in log σ (module docstring, 3)."""
    t = float(timestep.reshape(-1)[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
    if hasattr(scheduler, "precondition_outputs"):
        return math.exp(4.0 * t)
    log_sigmas = getattr(scheduler, "_seeds_log_sigmas", None)
    if log_sigmas is None:
        abar = scheduler.alphas_cumprod.detach().cpu().to(torch.float64).numpy()
        log_sigmas = 0.5 * (np.log1p(-abar) - np.log(abar))
        scheduler._seeds_log_sigmas = log_sigmas
    if not 0.0 <= t <= log_sigmas.size - 1:
        raise SamplerError(f"the scheduler asked for the model at timestep {t!r}, outside its table "
                           f"[0, {log_sigmas.size - 1}]")
    return math.exp(float(np.interp(t, np.arange(log_sigmas.size, dtype=np.float64), log_sigmas)))


def model_output(scheduler, denoised: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """The scheduler's ``prediction_type`` from the exact denoised D at (y, σ) (module docstring, 3)."""
    kind = scheduler.config.prediction_type
    if kind not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {kind!r}")
    if hasattr(scheduler, "precondition_outputs"):
        sd = float(scheduler.config.sigma_data)
        if kind == "sample":
            raise ValueError("prediction_type: EDM-type schedulers take epsilon or v_prediction, got 'sample'")
        c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
        c_out = sigma * sd / math.sqrt(sigma ** 2 + sd ** 2) * (1.0 if kind == "epsilon" else -1.0)
        return (denoised - c_skip * y) / c_out
    if kind == "sample":
        return denoised
    alpha = 1.0 / math.sqrt(1.0 + sigma ** 2)
    sigma_vp = alpha * sigma
    eps = (alpha * y - alpha * denoised) / sigma_vp
    return eps if kind == "epsilon" else alpha * eps - sigma_vp * denoised


def _input_scale(scheduler, sigma: float) -> float:
    """y = scale × (the model input) (module docstring, 3)."""
    if hasattr(scheduler, "precondition_outputs"):
        return math.sqrt(sigma ** 2 + float(scheduler.config.sigma_data) ** 2)
    return math.sqrt(1.0 + sigma ** 2)


# --------------------------------------------------------------------------------------------
# Building the scheduler and running it in float64
# --------------------------------------------------------------------------------------------


class _WideNamespace:
    """A module whose ``float32`` reads as a wider float (module docstring, 6)."""

    def __init__(self, module, wide):
        self._module, self._wide = module, wide

    def __getattr__(self, name):
        return self._wide if name == "float32" else getattr(self._module, name)


def _scheduler_modules(cls: type) -> list:
    """The modules defining the scheduler class and its bases."""
    mods = []
    for klass in cls.__mro__:
        mod = sys.modules.get(klass.__module__)
        if mod is not None and klass.__module__ != "builtins" and mod not in mods:
            mods.append(mod)
    return mods


@contextlib.contextmanager
def _patched(modules, *, float64: bool, randn: Callable | None):
    """The scheduler's modules with float64 in place of float32 and ``randn`` in place of
    ``randn_tensor``, restored on exit."""
    saved = []
    default = torch.get_default_dtype()
    try:
        if float64:
            torch.set_default_dtype(torch.float64)
        for mod in modules:
            names = vars(mod)
            swaps = []
            if float64:
                swaps += [(n, _WideNamespace(v, w)) for n, v, w in
                          (("torch", torch, torch.float64), ("np", np, np.float64)) if names.get(n) is v]
            if randn is not None and "randn_tensor" in names:
                swaps.append(("randn_tensor", randn))
            for name, value in swaps:
                saved.append((mod, name, names[name]))
                setattr(mod, name, value)
        yield
    finally:
        for mod, name, value in reversed(saved):
            setattr(mod, name, value)
        torch.set_default_dtype(default)


def build_scheduler(spec: SchedulerSpec, sigma_start: float, sigma_end: float, eta: float = 0.0):
    """A fresh scheduler of ``spec`` whose table spans [σ_end, σ_start] (call inside the
    sampler's precision context; :func:`scheduler_sampler` does)."""
    cls = spec.scheduler_class()
    layout, _ = GRIDS[spec.grid]
    config = dict(spec.config)
    if layout == "edm":
        config.update(sigma_min=float(sigma_end), sigma_max=float(sigma_start), sigma_schedule="exponential")
    else:
        betas = uniform_lambda_table(sigma_start, sigma_end, layout)
        config.update(trained_betas=betas.tolist(), num_train_timesteps=betas.size)
        # A scheduler without the option lays out "linspace" timesteps.
        if "timestep_spacing" in inspect.signature(cls.__init__).parameters:
            config["timestep_spacing"] = "trailing" if layout == TRAILING else "linspace"
        elif layout == TRAILING:
            raise ValueError(f"grid: {cls.__name__} has no timestep_spacing to set to 'trailing'")
    if spec.eta_control == "tau":
        tau = math.sqrt(eta)
        config["tau_func"] = lambda t, tau=tau: tau
    elif spec.eta_control == "config":
        config["eta"] = eta
    return cls(**config)


_BUILT: dict = {}
_BUILT_MAX = 16


def _fresh_scheduler(spec: SchedulerSpec, sigma_start: float, sigma_end: float, eta: float):
    """A copy of the scheduler just after construction. Some constructors lay out all the table's
    timesteps (O(T²) for KDPM2), so one construction per spec, range and η is kept and copied."""
    key = (id(spec), sigma_start, sigma_end, eta, spec.float64)
    hit = _BUILT.get(key)
    if hit is None or hit[0] is not spec:
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.pop(next(iter(_BUILT)))
        hit = _BUILT[key] = (spec, build_scheduler(spec, sigma_start, sigma_end, eta))
    return copy.deepcopy(hit[1])


def _grid_of(scheduler, spec: SchedulerSpec, n: int) -> np.ndarray:
    """The first n + 1 positive σ's (VE) of the scheduler's own grid (``step_sigmas`` where a
    scheduler lists its stage points in ``sigmas``)."""
    sig = getattr(scheduler, "step_sigmas", getattr(scheduler, "sigmas", None))
    if isinstance(sig, torch.Tensor) and sig.numel() > 1:
        values = sig.detach().cpu().to(torch.float64).numpy()
        keep = [v for i, v in enumerate(values) if v > 0 and (i == 0 or v != values[i - 1])]
        return np.asarray(keep[:n + 1])
    ts = scheduler.timesteps
    out = [timestep_sigma(scheduler, t) for t in ts[:n + 1]]
    if spec.grid == "trailing" and len(out) == n:  # DDIM's last step ends at alphas_cumprod[0]
        out.append(timestep_sigma(scheduler, 0))
    return np.asarray(out)


class _StepNoise:
    """Answers the scheduler's normals from the study's ``noise_sampler`` over the current step."""

    def __init__(self, sigmas: torch.Tensor, noise_sampler, like: torch.Tensor, stochastic: bool,
                 fallback: Callable):
        self.sigmas, self.noise_sampler, self.like = sigmas, noise_sampler, like
        self.stochastic, self.fallback = stochastic, fallback
        self.step = 0
        self.draws = 0

    def begin(self, k: int) -> None:
        if k != self.step:
            self.step, self.draws = k, 0

    def _draw(self) -> torch.Tensor:
        k = self.step
        if k + 1 >= self.sigmas.numel():
            raise SamplerError(f"the scheduler drew noise after its last step ({k})")
        self.draws += 1
        if self.draws > 1:
            raise SamplerError(f"the scheduler drew a second normal within step {k}: one Brownian "
                               "increment per step cannot answer it (not path-consistent)")
        return self.noise_sampler(self.sigmas[k], self.sigmas[k + 1])

    def randn(self, shape, generator=None, device=None, dtype=None, layout=None, **_):
        if not self.stochastic:
            return self.fallback(shape, generator=generator, device=device, dtype=dtype, layout=layout)
        if tuple(shape) != tuple(self.like.shape):
            raise SamplerError(f"the scheduler drew noise of shape {tuple(shape)}, not the sample's "
                               f"{tuple(self.like.shape)}")
        z = self._draw()
        return z.to(dtype=dtype or self.like.dtype, device=device or self.like.device)

    def from_sigmas(self, sigma_a, sigma_b) -> torch.Tensor:
        """A ``noise_sampler`` attribute for the scheduler: its own σ's, nested calls allowed."""
        z = self.noise_sampler(float(sigma_a), float(sigma_b))
        return z.to(self.like.dtype)


def _check_sigmas(sigmas) -> torch.Tensor:
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or sigmas.numel() < 2:
        raise TypeError("sigmas must be a 1-D torch.Tensor of at least two noise levels")
    s = sigmas.detach().to(torch.float64).cpu()
    if not bool(torch.isfinite(s).all()) or not bool((s > 0).all()) or not bool((s[1:] < s[:-1]).all()):
        raise ValueError("sigmas must be positive, finite and strictly decreasing (no trailing zero)")
    return s


def _run(spec: SchedulerSpec, model, x, sigmas, *, extra_args, callback, eta, noise_sampler):
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise TypeError("x must be a floating-point torch.Tensor")
    s = _check_sigmas(sigmas)
    n = s.numel() - 1
    eta = float(eta)
    if not (math.isfinite(eta) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    if spec.stochastic and eta not in (0.0, 1.0) and spec.eta_control == "step":
        raise ValueError(f"eta: {spec.name}'s eta scales its noise differently from the eta of MATH §3 "
                         f"between 0 and 1 (they agree at 0 and 1); use 0 or 1, got {eta!r}")
    if spec.stochastic and spec.eta_control is None and eta != 1.0:
        raise ValueError(f"eta: {spec.name} has no eta to set; it runs at eta = 1, got {eta!r}")
    extra_args = {} if extra_args is None else extra_args
    if noise_sampler is None and spec.stochastic and eta > 0:
        gen = torch.Generator(device=x.device).manual_seed(0)
        noise_sampler = lambda a, b: torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)  # noqa: E731
    cls = spec.scheduler_class()
    from diffusers.utils.torch_utils import randn_tensor as native_randn

    steady = torch.Generator(device=x.device).manual_seed(0)

    def fallback(shape, generator=None, device=None, dtype=None, layout=None):
        return native_randn(shape, generator=generator or steady, device=device, dtype=dtype)

    noise = _StepNoise(s, noise_sampler, x, spec.stochastic and eta > 0, fallback)
    with _patched(_scheduler_modules(cls), float64=spec.float64, randn=noise.randn):
        sch = _fresh_scheduler(spec, float(s[0]), float(s[-1]), eta)
        sch.set_timesteps(n + GRIDS[spec.grid][1])
        own = _grid_of(sch, spec, n)
        if own.size != n + 1 or not np.allclose(own, s.numpy(), rtol=_GRID_TOLERANCE, atol=0.0):
            worst = (float(np.max(np.abs(own / s.numpy() - 1.0))) if own.size == n + 1
                     else f"{own.size} points for {n + 1}")
            raise SamplerError(f"{spec.name}: its own grid of {n} steps is not the study's "
                               f"(relative difference {worst}); step counts must divide {TABLE_INTERVALS}")
        if spec.noise_hook == "noise_sampler" and spec.stochastic:
            sch.noise_sampler = noise.from_sigmas
        vp = abs(float(sch.init_noise_sigma) - 1.0) < 1e-12
        work_dtype = torch.float64 if spec.float64 else x.dtype
        y0 = x.to(work_dtype)
        sample = y0 / math.sqrt(1.0 + float(s[0]) ** 2) if vp else y0.clone()
        step_kwargs = dict(spec.step_kwargs)
        if spec.eta_control == "step":
            step_kwargs["eta"] = eta
        # ``order`` is the number of model calls per step (diffusers' pipelines rely on it).
        per_step = int(getattr(sch, "order", 1))
        calls, done, last_denoised = 0, 0, None
        for t in sch.timesteps:
            if done == n:
                break
            noise.begin(done)
            x_in = sch.scale_model_input(sample, t)
            sigma = timestep_sigma(sch, t)
            y = x_in * _input_scale(sch, sigma)
            den = model(y.to(x.dtype), sigma * x.new_ones([x.shape[0]]), **extra_args).to(work_dtype)
            last_denoised = den
            out = model_output(sch, den, y, sigma)
            sample = sch.step(out, t, sample, **step_kwargs).prev_sample
            calls += 1
            if calls % per_step == 0:
                if not getattr(sch, "state_in_first_order", True):
                    raise SamplerError(f"{spec.name}: the scheduler is within a step after {calls} calls "
                                       f"(its order is {per_step})")
                done += 1
                if callback is not None:
                    sk = float(s[done])
                    cur = sample * math.sqrt(1.0 + sk ** 2) if vp else sample
                    callback({"x": cur.to(x.dtype), "i": done - 1, "sigma": s[done - 1], "sigma_hat": s[done - 1],
                              "denoised": last_denoised.to(x.dtype)})
        if done != n:
            raise SamplerError(f"{spec.name}: the scheduler's timesteps ran out after {done} of {n} steps")
    out = sample * math.sqrt(1.0 + float(s[-1]) ** 2) if vp else sample
    return out.to(x.dtype)


def scheduler_sampler(spec: SchedulerSpec) -> Callable:
    """``spec`` as a sampler in the k-diffusion convention (module docstring).

    Deterministic specs: ``sampler(model, x, sigmas, extra_args=None, callback=None, disable=None)``;
    stochastic ones add ``noise_sampler=None`` and, when η can be set, ``eta=1.0``.
    """
    if not isinstance(spec, SchedulerSpec):
        raise TypeError(f"spec must be a SchedulerSpec, got {type(spec).__name__}")

    if not spec.stochastic:
        def sampler(model, x, sigmas, extra_args=None, callback=None, disable=None):
            return _run(spec, model, x, sigmas, extra_args=extra_args, callback=callback, eta=0.0,
                        noise_sampler=None)
    elif spec.eta_control is None:
        def sampler(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
            return _run(spec, model, x, sigmas, extra_args=extra_args, callback=callback, eta=1.0,
                        noise_sampler=noise_sampler)
    else:
        def sampler(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                    noise_sampler=None):
            return _run(spec, model, x, sigmas, extra_args=extra_args, callback=callback, eta=eta,
                        noise_sampler=noise_sampler)

    sampler.__name__ = sampler.__qualname__ = spec.name
    sampler.__module__ = "diffusers"
    sampler.__doc__ = f"{spec.name} on its own grid, through seeds_verify.diffusers.adapter."
    return sampler
