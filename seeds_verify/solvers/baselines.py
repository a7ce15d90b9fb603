"""Baseline samplers in the same framework, for comparison with SEEDS.

* :class:`EulerMaruyama` — the Euler–Maruyama step of the λ-time reverse SDE (MATH §3).
* :class:`DDPMAncestral` — ancestral sampling from the DDPM/DDIM posterior.
"""

from __future__ import annotations

import numpy as np

from .base import OneStagePlan, Solver, scale_state

__all__ = ["EulerMaruyama", "DDPMAncestral", "OneStagePlan"]


class EulerMaruyama(Solver):
    """Euler–Maruyama on the λ-time reverse SDE (MATH §3).

    data form:  x_t = x_s + h[(dlogα/dλ − 1 − η) x_s + (1+η) α_s D_s] + σ_s sqrt(2η h) z_0
    noise form: x_t = x_s + h[(dlogα/dλ) x_s − (1+η) σ_s ε̂_s]    + σ_s sqrt(2η h) z_0
    The two drifts are the same function of x (substitute ε̂ = (x − αD)/σ), so both forms give
    the same iterates; ``prediction`` only chooses what the model is asked for. z_0 is the plain
    (weight exponent 0) increment ΔW/sqrt(h). The noise is additive in λ-time, so the strong
    order is 1, as are the weak and deterministic orders.
    """

    name = "em"
    order = 1
    strong_order = 1.0
    weak_order = 1
    nfe_per_step = 1

    def _prepare(self, lam, schedule, eta, form):
        lam_s, h = lam[:-1], np.diff(lam)
        alpha = np.asarray(schedule.alpha_of_lam(lam_s), dtype=np.float64)
        sigma = np.asarray(schedule.sigma_of_lam(lam_s), dtype=np.float64)
        dlog = np.asarray(schedule.dlog_alpha_dlam(lam_s), dtype=np.float64) * np.ones_like(h)
        if form == "data":
            linear = 1.0 + h * (dlog - 1.0 - eta)
            model = h * (1.0 + eta) * alpha
        else:
            linear = 1.0 + h * dlog
            model = -h * (1.0 + eta) * sigma
        noise = sigma * np.sqrt(2.0 * eta * h)
        return OneStagePlan(lam.tolist(), linear.tolist(), model.tolist(), noise.tolist(), 0.0, eta > 0.0)

    def _noise_chain(self, plan):
        return plan.noise_chain

    def _one_stage(self, plan, form):
        return plan if type(self)._stages is EulerMaruyama._stages else None

    def _stages(self, n, x, plan, noise, form, s_noise):
        f = yield x, plan.lam[n]
        out, keep = scale_state(x, plan.linear[n])
        out.add_(f, alpha=plan.model[n])
        if plan.stochastic and s_noise > 0.0:
            z = noise(plan.lam[n], plan.lam[n + 1], plan.weight_exponent)
            out.add_(z.to(x.dtype), alpha=s_noise * plan.noise[n])
        return (out.add_(x) if keep else out), f


class DDPMAncestral(Solver):
    """Ancestral sampling from the DDIM posterior family, matched to the η-SDE.

    With x_t = α_t x_0 + σ_t ε, the DDIM step with noise level s is
    x_t = α_t D_s + sqrt(σ_t² − s²) ε̂_s + s z. Choosing s² = η σ_t² (1 − e^{−2h}) makes the
    injected variance match the η-SDE of MATH §3 to first order (2η h σ²) and gives, at η = 1,
    the DDPM posterior q(x_t | x_s, x_0 = D_s) — whose variance is σ_t²(1 − e^{−2h}) because
    (α_s σ_t/(α_t σ_s))² = e^{−2h} — and at η = 0 the deterministic DDIM step. Substituting
    ε̂_s = (x_s − α_s D_s)/σ_s:

        x_t = (q σ_t/σ_s) x_s + α_t (1 − q e^{−h}) D_s + σ_t sqrt(−η expm1(−2h)) z,
        q = sqrt(1 + η expm1(−2h)),

    using α_s σ_t/σ_s = α_t e^{−h}. At η = 1 this is SEEDS-1 with η = 1 in the data form
    (q = e^{−h}), which the tests check. z is read with weight exponent η, as in the data form.
    Orders 1 (deterministic, strong, weak).
    """

    name = "ddpm"
    order = 1
    strong_order = 1.0
    weak_order = 1
    nfe_per_step = 1

    def _prepare(self, lam, schedule, eta, form):
        lam_s, lam_t, h = lam[:-1], lam[1:], np.diff(lam)
        sigma_s = np.asarray(schedule.sigma_of_lam(lam_s), dtype=np.float64)
        alpha_s = np.asarray(schedule.alpha_of_lam(lam_s), dtype=np.float64)
        sigma_t = np.asarray(schedule.sigma_of_lam(lam_t), dtype=np.float64)
        alpha_t = np.asarray(schedule.alpha_of_lam(lam_t), dtype=np.float64)
        em2h = np.expm1(-2.0 * h)
        q = np.sqrt(1.0 + eta * em2h)
        linear = q * sigma_t / sigma_s
        # 1 − q e^{−h} = −expm1(log q − h): no cancellation for small h.
        model = -alpha_t * np.expm1(0.5 * np.log1p(eta * em2h) - h)
        noise = sigma_t * np.sqrt(-eta * em2h)
        return OneStagePlan(lam.tolist(), linear.tolist(), model.tolist(), noise.tolist(), eta, eta > 0.0,
                            alpha_s.tolist(), sigma_s.tolist())

    def _noise_chain(self, plan):
        return plan.noise_chain

    def _one_stage(self, plan, form):
        # In the noise form the step reads (x − σ f)/α, not f itself.
        return plan if form == "data" and type(self)._stages is DDPMAncestral._stages else None

    def _stages(self, n, x, plan, noise, form, s_noise):
        f = yield x, plan.lam[n]
        d = f if form == "data" else (x - plan.sigma_start[n] * f) / plan.alpha_start[n]
        out, keep = scale_state(x, plan.linear[n])
        out.add_(d, alpha=plan.model[n])
        if plan.stochastic and s_noise > 0.0:
            z = noise(plan.lam[n], plan.lam[n + 1], plan.weight_exponent)
            out.add_(z.to(x.dtype), alpha=s_noise * plan.noise[n])
        return (out.add_(x) if keep else out), f
