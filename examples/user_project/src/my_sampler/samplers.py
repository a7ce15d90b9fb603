"""Samplers in the k-diffusion convention ``sampler(model, x, sigmas, extra_args, callback, disable, ...)``.

``model(x, sigma, **extra_args)`` returns the denoised estimate of x; ``sigmas`` decrease and may
end in 0, where the last step returns the denoised value. Both samplers step in the log-SNR
variable lambda = -log(sigma), with step length h = log(sigma / sigma_next).
"""

import torch


def _report(callback, x, i, sigma, denoised):
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma, "denoised": denoised})


def sample_exp_euler_sde(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                         noise_sampler=None):
    """Exponential Euler-Maruyama step of the data-form reverse SDE with stochasticity ``eta``.

    Over a step the data-form SDE is linear in x with the denoiser frozen, so
    x_next = e^{-(1+eta)h} x + (1 - e^{-(1+eta)h}) D + sigma_next sqrt(1 - e^{-2 eta h}) z,
    z = noise_sampler(sigma, sigma_next) a standard normal (fresh draws when none is given).
    """
    extra_args = {} if extra_args is None else extra_args
    if noise_sampler is None:
        def noise_sampler(sigma, sigma_next):
            return torch.randn_like(x)
    ones = x.new_ones(x.shape[0])
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * ones, **extra_args)
        _report(callback, x, i, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        h = torch.log(sigma / sigma_next)
        decay = torch.exp(-(1.0 + eta) * h)
        x = decay * x + (1.0 - decay) * denoised
        if eta > 0:
            x = x + sigma_next * torch.sqrt(-torch.expm1(-2.0 * eta * h)) * noise_sampler(sigma, sigma_next)
    return x


def sample_multistep_2m(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Deterministic two-step exponential multistep method (DPM-Solver++(2M)-like, order 2).

    The first step is exponential Euler; later steps replace D by the linear extrapolation
    D_i + (D_i - D_{i-1}) h_i / (2 h_{i-1}) of the last two denoiser outputs to mid-step.
    """
    extra_args = {} if extra_args is None else extra_args
    ones = x.new_ones(x.shape[0])
    previous = None  # (denoised, h) of the step before
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * ones, **extra_args)
        _report(callback, x, i, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        h = torch.log(sigma / sigma_next)
        target = denoised
        if previous is not None:
            old, h_old = previous
            target = denoised + (h / (2.0 * h_old)) * (denoised - old)
        x = (sigma_next / sigma) * x - torch.expm1(-h) * target
        previous = (denoised, h)
    return x
