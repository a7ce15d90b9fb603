"""Defective copies of the samplers of samplers.py, for checking that the tests catch defects.

* ``sample_exp_euler_sde``: the noise standard deviation uses e^{-eta h} where e^{-2 eta h}
  belongs, so the injected variance is wrong for every eta > 0.
* ``sample_multistep_2m``: the extrapolation term is dropped, which leaves exponential Euler
  (order 1 instead of 2).
"""

import torch

from .samplers import _report


def sample_exp_euler_sde(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                         noise_sampler=None):
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
            x = x + sigma_next * torch.sqrt(-torch.expm1(-eta * h)) * noise_sampler(sigma, sigma_next)  # defect
    return x


def sample_multistep_2m(model, x, sigmas, extra_args=None, callback=None, disable=None):
    extra_args = {} if extra_args is None else extra_args
    ones = x.new_ones(x.shape[0])
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * ones, **extra_args)
        _report(callback, x, i, sigma, denoised)
        if sigma_next == 0:
            x = denoised
            continue
        h = torch.log(sigma / sigma_next)
        x = (sigma_next / sigma) * x - torch.expm1(-h) * denoised  # defect: no extrapolation
    return x
