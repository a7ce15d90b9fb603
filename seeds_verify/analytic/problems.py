"""Closed forms for the test problems of MATH §8, as sympy objects to lambdify or compare.

Convention: data x_0 ~ p_data, x_λ = α x_0 + σ ε (MATH §1). The reverse-SDE results use the
k-diffusion convention α = 1, σ = e^{−λ} (MATH §1: rescale x ← x/α, σ ← σ/α for any other
schedule), in λ-time with stochasticity η (MATH §3).

Gaussian data N(μ, Σ):
* denoiser (MATH §8) D(x) = μ + α Σ (α²Σ + σ²I)^{-1}(x − αμ), derived here as the posterior
  mean (:func:`derive_gaussian_denoiser`) and through Tweedie's formula D = (x + σ²∇log p)/α
  (:func:`check_gaussian_denoiser`);
* marginal N(αμ, α²Σ + σ²I) (:func:`gaussian_marginal`);
* exact reverse-SDE transition along an eigen-direction of variance s² (α = 1): y = x − μ obeys
  dy = ℓ(λ) y dλ + σ sqrt(2η) dW with ℓ = −(1+η)σ²/(s² + σ²), so
  E[y_t | y_λ] = Φ(t, λ) y_λ with Φ = ((s² + σ_t²)/(s² + σ_λ²))^{(1+η)/2} and
  Var[y_t | y_λ] = (s² + σ_t²)(1 − ((s² + σ_t²)/(s² + σ_λ²))^η)
  (:func:`gaussian_transition`, derived by integrating the ODEs; the marginal is preserved).
Gaussian mixture Σ_k w_k N(μ_k, Σ_k): marginal density, denoiser as responsibilities (in
log-sum-exp form) times per-component denoisers, and the first two moments.
"""

from __future__ import annotations

import functools
from typing import Sequence

import sympy as sp

from .algebra import assert_zero, require
from .exact import alpha as alpha_fn
from .exact import sde_drift
from .symbols import eta, lam, x

__all__ = [
    "s2", "mu", "alpha_sym", "sigma_sym", "lam_from", "lam_to",
    "gaussian_denoiser", "derive_gaussian_denoiser", "check_gaussian_denoiser",
    "gaussian_marginal", "gaussian_transition", "check_gaussian_transition",
    "gaussian_reverse_moments",
    "gmm_log_density", "gmm_responsibilities", "gmm_denoiser", "gmm_moments", "check_gmm_denoiser",
]

#: variance of a one-dimensional Gaussian (or of one eigen-direction)
s2 = sp.Symbol("s2", positive=True)
#: its mean
mu = sp.Symbol("mu", real=True)
#: α and σ at the time the denoiser is evaluated
alpha_sym = sp.Symbol("alpha", positive=True)
sigma_sym = sp.Symbol("sigma", positive=True)
#: start and end of a reverse-SDE transition in λ-time
lam_from = sp.Symbol("lambda_0", real=True)
lam_to = sp.Symbol("lambda_1", real=True)


def _as_matrix(value) -> sp.Matrix:
    if isinstance(value, sp.MatrixBase):
        return sp.Matrix(value)
    if isinstance(value, (list, tuple)):
        return sp.Matrix(value)
    return sp.Matrix([[sp.sympify(value)]])


def _is_scalar(*values) -> bool:
    return all(not isinstance(v, (sp.MatrixBase, list, tuple)) for v in values)


def gaussian_denoiser(mean=mu, cov=s2, state=x, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """D(x) = μ + α Σ (α²Σ + σ²I)^{-1}(x − αμ) for N(μ, Σ) data (MATH §8).

    Scalars give a scalar expression, matrices/lists (μ and x column vectors, Σ square) a Matrix.
    """
    if _is_scalar(mean, cov, state):
        return mean + alpha_value * cov / (alpha_value**2 * cov + sigma_value**2) * (state - alpha_value * mean)
    m, c, xv = _as_matrix(mean), _as_matrix(cov), _as_matrix(state)
    if c.shape[0] != c.shape[1] or m.shape != (c.shape[0], 1) or xv.shape != m.shape:
        raise ValueError(f"shapes do not match: mean {m.shape}, cov {c.shape}, state {xv.shape}")
    total = alpha_value**2 * c + sigma_value**2 * sp.eye(c.shape[0])
    return m + alpha_value * c * total.inv() * (xv - alpha_value * m)


@functools.cache
def derive_gaussian_denoiser() -> sp.Expr:
    """Posterior mean E[x_0 | x_λ = x] for x_0 ~ N(μ, s²), x_λ | x_0 ~ N(α x_0, σ²), by Bayes.

    The log posterior is quadratic in x_0; its mean is the root of the derivative. The result
    is proven equal to :func:`gaussian_denoiser` (MATH §8).
    """
    x0 = sp.Symbol("x_0", real=True)
    log_post = -(x0 - mu) ** 2 / (2 * s2) - (x - alpha_sym * x0) ** 2 / (2 * sigma_sym**2)
    (root,) = sp.solve(sp.diff(log_post, x0), x0)
    require(sp.diff(log_post, x0, 2).is_negative, "posterior log-density is concave")
    assert_zero(root - gaussian_denoiser(), "posterior mean vs MATH §8 denoiser")
    return sp.simplify(root)


@functools.cache
def check_gaussian_denoiser(dim: int = 2) -> bool:
    """Prove MATH §8's matrix denoiser is Tweedie's formula (x + σ²∇log p_λ)/α for a symbolic
    symmetric ``dim``×``dim`` Σ (the marginal being N(αμ, α²Σ + σ²I)); True or raise."""
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2 (symbolic inverses grow fast), got {dim}")
    entries = sp.symbols(f"S0:{dim * dim}", real=True)
    cov = sp.Matrix(dim, dim, lambda i, j: entries[min(i, j) * dim + max(i, j)])
    mean = sp.Matrix(sp.symbols(f"m0:{dim}", real=True))
    state = sp.Matrix(sp.symbols(f"x0:{dim}", real=True))
    m_t, c_t = gaussian_marginal(mean, cov)
    score = -c_t.inv() * (state - m_t)
    tweedie = (state + sigma_sym**2 * score) / alpha_sym
    difference = tweedie - gaussian_denoiser(mean, cov, state)
    for entry in difference:
        assert_zero(sp.together(entry), "Tweedie vs MATH §8 denoiser")
    return True


def gaussian_marginal(mean=mu, cov=s2, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """(mean, covariance) of x_λ = α x_0 + σ ε: (αμ, α²Σ + σ²I) (MATH §8)."""
    if _is_scalar(mean, cov):
        return alpha_value * mean, alpha_value**2 * cov + sigma_value**2
    m, c = _as_matrix(mean), _as_matrix(cov)
    return alpha_value * m, alpha_value**2 * c + sigma_value**2 * sp.eye(c.shape[0])


@functools.cache
def gaussian_transition() -> tuple[sp.Expr, sp.Expr]:
    """(Φ, V): E[y_1|y_0] = Φ y_0, Var[y_1|y_0] = V for y = x − μ along a direction of variance s².

    α = 1, σ = e^{−λ}, from λ_0 = ``lam_from`` to λ_1 = ``lam_to`` (module docstring). Derived:
    ℓ is read off the data-form drift of MATH §3 with the Gaussian denoiser; Φ = exp∫ℓ by sympy;
    V = ∫ Φ(λ_1, u)² 2η σ_u² du, integrated by the substitution w = s² + e^{−2u}. Returned in the
    forms Φ = ((s² + σ_1²)/(s² + σ_0²))^{(1+η)/2}, V = (s² + σ_1²)(1 − ((s² + σ_1²)/(s² + σ_0²))^η),
    each proven equal to the derived expression.
    """
    y = sp.Symbol("y", real=True)
    sigma_l = sp.exp(-lam)
    denoised = gaussian_denoiser(mu, s2, y + mu, 1, sigma_l)
    drift = sde_drift("data", y + mu, denoised).subs(alpha_fn(lam), 1).doit()
    rate = sp.simplify(sp.diff(drift, y))
    require(sp.simplify(drift.subs(y, 0)) == 0, "the drift vanishes at the mean")
    assert_zero(rate + (1 + eta) * sigma_l**2 / (s2 + sigma_l**2), "Gaussian drift rate")
    eta_pos = sp.Symbol("eta_pos", positive=True)
    log_phi = sp.integrate(rate.subs(eta, eta_pos), (lam, lam_from, lam_to)).subs(eta_pos, eta)
    w_0, w_1 = s2 + sp.exp(-2 * lam_from), s2 + sp.exp(-2 * lam_to)
    phi_closed = (w_1 / w_0) ** ((1 + eta) / 2)
    require(sp.simplify(sp.expand_log(log_phi - sp.log(phi_closed), force=True)) == 0, "Φ = exp∫ℓ")
    # V = 2η ∫_{λ_0}^{λ_1} (w_1/w(u))^{1+η} e^{−2u} du, w(u) = s² + e^{−2u}, dw = −2e^{−2u} du.
    w = sp.Symbol("w", positive=True)
    w0_sym, w1_sym = sp.symbols("w_0 w_1", positive=True)  # stand-ins for the positive w_0, w_1
    v_derived = w1_sym ** (1 + eta_pos) * sp.integrate(eta_pos * w ** (-1 - eta_pos), (w, w1_sym, w0_sym))
    v_generic = w1_sym * (1 - (w1_sym / w0_sym) ** eta_pos)
    difference = sp.expand(sp.expand_power_base(sp.powsimp(sp.expand(v_derived - v_generic), force=True), force=True))
    require(sp.simplify(sp.powsimp(difference, force=True)) == 0, "transition variance")
    v_closed = w_1 * (1 - (w_1 / w_0) ** eta)
    return phi_closed, v_closed


@functools.cache
def check_gaussian_transition() -> bool:
    """Prove the transition (Φ, V) solves the mean and variance ODEs and keeps the marginal; True or raise.

    dΦ/dλ_1 = ℓ(λ_1)Φ, Φ(λ_0) = 1; dV/dλ_1 = 2ℓ(λ_1)V + 2ησ_1², V(λ_0) = 0 (Itô); and started
    from the exact marginal variance s² + σ_0², Φ²(s² + σ_0²) + V = s² + σ_1².
    """
    phi_closed, v_closed = gaussian_transition()
    sig1 = sp.exp(-lam_to)
    rate = -(1 + eta) * sig1**2 / (s2 + sig1**2)
    require(sp.simplify(sp.diff(phi_closed, lam_to) / phi_closed - rate) == 0, "Φ' = ℓΦ")
    require(sp.simplify(phi_closed.subs(lam_to, lam_from)) == 1, "Φ(λ_0) = 1")
    require(sp.simplify(sp.diff(v_closed, lam_to) - 2 * rate * v_closed - 2 * eta * sig1**2) == 0, "V' = 2ℓV + 2ησ²")
    require(sp.simplify(v_closed.subs(lam_to, lam_from)) == 0, "V(λ_0) = 0")
    marginal = phi_closed**2 * (s2 + sp.exp(-2 * lam_from)) + v_closed
    require(sp.simplify(sp.powsimp(marginal - (s2 + sig1**2), force=True)) == 0, "marginal preserved")
    return True


def gaussian_reverse_moments(mean, cov, start_mean, start_cov, lam_0, lam_1, eta_value=eta):
    """Exact mean and covariance at λ_1 of the reverse SDE (α = 1) started from N(start_mean, start_cov) at λ_0.

    Data N(``mean``, ``cov``) with ``cov`` symmetric (hence orthogonally diagonalisable):
    Σ = Q diag(s_i²) Qᵀ; along each eigen-direction the transition of :func:`gaussian_transition`
    applies, so with T = Q diag(Φ_i) Qᵀ and V = Q diag(V_i) Qᵀ:
    mean_1 = μ + T(m_0 − μ), cov_1 = T C_0 Tᵀ + V. Scalars are accepted and give scalars.
    """
    phi_closed, v_closed = gaussian_transition()
    at = {lam_from: sp.sympify(lam_0), lam_to: sp.sympify(lam_1), eta: sp.sympify(eta_value)}
    if _is_scalar(mean, cov, start_mean, start_cov):
        phi_v, var_v = phi_closed.subs(at).subs(s2, cov), v_closed.subs(at).subs(s2, cov)
        return mean + phi_v * (start_mean - mean), phi_v**2 * start_cov + var_v
    m, c = _as_matrix(mean), _as_matrix(cov)
    m0, c0 = _as_matrix(start_mean), _as_matrix(start_cov)
    if c != c.T:
        raise ValueError("cov must be symmetric")
    q, d = c.diagonalize(normalize=True)
    dim = c.shape[0]
    transfer = q * sp.diag(*[phi_closed.subs(at).subs(s2, d[i, i]) for i in range(dim)]) * q.T
    var = q * sp.diag(*[v_closed.subs(at).subs(s2, d[i, i]) for i in range(dim)]) * q.T
    return m + transfer * (m0 - m), transfer * c0 * transfer.T + var


# --------------------------------------------------------------------------------------------
# Gaussian mixtures
# --------------------------------------------------------------------------------------------

def _components(weights: Sequence, means: Sequence, covs: Sequence):
    if not (len(weights) == len(means) == len(covs)) or not weights:
        raise ValueError("weights, means and covs must be non-empty and of equal length")
    return [sp.sympify(w) for w in weights], list(means), list(covs)


def _log_normal(point, mean, cov):
    if _is_scalar(point, mean, cov):
        return -(point - mean) ** 2 / (2 * cov) - sp.log(2 * sp.pi * cov) / 2
    p, m, c = _as_matrix(point), _as_matrix(mean), _as_matrix(cov)
    diff = p - m
    dim = c.shape[0]
    return -(diff.T * c.inv() * diff)[0, 0] / 2 - sp.log((2 * sp.pi) ** dim * c.det()) / 2


def _component_logs(weights, means, covs, state, alpha_value, sigma_value):
    weights, means, covs = _components(weights, means, covs)
    logs = []
    for w, m, c in zip(weights, means, covs):
        m_t, c_t = gaussian_marginal(m, c, alpha_value, sigma_value)
        logs.append(sp.log(w) + _log_normal(state, m_t, c_t))
    return logs


def gmm_log_density(weights, means, covs, state=x, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """log p_λ(x) = log Σ_k w_k N(x; αμ_k, α²Σ_k + σ²I) (MATH §8), in log-sum-exp form
    M + log Σ_k exp(ℓ_k − M) with M = max_k ℓ_k (so a lambdified version does not underflow)."""
    logs = _component_logs(weights, means, covs, state, alpha_value, sigma_value)
    top = sp.Max(*logs) if len(logs) > 1 else logs[0]
    return top + sp.log(sum(sp.exp(l - top) for l in logs))


def gmm_responsibilities(weights, means, covs, state=x, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """r_k(x) = exp(ℓ_k − log-sum-exp_j ℓ_j), ℓ_k = log w_k + log N(x; αμ_k, α²Σ_k + σ²I)."""
    logs = _component_logs(weights, means, covs, state, alpha_value, sigma_value)
    lse = gmm_log_density(weights, means, covs, state, alpha_value, sigma_value)
    return [sp.exp(l - lse) for l in logs]


def gmm_denoiser(weights, means, covs, state=x, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """D(x) = Σ_k r_k(x) D_k(x): responsibilities times per-component Gaussian denoisers (MATH §8)."""
    resp = gmm_responsibilities(weights, means, covs, state, alpha_value, sigma_value)
    parts = [gaussian_denoiser(m, c, state, alpha_value, sigma_value) for m, c in zip(means, covs)]
    return sum((r * p for r, p in zip(resp[1:], parts[1:])), resp[0] * parts[0])


def gmm_moments(weights, means, covs, alpha_value=alpha_sym, sigma_value=sigma_sym):
    """(E x_λ, E x_λ x_λᵀ) of the mixture marginal: Σ w_k αμ_k and Σ w_k (α²Σ_k + σ²I + α²μ_kμ_kᵀ).

    Scalars give (E x, E x²). Weights are used as given (they should sum to 1).
    """
    weights, means, covs = _components(weights, means, covs)
    if _is_scalar(means[0], covs[0]):
        first, second = sp.Integer(0), sp.Integer(0)
    else:
        dim = _as_matrix(covs[0]).shape[0]
        first, second = sp.zeros(dim, 1), sp.zeros(dim, dim)
    for w, m, c in zip(weights, means, covs):
        m_t, c_t = gaussian_marginal(m, c, alpha_value, sigma_value)
        if _is_scalar(m, c):
            first += w * m_t
            second += w * (c_t + m_t**2)
        else:
            first = first + w * m_t
            second = second + w * (c_t + m_t * m_t.T)
    return first, second


@functools.cache
def check_gmm_denoiser() -> bool:
    """Prove, for a symbolic two-component 1-D mixture, that Tweedie's formula
    (x + σ² d/dx log p_λ)/α equals the responsibility-weighted denoiser; True or raise."""
    w1 = sp.Symbol("w1", positive=True)
    m1, m2 = sp.symbols("mu1 mu2", real=True)
    v1, v2 = sp.symbols("s2_1 s2_2", positive=True)
    weights, means, covs = (w1, 1 - w1), (m1, m2), (v1, v2)
    # The plain sum form (no max) for differentiation; log-sum-exp is the same function.
    dens = sum(w * sp.exp(_log_normal(x, *gaussian_marginal(m, c))) for w, m, c in zip(weights, means, covs))
    tweedie = (x + sigma_sym**2 * sp.diff(sp.log(dens), x)) / alpha_sym
    comps = [w * sp.exp(_log_normal(x, *gaussian_marginal(m, c))) for w, m, c in zip(weights, means, covs)]
    weighted = sum(cp * gaussian_denoiser(m, c) for cp, m, c in zip(comps, means, covs)) / dens
    assert_zero(sp.together(tweedie - weighted), "GMM Tweedie vs responsibilities")
    # The log-sum-exp form equals log of the density.
    lse = gmm_log_density(weights, means, covs)
    point = {x: sp.Rational(3, 10), m1: -1, m2: 2, v1: sp.Rational(1, 2), v2: 2, w1: sp.Rational(1, 3),
             alpha_sym: sp.Rational(4, 5), sigma_sym: sp.Rational(3, 5)}
    require(abs(sp.N(lse.subs(point) - sp.log(dens.subs(point)), 50)) < sp.Float(1e-45), "log-sum-exp form")
    return True
