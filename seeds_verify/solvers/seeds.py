"""The reference SEEDS-1/2/3 solvers in torch (MATH §6, §7).

One mechanism serves every scheme: :class:`ExponentialSolver` reads a
:class:`~seeds_verify.schemes.SchemeSpec` (which earlier model evaluations each stage
interpolates) and gets every number from :mod:`seeds_verify.coefficients`. A stage at
λ_i = λ_s + c_i h is

    x_i = L_i x_s + A_i Σ_j ω_ij F_j + σ_i Σ_{j≤i} F^noise_ij z_j,

with the linear factor L_i, the kernel weights ω_ij of the polynomial interpolant, and the
lower-triangular noise factor of MATH §7 applied to the normalised weighted increments
z_j = z_k(λ_{j−1}, λ_j) of the sub-intervals, all drawn from one noise source in order. A
sub-interval of zero length (two equal consecutive stage fractions, e.g. SEEDS-2 with r = 1)
carries no noise: its column of the factor is 0 and the noise source is not called for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch

from .. import coefficients as C
from ..schemes import SchemeSpec, seeds1_spec, seeds2_spec, seeds3_spec
from .base import OneStagePlan, Solver, scale_state

__all__ = ["StepCoefficients", "ExponentialPlan", "ExponentialSolver", "SEEDS1", "SEEDS2", "SEEDS3"]


@dataclass
class StepCoefficients:
    """Float64 coefficients of every step of a grid (N steps, m stage points).

    Attributes:
        lam_start: (N,) λ_s of each step.
        lam_points: (N, m) λ of the stage points (last column = λ_t).
        linear: (N, m) linear factors L_i.
        model: list over stages of (N, n_nodes_i) weights A_i ω_ij (scale included).
        noise: (N, m, m) σ_i F^noise_ij.
        weight_exponent: k of the increments (MATH §4).
        stochastic: whether the noise terms are to be drawn at all (η > 0).
    """

    lam_start: np.ndarray
    lam_points: np.ndarray
    linear: np.ndarray
    model: list
    noise: np.ndarray
    weight_exponent: float
    stochastic: bool



@dataclass(frozen=True)
class ExponentialPlan:
    """What :meth:`ExponentialSolver._stages` reads: the grid's :class:`StepCoefficients` and the
    same numbers as Python floats per step (multiplying a tensor by a float costs no device
    transfer). ``model[i][n]`` are stage i's node weights in step n, ``noise[n][i][j]`` the
    factor of z_j at stage i."""

    coefficients: StepCoefficients
    lam_start: list
    lam_points: list
    linear: list
    model: list
    noise: list

    @property
    def stochastic(self) -> bool:
        return self.coefficients.stochastic

    @property
    def model_lambdas(self) -> np.ndarray:
        """λ of every model evaluation: each step's start and its stage points before the end."""
        c = self.coefficients
        return np.concatenate([c.lam_start, c.lam_points[:, :-1].reshape(-1)])

    @classmethod
    def of(cls, coeffs: StepCoefficients) -> "ExponentialPlan":
        return cls(coeffs, coeffs.lam_start.tolist(), coeffs.lam_points.tolist(), coeffs.linear.tolist(),
                   [w.tolist() for w in coeffs.model], coeffs.noise.tolist())


class ExponentialSolver(Solver):
    """A SEEDS scheme given by its stage structure (see the module docstring)."""

    def __init__(self, spec: SchemeSpec):
        if not isinstance(spec, SchemeSpec):
            raise TypeError(f"spec must be a SchemeSpec, got {type(spec).__name__}")
        self.spec = spec
        self.name = spec.name
        self.order = spec.deterministic_order
        self.strong_order = spec.strong_order
        self.weak_order = spec.weak_order
        self.nfe_per_step = spec.nfe_per_step
        self._fractions = np.array([float(c) for c in spec.fractions])
        # Sub-interval i runs from the previous stage point (λ_s for i = 0) to stage point i.
        previous = np.concatenate([[0.0], self._fractions[:-1]])
        self._empty_segments = tuple(bool(e) for e in self._fractions == previous)
        self._node_fractions = []
        for stage in spec.stages:
            self._node_fractions.append([0.0 if j == 0 else float(spec.stages[j - 1].fraction)
                                         for j in stage.nodes])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name}, fractions={self._fractions.tolist()})"

    def coefficients(self, lam: np.ndarray, schedule, eta: float, form: str) -> StepCoefficients:
        """Every coefficient of every step of the grid ``lam`` (float64, MATH §6–§7)."""
        h = np.diff(lam)
        fr = self._fractions
        lam_s = lam[:-1]
        lam_pts = lam_s[:, None] + fr[None, :] * h[:, None]
        # The end point, and any stage at c = 1 (SEEDS-2 with r = 1), is the next grid value,
        # not a rounded sum.
        lam_pts[:, -1] = lam[1:]
        lam_pts[:, fr == 1.0] = lam[1:, None]
        alpha_s = np.asarray(schedule.alpha_of_lam(lam_s), dtype=np.float64)[:, None]
        sigma_s = np.asarray(schedule.sigma_of_lam(lam_s), dtype=np.float64)[:, None]
        alpha_c = np.asarray(schedule.alpha_of_lam(lam_pts), dtype=np.float64)
        sigma_c = np.asarray(schedule.sigma_of_lam(lam_pts), dtype=np.float64)
        ch = fr[None, :] * h[:, None]
        linear = C.linear_factor(form, alpha_s, sigma_s, alpha_c, sigma_c, eta, ch)
        if form == "noise":
            # Kernel and noise weights grow like e^{ch} (overflowing for a large step, e.g. σ from
            # 1e100 to 1e-100) while σ_c e^{ch} = α_c σ_s/α_s stays bounded: use the discounted
            # weights and that product in place of σ_c.
            sigma_c = alpha_c * (sigma_s / alpha_s)
        scale = C.model_scale(form, alpha_c, sigma_c, eta)
        model = []
        for i, stage in enumerate(self.spec.stages):
            w = C.stage_kernel_weights(fr[i], h, eta, form, self._node_fractions[i], stage.averaged,
                                       discounted=True)
            model.append(scale[:, i, None] * w)
        noise = sigma_c[:, :, None] * C.noise_factor(fr, h, eta, form, discounted=True)
        return StepCoefficients(lam_s, lam_pts, np.broadcast_to(linear, lam_pts.shape).copy(),
                                model, noise, C.weight_exponent(form, eta), eta > 0.0)

    def rounding_gain(self, lam: np.ndarray, schedule, eta: float, form: str) -> np.ndarray:
        """Per step, the factor G by which the step can amplify rounding errors of its iterate.

        In the noise form a later stage reads ε̂_j = (x_j − α_j D_j)/σ_j of an earlier stage
        value x_j: an absolute error e in x_j becomes e/σ_j in ε̂_j and enters with a weight of
        size ~σ_s, i.e. it is multiplied by about e^{c_j h}. With e_0 = 1 for the iterate x_s
        (errors in units of u·|x_s|), e_i = |L_i| + Σ_j |A_i ω_ij| (e_j + 1)/σ_j (the + 1 for
        the rounding of the model output and of the difference); G = e_m of the end point.
        In the data form the model outputs are not divided by σ and G = |L_m| + Σ_j |A_m ω_mj|
        (the weights are bounded by (1+η)α Λ). Returns an (N,) float64 array (inf where a
        weight over σ overflows).
        """
        lam = np.asarray(lam, dtype=np.float64)
        coeffs = self.coefficients(lam, schedule, eta, form)
        sigma_s = np.asarray(schedule.sigma_of_lam(coeffs.lam_start), dtype=np.float64)
        sigma_c = np.asarray(schedule.sigma_of_lam(coeffs.lam_points), dtype=np.float64)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            errors = [np.ones_like(sigma_s)]
            for i, stage in enumerate(self.spec.stages):
                e = np.abs(coeffs.linear[:, i]).copy()
                for k, node in enumerate(stage.nodes):
                    w = np.abs(coeffs.model[i][:, k])
                    if form == "noise":
                        sigma_node = sigma_s if node == 0 else sigma_c[:, node - 1]
                        e = e + w * (errors[node] + 1.0) / sigma_node
                    else:
                        e = e + w
                errors.append(np.where(np.isnan(e), np.inf, e))
        return errors[-1]

    def _prepare(self, lam, schedule, eta, form) -> ExponentialPlan:
        return ExponentialPlan.of(self.coefficients(lam, schedule, eta, form))

    def _noise_chain(self, plan: ExponentialPlan):
        """λ_0 followed, step by step, by the end of every non-empty sub-interval: the stage
        points of MATH §7 in the order :meth:`_stages` asks for z_j (the last one of a step is
        λ_{n+1}, the next step's start)."""
        coeffs = plan.coefficients
        kept = [i for i, empty in enumerate(self._empty_segments) if not empty]
        chain = np.concatenate([coeffs.lam_start[:1], coeffs.lam_points[:, kept].reshape(-1)])
        return chain, coeffs.weight_exponent

    def _one_stage(self, plan: ExponentialPlan, form):
        """SEEDS-1's plan as a :class:`~.base.OneStagePlan` (one stage reading only the step's
        start: x_t = L x_s + A F_s + σ_t F^noise z, MATH §6–§7)."""
        if type(self)._stages is not ExponentialSolver._stages or self.spec.stages[0].nodes != (0,) \
                or len(self.spec.stages) != 1:
            return None
        c = plan.coefficients
        lam = np.concatenate([c.lam_start, c.lam_points[-1:, -1]])
        return OneStagePlan(lam.tolist(), c.linear[:, 0].tolist(), c.model[0][:, 0].tolist(),
                            c.noise[:, 0, 0].tolist(), c.weight_exponent, c.stochastic)

    def _stages(self, n, x, plan: ExponentialPlan, noise, form, s_noise):
        lam_s, lam_pts, linear, weights, noise_f = (plan.lam_start, plan.lam_points, plan.linear,
                                                    plan.model, plan.noise)
        draw = plan.coefficients.stochastic and s_noise > 0.0
        k = plan.coefficients.weight_exponent
        evals = [(yield x, lam_s[n])]
        z: list[torch.Tensor] = []
        out = x
        empty = self._empty_segments
        for i, stage in enumerate(self.spec.stages):
            if draw:
                a = lam_s[n] if i == 0 else lam_pts[n][i - 1]
                # A zero-length sub-interval has no increment (and a k-diffusion noise_sampler
                # would be asked for σ → σ): nothing is drawn, its coefficients are 0.
                z.append(None if empty[i] else noise(a, lam_pts[n][i], k))
            # A fresh tensor (the in-place adds below touch nothing else); increment form when
            # the stage changes x little (split_linear).
            out, keep = scale_state(x, linear[n][i])
            for node, w in zip(stage.nodes, weights[i][n]):
                out.add_(evals[node], alpha=w)
            if draw:
                for j in range(i + 1):
                    if z[j] is not None:
                        out.add_(z[j].to(x.dtype), alpha=s_noise * noise_f[n][i][j])
            if keep:
                out.add_(x)
            if i + 1 < len(self.spec.stages):
                evals.append((yield out, lam_pts[n][i]))
        return out, evals[0]


def _check_number(value, name: str) -> None:
    """A solver's fraction must be a plain real number (the specs also take symbols, and
    ``seeds3_spec`` reads None as its default; a solver needs floats)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


class SEEDS1(ExponentialSolver):
    """SEEDS-1 (MATH §6): x_t = L(1) x_s + α_t(1 − e^{−H}) D_s + N_t, H = (1+η)h.

    Deterministic order 1; for η > 0 strong order 1 and weak order 1.
    """

    def __init__(self):
        super().__init__(seeds1_spec())


class SEEDS2(ExponentialSolver):
    """SEEDS-2 with stage fraction ``r`` ∈ (0, 1], ``variant`` "phi_1" (2a) or "phi_2" (2b) (MATH §6).

    With r = 1 the stage lies at the end point (one noise draw per step; with "phi_2" this is
    the exponential Heun scheme). Deterministic order 2; for η > 0 strong order 1 (MATH §9)
    and weak order 2.
    """

    def __init__(self, r: float = 0.5, variant: str = "phi_1"):
        _check_number(r, "r")
        super().__init__(seeds2_spec(r, variant))
        self.r = float(r)
        self.variant = variant


class SEEDS3(ExponentialSolver):
    """SEEDS-3 with fractions ``r_1 < r_2`` and ``variant`` "3a" or "3b" (MATH §6).

    Deterministic order 3; for η > 0 strong order 1 (MATH §9) and weak order 2: one more stage
    raises the deterministic order but not the order of the second moment (see ``schemes``).
    """

    def __init__(self, r_1: float = 1 / 3, r_2: float = 2 / 3, variant: str = "3a"):
        _check_number(r_1, "r_1")
        _check_number(r_2, "r_2")
        super().__init__(seeds3_spec(r_1, r_2, variant))
        self.r_1, self.r_2 = float(r_1), float(r_2)
        self.variant = variant
