"""SEEDS-1/2/3 as a diffusers scheduler: one ``step`` call per model evaluation (MATH §4–§7).

The pipeline's sample is the variance-preserving state ``x = α x_0 + σ ε`` of the training
schedule (α² = ᾱ_t, σ² = 1 − ᾱ_t), as for diffusers' DDPM, DDIM and DPM-Solver schedulers. So
``init_noise_sigma`` is 1 and :meth:`SEEDSScheduler.scale_model_input` returns its input: a
pipeline that scales neither (``DDPMPipeline`` draws N(0, I) and hands it to the model as it is)
and one that does both (``StableDiffusionPipeline``) run the same trajectory. That start is the
prior N(0, I) of the variance-preserving process at its last training step (α_T ≈ 0); in the
k-diffusion convention x̃ = x/α, σ̃ = σ/α it is x̃ = sqrt(1 + σ̃_max²) ε, the start diffusers'
Euler-type schedulers use.

Noise levels are k-diffusion's σ̃ = sqrt((1 − ᾱ)/ᾱ) = e^{−λ} (MATH §1), and a variance-preserving
schedule is α(λ) = (1 + e^{−2λ})^{−1/2}, σ(λ) = e^{−λ} α(λ): the SEEDS coefficients are computed
for that α and σ (MATH §4 with α ≠ 1), so each update acts on x directly. Data prediction is
invariant under x ← x/α, so the trajectory, divided by α, is the one ``sample_seeds_k`` runs on
the σ̃-grid ``step_sigmas`` with the same noise (equal to rounding, tested).

The grid. ``set_timesteps(N)`` lays out N + 1 noise levels σ̃_0 > … > σ̃_N: with
``final_sigmas_type="zero"`` N points of the timestep spacing and σ̃_N = 0, the last interval being
a plain denoise (x ← D, as in k-diffusion); with ``"sigma_min"`` the spacing on N + 1 points, its
last moved to the training step t = 0 (σ̃_N = σ̃_min), every interval a SEEDS step. Each SEEDS step
from λ_s to λ_t = λ_s + h evaluates the model at λ_s and at its stage points λ_s + c_i h
(c_i the ``stage_fractions``); ``timesteps`` lists the time of every evaluation, stage points
included (as diffusers' Heun and KDPM2 schedulers do), so a pipeline's plain loop makes
``solver_order`` calls per step: ``solver_order·(N − 1) + 1`` in all with ``"zero"``,
``solver_order·N`` with ``"sigma_min"``. A stage point's time is fractional: the timestep ↔ log σ̃
map is the piecewise-linear interpolation of the training table (t, log σ̃_t), used in both
directions.

The update is the reference solver's step itself. Stage i of step n (MATH §6–§7;
``seeds_verify.solvers.seeds``) is

    x_i = L_i x_s + A_i Σ_j ω_ij F_j + s_noise · Σ_{j≤i} σ_i F^noise_ij z_j,

F = D (``algorithm_type="data"``) or ε̂ (``"noise"``), with the coefficients of
:meth:`seeds_verify.solvers.ExponentialSolver.coefficients` for the grid (computed once per
``set_timesteps``). The solver writes a step as a coroutine that yields each stage value and
receives the model's prediction there; the scheduler keeps that coroutine between its calls, so
the call that brings F_i gets x_i back: the next stage's input, or x_t at the step's end.

Noise. z_j is the normalised weighted increment over sub-interval j (MATH §4). By default a
standard normal from ``generator`` (diffusers' ``randn_tensor``: a list of generators gives
sample b its own stream, so a sample does not depend on the batch it is in; None uses torch's
global generator). :meth:`SEEDSScheduler.set_noise_sampler` installs a k-diffusion
``noise_sampler(sigma_a, sigma_b)`` instead, called with σ̃ = e^{−λ} of the sub-interval's ends
exactly as ``sample_seeds_k`` calls it (path-consistent noise, e.g. one Brownian path per
sample); ``generator`` is then not used for noise. With ``eta=0`` or ``s_noise=0`` nothing is
drawn.

Precision. float64 samples are computed in float64; float32, float16 and bfloat16 ones in
float32 (the solvers' working precision). Model outputs of any floating dtype are accepted and
read in that working precision. The state the scheduler keeps within a step (the step's start,
the model predictions, the noise) stays in the working precision; ``prev_sample`` and
``pred_original_sample`` are returned in the sample's dtype, so between calls the iterate is
held by the pipeline in its own dtype, as with every diffusers scheduler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import KarrasDiffusionSchedulers, SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from ..samplers import _check_noise, _check_noise_form_steps, _check_sigmas, _GridSchedule
from ..schemes import SEEDS2_VARIANTS, SEEDS3_VARIANTS, check_eta
from ..solvers import SEEDS1, SEEDS2, SEEDS3
from ..solvers.base import check_s_noise, working_dtype
from ..solvers.seeds import ExponentialPlan, ExponentialSolver

__all__ = ["SEEDSScheduler", "SEEDSSchedulerOutput", "BETA_SCHEDULES", "PREDICTION_TYPES",
           "ALGORITHM_TYPES", "TIMESTEP_SPACINGS", "FINAL_SIGMAS_TYPES"]

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
#: The parametrisation the SEEDS update integrates (MATH §4): data prediction D or noise ε̂.
ALGORITHM_TYPES = ("data", "noise")
TIMESTEP_SPACINGS = ("linspace", "leading", "trailing")
FINAL_SIGMAS_TYPES = ("zero", "sigma_min")
SOLVER_TYPES = {1: (None,), 2: SEEDS2_VARIANTS, 3: SEEDS3_VARIANTS}
#: Default stage fractions per order (those of ``sample_seeds_2`` and ``sample_seeds_3``).
DEFAULT_STAGE_FRACTIONS = {1: (), 2: (0.5,), 3: (1 / 3, 2 / 3)}
#: ρ of the Karras spacing (Karras et al. 2022):
#: σ̃_i = (σ̃_max^{1/ρ} + i/(n−1) (σ̃_min^{1/ρ} − σ̃_max^{1/ρ}))^ρ, i = 0..n−1.
KARRAS_RHO = 7.0

# The same config keys hold other values in the Karras-family schedulers a config may come from
# (``SEEDSScheduler.from_config(pipe.scheduler.config)``): their algorithm types are read by the
# prediction they integrate, their solver types stand for this order's default.
_DATA_PREDICTION_ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++", "data_prediction")
_NOISE_PREDICTION_ALGORITHMS = ("dpmsolver", "sde-dpmsolver", "noise_prediction", "deis")
_OTHER_SOLVER_TYPES = ("midpoint", "heun", "logrho", "bh1", "bh2")


@dataclass
class SEEDSSchedulerOutput(BaseOutput):
    """What :meth:`SEEDSScheduler.step` returns.

    Attributes:
        prev_sample: the next model input: the next stage value, or x at the step's end point.
        pred_original_sample: the data prediction D = (x − σ ε̂)/α of this model evaluation.
    """

    prev_sample: torch.Tensor
    pred_original_sample: Optional[torch.Tensor] = None


# --------------------------------------------------------------------------------------------
# Config checks
# --------------------------------------------------------------------------------------------


def _choice(value, name: str, options: Sequence) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _integer(value, name: str, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _training_betas(num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str,
                    trained_betas) -> np.ndarray:
    """The training β_t, t = 0..T−1, in float64.

    linear: β_t evenly spaced from ``beta_start`` to ``beta_end``; scaled_linear: sqrt β_t evenly
    spaced; squaredcos_cap_v2: β_t = min(1 − ᾱ(t+1)/ᾱ(t), 0.999) with ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2),
    s = 0.008 (Nichol & Dhariwal 2021). ``trained_betas`` (T values) replaces all of them.
    """
    if trained_betas is not None:
        if isinstance(trained_betas, torch.Tensor):
            trained_betas = trained_betas.detach().cpu().double().numpy()
        try:
            betas = np.asarray(trained_betas, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("trained_betas must be a 1-D sequence of real numbers") from exc
        if betas.ndim != 1 or betas.size != num_train_timesteps:
            raise ValueError(f"trained_betas must hold num_train_timesteps={num_train_timesteps} values, got shape "
                             f"{betas.shape}")
        name = "trained_betas"
    elif beta_schedule == "linear":
        betas, name = np.linspace(beta_start, beta_end, num_train_timesteps), "beta_start/beta_end"
    elif beta_schedule == "scaled_linear":
        betas = np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_train_timesteps) ** 2
        name = "beta_start/beta_end"
    else:
        s = 0.008
        t = np.arange(num_train_timesteps + 1, dtype=np.float64) / num_train_timesteps
        log_alpha_bar = 2.0 * np.log(np.cos((t + s) / (1.0 + s) * math.pi / 2.0))
        betas = np.minimum(-np.expm1(np.diff(log_alpha_bar)), 0.999)
        name = "beta_schedule"
    if not (np.all(np.isfinite(betas)) and np.all(betas > 0.0) and np.all(betas < 1.0)):
        raise ValueError(f"{name} must give every beta in (0, 1), got {float(betas.min())!r} .. "
                         f"{float(betas.max())!r}")
    return betas


def _log_sigma_table(betas: np.ndarray) -> np.ndarray:
    """log σ̃_t = ½ (log(1 − ᾱ_t) − log ᾱ_t) with log ᾱ_t = Σ_{u≤t} log(1 − β_u), no cancellation."""
    log_alpha_bar = np.cumsum(np.log1p(-betas))
    return 0.5 * (np.log(-np.expm1(log_alpha_bar)) - log_alpha_bar)


class _VariancePreservingGrid:
    """The variance-preserving schedule in λ for the SEEDS coefficients (MATH §1, §4):
    α = (1 + σ̃²)^{−1/2}, σ = σ̃ α with σ̃ = e^{−λ}, except at the grid's own λ, where σ̃ is the grid
    value itself (``seeds_verify.samplers._GridSchedule``)."""

    def __init__(self, sigmas: np.ndarray):
        self._tilde = _GridSchedule(sigmas)

    def sigma_tilde(self, lam):
        return self._tilde.sigma_of_lam(lam)

    def alpha_of_lam(self, lam):
        return 1.0 / np.hypot(1.0, self.sigma_tilde(lam))

    def sigma_of_lam(self, lam):
        s = self.sigma_tilde(lam)
        return s / np.hypot(1.0, s)

    def dlog_alpha_dlam(self, lam):
        return self.sigma_of_lam(lam) ** 2


@dataclass(frozen=True)
class _Evaluation:
    """One model evaluation of the run: step ``n``, evaluation ``i`` within it (0 = the step's
    start), its λ, σ̃ and variance-preserving α, σ; ``denoise`` marks the final step to σ̃ = 0."""

    n: int
    i: int
    lam: float
    sigma_tilde: float
    alpha: float
    sigma: float
    denoise: bool


# --------------------------------------------------------------------------------------------
# The scheduler
# --------------------------------------------------------------------------------------------


class SEEDSScheduler(SchedulerMixin, ConfigMixin):
    """SEEDS-1/2/3 (Gonzalez et al. 2023) for diffusers pipelines; see the module docstring.

    Args:
        num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas: the training
            noise schedule (``linear``, ``scaled_linear``, ``squaredcos_cap_v2``; ``trained_betas``
            overrides them).
        prediction_type: what the model returns: ``epsilon`` (ε̂), ``v_prediction``
            (v = α ε − σ x_0) or ``sample`` (x_0).
        solver_order: 1, 2 or 3 — SEEDS-1/2/3, that many model calls per step (``order``).
        solver_type: ``phi_1``/``phi_2`` for order 2, ``3a``/``3b`` for order 3 (MATH §6); None is
            the order's default (``phi_1``, ``3a``). The solver types of DPM-Solver, DEIS and
            UniPC configs (midpoint, heun, logrho, bh1, bh2) also stand for the default.
        stage_fractions: the solver_order − 1 stage fractions (r of SEEDS-2, r_1 < r_2 of
            SEEDS-3); None gives 1/2 and (1/3, 2/3).
        eta: η ∈ [0, 1] of the reverse SDE family (MATH §3); 0 is the probability-flow ODE.
        s_noise: factor on the noise terms (1: the exact SDE).
        algorithm_type: ``data`` (integrate D) or ``noise`` (integrate ε̂), MATH §4;
            DPM-Solver's ``dpmsolver++``/``sde-dpmsolver++`` read as ``data``,
            ``dpmsolver``/``sde-dpmsolver`` as ``noise``.
        timestep_spacing: ``linspace``, ``leading`` (plus ``steps_offset``) or ``trailing``.
        steps_offset: added to the ``leading`` timesteps (Stable Diffusion configs use 1).
        use_karras_sigmas: space σ̃ with Karras ρ = 7 between the spacing's end points.
        final_sigmas_type: ``zero`` (end with a denoise) or ``sigma_min`` (end at σ̃ of t = 0).

    Bad values raise ValueError (TypeError for a wrong type) naming the argument.
    """

    _compatibles = [e.name for e in KarrasDiffusionSchedulers]

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas: Optional[Union[np.ndarray, Sequence[float]]] = None,
        prediction_type: str = "epsilon",
        solver_order: int = 2,
        solver_type: Optional[str] = None,
        stage_fractions: Optional[Sequence[float]] = None,
        eta: float = 1.0,
        s_noise: float = 1.0,
        algorithm_type: str = "data",
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        use_karras_sigmas: bool = False,
        final_sigmas_type: str = "zero",
    ):
        num_train_timesteps = _integer(num_train_timesteps, "num_train_timesteps", 2)
        beta_start = _real(beta_start, "beta_start")
        beta_end = _real(beta_end, "beta_end")
        _choice(beta_schedule, "beta_schedule", BETA_SCHEDULES)
        _choice(prediction_type, "prediction_type", PREDICTION_TYPES)
        if isinstance(solver_order, (bool, np.bool_)) or not isinstance(solver_order, Integral) \
                or solver_order not in SOLVER_TYPES:
            raise ValueError(f"solver_order must be 1, 2 or 3, got {solver_order!r}")
        solver_order = int(solver_order)
        if algorithm_type in _DATA_PREDICTION_ALGORITHMS + _NOISE_PREDICTION_ALGORITHMS:
            algorithm_type = "data" if algorithm_type in _DATA_PREDICTION_ALGORITHMS else "noise"
            self.register_to_config(algorithm_type=algorithm_type)
        _choice(algorithm_type, "algorithm_type", ALGORITHM_TYPES)
        if solver_type in _OTHER_SOLVER_TYPES:
            solver_type = None
            self.register_to_config(solver_type=None)
        if solver_type is not None and solver_type not in SOLVER_TYPES[solver_order]:
            allowed = "None" if solver_order == 1 else f"None or one of {SOLVER_TYPES[solver_order]}"
            raise ValueError(f"solver_type must be {allowed} for solver_order={solver_order}, got {solver_type!r}")
        if stage_fractions is None:
            fractions = DEFAULT_STAGE_FRACTIONS[solver_order]
        else:
            if isinstance(stage_fractions, (str, bytes)) or not isinstance(stage_fractions, (Sequence, np.ndarray)):
                raise TypeError(f"stage_fractions must be a sequence of numbers, got {type(stage_fractions).__name__}")
            fractions = tuple(_real(r, "stage_fractions") for r in stage_fractions)
            if len(fractions) != solver_order - 1:
                raise ValueError(f"stage_fractions must hold solver_order - 1 = {solver_order - 1} values for "
                                 f"solver_order={solver_order}, got {len(fractions)}")
        self._eta = check_eta(eta)
        self._s_noise = check_s_noise(s_noise)
        _choice(timestep_spacing, "timestep_spacing", TIMESTEP_SPACINGS)
        _integer(steps_offset, "steps_offset", 0)
        _flag(use_karras_sigmas, "use_karras_sigmas")
        _choice(final_sigmas_type, "final_sigmas_type", FINAL_SIGMAS_TYPES)

        try:
            if solver_order == 1:
                self.solver: ExponentialSolver = SEEDS1()
            elif solver_order == 2:
                self.solver = SEEDS2(fractions[0], solver_type or SEEDS2_VARIANTS[0])
            else:
                self.solver = SEEDS3(fractions[0], fractions[1], solver_type or SEEDS3_VARIANTS[0])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stage_fractions={list(fractions)!r}: {exc}") from exc

        betas = _training_betas(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas)
        self._log_sigmas = _log_sigma_table(betas)
        if not np.all(np.diff(self._log_sigmas) > 0):
            raise ValueError("the training schedule must give strictly increasing noise levels (check the betas)")
        self.alphas_cumprod = torch.from_numpy(1.0 / (1.0 + np.exp(2.0 * self._log_sigmas)))

        self.init_noise_sigma = 1.0
        self.num_inference_steps: Optional[int] = None
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1, dtype=torch.float32)
        self.sigmas = torch.from_numpy(np.exp(self._log_sigmas[::-1].copy()))
        self.step_sigmas = self.sigmas
        self._evaluations: list[_Evaluation] = []
        self._plan: Optional[ExponentialPlan] = None
        self._grid: Optional[_VariancePreservingGrid] = None
        self._positive: Optional[np.ndarray] = None
        self._checked_dtypes: set = set()
        self._noise_sampler: Optional[Callable[[float, float], torch.Tensor]] = None
        self._step_index: Optional[int] = None
        self._begin_index: Optional[int] = None
        self._reset_step_state()

    # -- properties of the diffusers scheduler interface ------------------------------------

    @property
    def order(self) -> int:
        """Model evaluations per SEEDS step (= ``solver_order``)."""
        return self.solver.nfe_per_step

    @property
    def step_index(self) -> Optional[int]:
        """Index into ``timesteps`` of the next ``step`` call (None before the first)."""
        return self._step_index

    @property
    def begin_index(self) -> Optional[int]:
        """Index of the first timestep, set by a pipeline that starts part-way (img2img)."""
        return self._begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Start the next run at ``timesteps[begin_index]`` (must be a step's first evaluation)."""
        self._begin_index = _integer(begin_index, "begin_index", 0)

    def __len__(self) -> int:
        return self.config.num_train_timesteps

    @property
    def noise_sampler(self) -> Optional[Callable[[float, float], torch.Tensor]]:
        """The k-diffusion ``noise_sampler(sigma_a, sigma_b)`` in use (None: draws from ``generator``)."""
        return self._noise_sampler

    @noise_sampler.setter
    def noise_sampler(self, value) -> None:
        self.set_noise_sampler(value)

    def set_noise_sampler(self, noise_sampler: Optional[Callable[[float, float], torch.Tensor]]) -> None:
        """Take every z_j from ``noise_sampler(σ̃_a, σ̃_b)`` (k-diffusion convention, see the module
        docstring) until it is replaced; None goes back to ``generator`` draws."""
        if noise_sampler is not None and not callable(noise_sampler):
            raise TypeError(f"noise_sampler must be callable or None, got {type(noise_sampler).__name__}")
        self._noise_sampler = noise_sampler

    # -- the grid -------------------------------------------------------------------------

    def _sigma_of_t(self, t: np.ndarray) -> np.ndarray:
        """σ̃ at (fractional) training times: log σ̃ interpolated linearly in t."""
        return np.exp(np.interp(t, np.arange(self._log_sigmas.size, dtype=np.float64), self._log_sigmas))

    def _t_of_sigma(self, sigma: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`_sigma_of_t` (piecewise linear in log σ̃)."""
        return np.interp(np.log(sigma), self._log_sigmas, np.arange(self._log_sigmas.size, dtype=np.float64))

    def _spacing(self, count: int) -> np.ndarray:
        """``count`` decreasing training times of the configured spacing (float64)."""
        cfg = self.config
        train = cfg.num_train_timesteps
        if cfg.timestep_spacing == "linspace":
            t = np.linspace(0.0, train - 1.0, count)[::-1].copy()
        elif cfg.timestep_spacing == "leading":
            ratio = train // count
            t = (np.arange(count, dtype=np.float64) * ratio).round()[::-1] + cfg.steps_offset
        else:
            t = np.arange(float(train), 0.0, -train / count).round() - 1.0
            t = t[:count]
        if t.size != count or t[0] > train - 1 or t[-1] < 0 or not np.all(np.diff(t) < 0):
            raise ValueError(f"num_inference_steps is too large for timestep_spacing={cfg.timestep_spacing!r} with "
                             f"num_train_timesteps={train} and steps_offset={cfg.steps_offset}: the training "
                             "timesteps repeat or leave [0, num_train_timesteps - 1]")
        return t

    def _default_grid(self, num_inference_steps: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(positive σ̃, their training times, whether a final 0 follows)."""
        cfg = self.config
        final_zero = cfg.final_sigmas_type == "zero"
        count = num_inference_steps if final_zero else num_inference_steps + 1
        t = self._spacing(count)
        if not final_zero:
            t[-1] = 0.0
            if count >= 2 and not t[-2] > 0.0:
                raise ValueError(f"num_inference_steps={num_inference_steps} is too large for "
                                 f"timestep_spacing={cfg.timestep_spacing!r} with final_sigmas_type='sigma_min'")
        sigma = self._sigma_of_t(t)
        if cfg.use_karras_sigmas and count >= 2:
            ramp = np.linspace(0.0, 1.0, count)
            inv_max, inv_min = sigma[0] ** (1.0 / KARRAS_RHO), sigma[-1] ** (1.0 / KARRAS_RHO)
            karras = (inv_max + ramp * (inv_min - inv_max)) ** KARRAS_RHO
            karras[0], karras[-1] = sigma[0], sigma[-1]
            sigma = karras
            t = self._t_of_sigma(sigma)
        return sigma, t, final_zero

    def set_timesteps(self, num_inference_steps: Optional[int] = None, device: Union[str, torch.device, None] = None,
                      sigmas: Optional[Sequence[float]] = None) -> None:
        """Lay out the grid and every evaluation point (module docstring) and reset the step counter.

        Args:
            num_inference_steps: N, the number of intervals of the σ̃-grid.
            device: where ``timesteps`` go (the noise levels stay on the CPU, in float64).
            sigmas: instead of N, a strictly decreasing σ̃-grid in the k-diffusion convention
                (as ``sample_seeds_k`` takes it), ending in 0 for a final denoise; its positive
                values must lie within the training range [σ̃_{t=0}, σ̃_{t=T−1}].

        Sets ``timesteps`` (one per model evaluation), ``sigmas`` (σ̃ of every evaluation and
        the final σ̃), ``step_sigmas`` (the σ̃-grid itself) and ``num_inference_steps``.
        """
        if (num_inference_steps is None) == (sigmas is None):
            raise ValueError("give exactly one of num_inference_steps and sigmas")
        if sigmas is not None:
            positive, final_zero = _check_sigmas(sigmas, torch.empty(0, dtype=torch.float64))
            lo, hi = math.exp(self._log_sigmas[0]), math.exp(self._log_sigmas[-1])
            if positive[-1] < lo * (1 - 1e-12) or positive[0] > hi * (1 + 1e-12):
                raise ValueError(f"sigmas must lie within the training range [{lo!r}, {hi!r}] (the model's "
                                 f"timestep is interpolated there), got {positive[-1]!r} .. {positive[0]!r}")
            times = np.clip(self._t_of_sigma(positive), 0.0, self._log_sigmas.size - 1.0)
        else:
            num_inference_steps = _integer(num_inference_steps, "num_inference_steps", 1)
            positive, times, final_zero = self._default_grid(num_inference_steps)
            if positive.size >= 2 and not np.all(np.diff(-np.log(positive)) > 0):
                raise ValueError(f"num_inference_steps={num_inference_steps} is too large: the noise levels of "
                                 "the grid coincide")
        lam = -np.log(positive)
        grid = _VariancePreservingGrid(positive)
        plan = None
        if positive.size >= 2:
            plan = ExponentialPlan.of(self.solver.coefficients(lam, grid, self._eta, self.config.algorithm_type))

        evaluations: list[_Evaluation] = []
        eval_times: list[float] = []
        m = self.solver.nfe_per_step

        def add(n: int, i: int, lam_value: float, time: Optional[float], denoise: bool = False) -> None:
            s = float(grid.sigma_tilde(lam_value))
            evaluations.append(_Evaluation(n, i, float(lam_value), s, float(grid.alpha_of_lam(lam_value)),
                                           float(grid.sigma_of_lam(lam_value)), denoise))
            eval_times.append(float(self._t_of_sigma(s)) if time is None else float(time))

        for n in range(positive.size - 1):
            add(n, 0, lam[n], times[n])
            for i in range(1, m):
                stage_lam = plan.lam_points[n][i - 1]
                add(n, i, stage_lam, times[n + 1] if stage_lam == lam[n + 1] else None)
        if final_zero:
            add(positive.size - 1, 0, lam[-1], times[-1], denoise=True)

        self._evaluations = evaluations
        self._plan = plan
        self._grid = grid
        self._positive = positive
        self._checked_dtypes = set()
        self.num_inference_steps = positive.size - (0 if final_zero else 1)
        self.timesteps = torch.tensor(eval_times, dtype=torch.float32, device=device)
        final = 0.0 if final_zero else float(positive[-1])
        self.sigmas = torch.tensor([e.sigma_tilde for e in evaluations] + [final], dtype=torch.float64)
        self.step_sigmas = torch.from_numpy(np.concatenate([positive, [0.0]] if final_zero else [positive]))
        self._step_index = None
        self._begin_index = None
        self._reset_step_state()

    # -- the diffusers loop ---------------------------------------------------------------

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        """The sample itself: the state is already the variance-preserving model input."""
        return sample

    def index_for_timestep(self, timestep, schedule_timesteps: Optional[torch.Tensor] = None) -> int:
        """The first index of ``timestep`` among the steps' first evaluations."""
        schedule = self.timesteps if schedule_timesteps is None else schedule_timesteps
        value = float(timestep.item() if isinstance(timestep, torch.Tensor) else timestep)
        starts = [k for k, e in enumerate(self._evaluations) if e.i == 0]
        for k in starts:
            if float(schedule[k]) == value:
                return k
        raise ValueError(f"timestep {value!r} is not the first evaluation of any step of this schedule")

    def _init_step_index(self, timestep) -> None:
        if self._begin_index is None:
            self._step_index = self.index_for_timestep(timestep)
        else:
            if not (0 <= self._begin_index < len(self._evaluations)) or self._evaluations[self._begin_index].i != 0:
                raise ValueError(f"begin_index={self._begin_index} is not the first evaluation of a step "
                                 f"(steps start every {self.order} timesteps)")
            self._step_index = self._begin_index

    def _reset_step_state(self) -> None:
        # The step in progress: the solver's step coroutine, the stage it waits for, and what the
        # noise draws of the current call use.
        self._stages = None
        self._next_stage = 0
        self._generator = None
        self._template: Optional[torch.Tensor] = None
        self._current_step = 0

    def _prediction(self, model_output: torch.Tensor, x: torch.Tensor, e: _Evaluation) -> tuple:
        """(D, F) of one evaluation, F = D or ε̂ as the update integrates (MATH §2, α² + σ² = 1):
        ε̂ = (x − α D)/σ, D = (x − σ ε̂)/α; for v = α ε − σ x_0, D = α x − σ v and ε̂ = σ x + α v."""
        kind = self.config.prediction_type
        if kind == "epsilon":
            eps = model_output
            data = torch.sub(x, eps, alpha=e.sigma).mul_(1.0 / e.alpha)
        elif kind == "v_prediction":
            data = torch.mul(x, e.alpha).sub_(model_output, alpha=e.sigma)
            eps = None
        else:
            data, eps = model_output, None
        if self.config.algorithm_type == "data" or e.denoise:
            return data, data
        if eps is None:
            eps = (torch.mul(x, e.sigma).add_(model_output, alpha=e.alpha) if kind == "v_prediction"
                   else torch.sub(x, data, alpha=e.alpha).mul_(1.0 / e.sigma))
        return data, eps

    def _draw(self, lam_a: float, lam_b: float, k: float) -> torch.Tensor:
        """z_k(λ_a, λ_b), the normalised weighted increment the solver asks for (MATH §4, §7):
        from the noise_sampler at σ̃ = e^{−λ} of the ends (as ``sample_seeds_k`` asks it), else a
        standard normal from the call's ``generator``."""
        template = self._template
        if self._noise_sampler is not None:
            sigma_a, sigma_b = float(self._grid.sigma_tilde(lam_a)), float(self._grid.sigma_tilde(lam_b))
            if sigma_a != sigma_b:  # else: ends closer than σ̃'s float64 resolution, as in sample_seeds_k
                z = self._noise_sampler(sigma_a, sigma_b)
                _check_noise(z, template, sigma_a, sigma_b, self._current_step)
                return z
        return randn_tensor(template.shape, generator=self._generator, device=template.device,
                            dtype=template.dtype)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor,
             generator: Union[torch.Generator, Sequence[torch.Generator], None] = None,
             return_dict: bool = True) -> Union[SEEDSSchedulerOutput, tuple]:
        """Take one model evaluation and return the next model input (module docstring).

        Args:
            model_output: the model's output at ``sample`` and ``timestep`` (``prediction_type``).
            timestep: the current timestep; read only to find the first index when the pipeline
                set no ``begin_index``. The calls are counted: call k belongs to ``timesteps[k]``.
            sample: the current model input (the last ``prev_sample``, or the start).
            generator: a ``torch.Generator``, a list of one per sample, or None (see Noise).
            return_dict: a :class:`SEEDSSchedulerOutput` (True) or ``(prev_sample, pred_original_sample)``.
        """
        if not self._evaluations:
            raise ValueError("call set_timesteps before step")
        if not isinstance(sample, torch.Tensor):
            raise TypeError(f"sample must be a torch.Tensor, got {type(sample).__name__}")
        if not isinstance(model_output, torch.Tensor):
            raise TypeError(f"model_output must be a torch.Tensor, got {type(model_output).__name__}")
        work = working_dtype(sample)
        if not torch.is_floating_point(model_output):
            raise TypeError(f"model_output must be a floating-point tensor, got {model_output.dtype}")
        if model_output.shape != sample.shape:
            raise ValueError(f"model_output must be shaped like sample {tuple(sample.shape)}, got "
                             f"{tuple(model_output.shape)}")
        if generator is not None and not isinstance(generator, torch.Generator):
            if not (isinstance(generator, (list, tuple)) and len(generator) == sample.shape[0]
                    and all(isinstance(g, torch.Generator) for g in generator)):
                raise TypeError("generator must be a torch.Generator, a list of one torch.Generator per sample "
                                f"({sample.shape[0]}), or None")
            generator = list(generator)
        if self._step_index is None:
            self._init_step_index(timestep)
        k = self._step_index
        if k >= len(self._evaluations):
            raise ValueError(f"step called {k + 1} times, but the schedule has {len(self._evaluations)} timesteps; "
                             "call set_timesteps to start a new run")
        e = self._evaluations[k]
        if self.config.algorithm_type == "noise" and work not in self._checked_dtypes:
            if self._positive.size >= 2:
                _check_noise_form_steps(self.solver, self._positive, -np.log(self._positive), self._eta, work)
            self._checked_dtypes.add(work)

        x = sample.to(work)
        data, prediction = self._prediction(model_output.to(work), x, e)
        if e.denoise:
            out = data
        else:
            if e.i == 0:
                # The reference step itself (seeds_verify.solvers): a coroutine that yields each
                # stage value and receives the model's prediction there.
                self._stages = self.solver._stages(e.n, x, self._plan, self._draw, self.config.algorithm_type,
                                                   self._s_noise)
                next(self._stages)
            elif self._stages is None or self._next_stage != e.i:
                raise ValueError(f"timesteps[{k}] is a stage of step {e.n}, whose earlier evaluations were not "
                                 "given to this scheduler")
            self._generator, self._template, self._current_step = generator, x, e.n
            try:
                out, _ = self._stages.send(prediction)
                self._next_stage = e.i + 1
            except StopIteration as done:
                out, _ = done.value
                self._stages = None
            finally:
                self._generator = self._template = None
        self._step_index = k + 1
        prev_sample = out.to(sample.dtype)
        pred_original = data.to(sample.dtype)
        if not return_dict:
            return prev_sample, pred_original
        return SEEDSSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_original)

    # -- training and img2img -------------------------------------------------------------

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """x_t = α_t x_0 + σ_t ε at (possibly fractional) training ``timesteps``, one per sample
        (or one for all), with α = (1 + σ̃²)^{−1/2}, σ = σ̃ α and σ̃ from the timestep map."""
        if not isinstance(original_samples, torch.Tensor) or not isinstance(noise, torch.Tensor):
            raise TypeError("original_samples and noise must be torch.Tensors")
        if noise.shape != original_samples.shape:
            raise ValueError(f"noise must be shaped like original_samples {tuple(original_samples.shape)}, got "
                             f"{tuple(noise.shape)}")
        t = torch.as_tensor(timesteps).detach().cpu().double().reshape(-1).numpy()
        if t.size not in (1, original_samples.shape[0]):
            raise ValueError(f"timesteps must hold one value or one per sample ({original_samples.shape[0]}), "
                             f"got {t.size}")
        if not np.all((t >= 0) & (t <= self._log_sigmas.size - 1)):
            raise ValueError(f"timesteps must lie in [0, {self._log_sigmas.size - 1}], got {t.tolist()}")
        s = self._sigma_of_t(t)
        alpha = 1.0 / np.hypot(1.0, s)
        shape = (-1,) + (1,) * (original_samples.ndim - 1)
        a = torch.from_numpy(alpha).to(original_samples.device, original_samples.dtype).reshape(shape)
        b = torch.from_numpy(s * alpha).to(original_samples.device, original_samples.dtype).reshape(shape)
        return a * original_samples + b * noise
