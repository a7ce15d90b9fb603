"""Symbolic derivations with sympy: what is true about SEEDS (MATH §1–§9).

This is the only part of ``seeds_verify`` that imports sympy; nothing else imports it, and
importing ``seeds_verify`` does not import it. Every derivation runs on demand and is cached.

Modules, each a MATH section:

* :mod:`.phi` (§5) — φ_k closed forms and the checks of their integral form, recurrence, value
  at 0 and Taylor series;
* :mod:`.exact` (§3, §4) — the variation-of-constants pieces of the exact step, solved from the
  λ-time SDE with a symbolic α(λ), for the data and the noise form;
* :mod:`.coefficients` (§6) — every stage's linear factor and model weights for a
  :class:`~seeds_verify.schemes.SchemeSpec`, by integrating the interpolant against the kernel;
* :mod:`.references` (§6, η = 0 literature) — the printed forms they must reproduce;
* :mod:`.noise` (§4, §7) — Itô covariances, the triangular noise factor and the swapped defect;
* :mod:`.problems` (§8) — Gaussian and Gaussian-mixture closed forms;
* :mod:`.orders` (§9) — predicted strong, weak and deterministic orders and constants;
* :mod:`.latex` — LaTeX of the derived objects for the report.

The checks (``check_*``) return True or raise :class:`DerivationError`.
"""

from .algebra import DerivationError, assert_zero, is_identically_zero
from .coefficients import (
    SchemeCoefficients,
    StageCoefficients,
    check_math5_kernel_identity,
    check_moment_form,
    interpolation_matrix_symbolic,
    kernel_moment_symbolic,
    linear_factor_symbolic,
    scheme_coefficients,
    stage_kernel,
    stage_weights_by_integration,
    stage_weights_by_moments,
)
from .exact import (
    ExactStep,
    check_exact_against_math4,
    check_exact_solves_sde,
    check_forms_same_sde,
    check_lambda_time_sde,
    exact_step,
    math4_exact_step,
    sde_drift,
)
from .latex import latex_summary
from .noise import (
    check_noise_factor,
    check_swapped_noise_factor,
    math7_noise_factor,
    noise_covariance_symbolic,
    noise_factor_symbolic,
    stage_noise_kernel,
    swapped_noise_factor_symbolic,
)
from .orders import (
    REFERENCE_POINT,
    LocalErrorExpansion,
    OrderPrediction,
    linear_global_second_moments,
    linear_global_strong_error,
    local_error_expansion,
    predicted_orders,
)
from .phi import (
    check_phi_all,
    check_phi_at_zero,
    check_phi_integral_form,
    check_phi_recurrence,
    check_phi_taylor,
    phi_of,
    phi_symbolic,
    phi_taylor_coefficient,
    z,
)
from .problems import (
    check_gaussian_denoiser,
    check_gaussian_transition,
    check_gmm_denoiser,
    derive_gaussian_denoiser,
    gaussian_denoiser,
    gaussian_marginal,
    gaussian_reverse_moments,
    gaussian_transition,
    gmm_denoiser,
    gmm_log_density,
    gmm_moments,
    gmm_responsibilities,
)
from .references import check_eta0_reductions, check_math6, dpm_solver_pp_printed, dpm_solver_printed, math6_printed

__all__ = [
    "DerivationError", "assert_zero", "is_identically_zero",
    "z", "phi_symbolic", "phi_of", "phi_taylor_coefficient",
    "check_phi_recurrence", "check_phi_integral_form", "check_phi_at_zero", "check_phi_taylor", "check_phi_all",
    "ExactStep", "exact_step", "math4_exact_step", "sde_drift",
    "check_exact_against_math4", "check_exact_solves_sde", "check_forms_same_sde", "check_lambda_time_sde",
    "StageCoefficients", "SchemeCoefficients", "scheme_coefficients", "stage_kernel", "linear_factor_symbolic",
    "interpolation_matrix_symbolic", "kernel_moment_symbolic", "stage_weights_by_integration",
    "stage_weights_by_moments", "check_moment_form", "check_math5_kernel_identity",
    "math6_printed", "dpm_solver_printed", "dpm_solver_pp_printed", "check_math6", "check_eta0_reductions",
    "stage_noise_kernel", "noise_covariance_symbolic", "noise_factor_symbolic", "math7_noise_factor",
    "swapped_noise_factor_symbolic", "check_noise_factor", "check_swapped_noise_factor",
    "gaussian_denoiser", "derive_gaussian_denoiser", "check_gaussian_denoiser", "gaussian_marginal",
    "gaussian_transition", "check_gaussian_transition", "gaussian_reverse_moments",
    "gmm_log_density", "gmm_responsibilities", "gmm_denoiser", "gmm_moments", "check_gmm_denoiser",
    "OrderPrediction", "LocalErrorExpansion", "predicted_orders", "local_error_expansion", "REFERENCE_POINT",
    "linear_global_strong_error", "linear_global_second_moments",
    "latex_summary",
]
