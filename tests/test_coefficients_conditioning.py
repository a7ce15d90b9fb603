"""Conditioning of the stage interpolants and the bound on the stage fractions (seeds_verify.schemes).

A stage's model term is Σ_j ω_j F_j with ω_j the kernel-weighted integrals of the Lagrange basis of
its nodes; the rounding of the F_j is amplified by at most the Lebesgue constant Λ of the nodes
on [0, 1]. The specs refuse fractions with Λ > 2^12 (half of float32's significand).
"""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seeds_verify import coefficients as C
from seeds_verify import sample_seeds_2
from seeds_verify.schemes import MAX_LEBESGUE_CONSTANT, lebesgue_constant, seeds2_spec, seeds3_spec

COMMON = (Fraction(1, 2), Fraction(1, 3), Fraction(2, 3), Fraction(1, 4), Fraction(3, 4), 0.1, 0.9)


def lebesgue_dense(nodes, n=200001):
    """max of Σ_j |ℓ_j| on a uniform grid of [0, 1] with the nodes added (a lower bound of Λ)."""
    v = np.concatenate([np.linspace(0.0, 1.0, n), nodes])
    total = np.zeros_like(v)
    for j, vj in enumerate(nodes):
        ell = np.ones_like(v)
        for k, vk in enumerate(nodes):
            if k != j:
                ell = ell * (v - vk) / (vj - vk)
        total += np.abs(ell)
    return float(total.max())


def test_bound_is_half_of_float32_significand():
    """u·Λ ≤ 2^-12 with float32's unit roundoff u = 2^-24."""
    unit32 = torch.finfo(torch.float32).eps / 2
    assert MAX_LEBESGUE_CONSTANT == 2.0 ** 12
    assert unit32 * MAX_LEBESGUE_CONSTANT == 2.0 ** -12


@pytest.mark.parametrize("a", [1.0, 0.5, 1 / 3, 0.1, 1e-3, 2 / 4097, 1e-8, 1e-16, 1e-300])
def test_two_nodes_closed_form(a):
    """Nodes {0, a}: ℓ_0 = 1 − v/a, ℓ_1 = v/a; Σ|ℓ_j| = 2v/a − 1 beyond a, so Λ = 2/a − 1."""
    assert lebesgue_constant([0.0, a]) == pytest.approx(2.0 / a - 1.0, rel=4e-16)


def test_one_node_and_bad_input():
    assert lebesgue_constant([0.0]) == 1.0
    for bad in ([], [0.0, 0.5, 0.5], [0.0, 1.5], [0.0, 0.2, 0.4, 0.6]):
        with pytest.raises(ValueError, match="node_positions"):
            lebesgue_constant(bad)


@settings(deadline=None, max_examples=60, derandomize=True)
@given(a=st.floats(1e-3, 0.98), gap=st.floats(1e-3, 0.99))
def test_three_nodes_match_a_dense_grid(a, gap):
    """{0, a, b}: the exact piecewise maximum is at least the dense-grid maximum and exceeds it by
    no more than the grid can miss, |L'| · spacing/2. By Markov's inequality a quadratic on [0, 1]
    has |ℓ_j'| ≤ 2·2²·max|ℓ_j| ≤ 8Λ, so |L'| ≤ Σ_j |ℓ_j'| ≤ 24Λ."""
    b = min(a + gap, 1.0)
    if b <= a:
        return
    nodes = [0.0, a, b]
    exact = lebesgue_constant(nodes)
    dense = lebesgue_dense(nodes)
    assert dense <= exact * (1 + 1e-12)
    assert exact - dense <= 24 * exact * 0.5 / 200000 + 1e-12 * exact


def test_three_nodes_interior_maximum():
    """{0, 0.98, 0.99}: the Lebesgue function peaks inside (0, 0.98) at ≈ 49.5, not at v = 1 (≈ 3)."""
    nodes = [0.0, 0.98, 0.99]
    at_one = sum(abs(x) for x in (0.02 * 0.01 / (0.98 * 0.99), 0.01 / (0.98 * -0.01), 0.02 / (0.99 * 0.01)))
    assert at_one == pytest.approx(3.0408, abs=1e-4)
    assert lebesgue_constant(nodes) == pytest.approx(lebesgue_dense(nodes), rel=1e-9)
    assert 49 < lebesgue_constant(nodes) < 50


def test_underflowing_basis_is_infinite():
    assert lebesgue_constant([0.0, 1e-300, 2e-300]) == float("inf")


@pytest.mark.parametrize("r", COMMON + (1, 1.0, 2 / 4097 * (1 + 1e-12), 0.999))
@pytest.mark.parametrize("variant", ["phi_1", "phi_2"])
def test_common_seeds2_fractions_are_accepted(r, variant):
    seeds2_spec(r, variant)


@pytest.mark.parametrize("r_1,r_2", [(a, b) for a in COMMON for b in COMMON if float(a) < float(b)])
@pytest.mark.parametrize("variant", ["3a", "3b"])
def test_common_seeds3_fractions_are_accepted(r_1, r_2, variant):
    seeds3_spec(r_1, r_2, variant)
    # largest over these pairs: 101 at (0.1, 1/4), 3b
    assert max(lebesgue_constant([0.0, float(r_1) / float(r_2)]), lebesgue_constant([0.0, float(r_2)]),
               lebesgue_constant([0.0, float(r_1), float(r_2)])) <= 101 * (1 + 1e-12)


def test_seeds2_boundary():
    """Λ = 2/r − 1 ≤ 4096 ⇔ r ≥ 2/4097 ≈ 4.882e-4."""
    seeds2_spec(2 / 4097 * (1 + 1e-12))
    with pytest.raises(ValueError, match=r"^r=0\.000488 is too close to 0: .* 4\.1e\+03, above the bound 4096"):
        seeds2_spec(0.000488)


@pytest.mark.parametrize("r_1,r_2,variant,where", [
    (0.5, 0.5001, "3b", "nodes 0, r_1 and r_2"), (1e-300, 2e-300, "3b", "nodes 0, r_1 and r_2"),
    (1e-4, 0.5, "3a", "at r_2 through the nodes 0 and r_1"), (1e-4, 2e-4, "3a", "through the nodes 0 and r_2"),
    (0.5, 0.5 + 4.8e-4, "3b", "nodes 0, r_1 and r_2"),
])
def test_seeds3_refusals_name_the_fractions_and_stage(r_1, r_2, variant, where):
    with pytest.raises(ValueError, match=rf"^r_1={r_1!r}, r_2={r_2!r} \({variant}\): .*{where}.* bound 4096"):
        seeds3_spec(r_1, r_2, variant)


def test_seeds3_3a_tolerates_close_fractions():
    """3a never interpolates through r_1 and r_2 together: r_2 one ulp above r_1 is fine."""
    seeds3_spec(0.5, float(np.nextafter(0.5, 1.0)), "3a")


def test_symbolic_fractions_are_not_evaluated():
    c = sp.Symbol("c", positive=True)
    assert seeds2_spec(c).stages[0].fraction == c
    seeds3_spec(c, 2 * c, "3b")


def test_stage_weights_are_bounded_by_lebesgue_constant():
    """Σ_j |ω_j| ≤ Λ Σ_j ω_j (the kernel is positive): the derivation's inequality, for both forms and
    both kernels (exact and averaged), checked on the numeric weights."""
    for nodes in ([0.0, 0.3], [0.0, 1 / 3, 2 / 3], [0.0, 0.5, 0.51], [0.0, 0.98, 0.99], [0.0, 2 / 4097]):
        lam = lebesgue_constant(nodes)
        for form in ("data", "noise"):
            for averaged in (False, True):
                if averaged and len(nodes) == 3:
                    continue
                w = C.stage_kernel_weights(1.0, np.logspace(-4, 1.5, 30), 0.6, form, nodes, averaged)
                assert np.all(np.abs(w).sum(axis=1) <= lam * np.abs(w.sum(axis=1)) * (1 + 1e-9))


def gaussian(x, sigma):
    s2 = sigma.reshape(-1, 1).to(x.dtype) ** 2
    return 0.5 + 1.0 / (1.0 + s2) * (x - 0.5)


@pytest.mark.parametrize("solver_type", ["phi_1", "phi_2"])
@pytest.mark.parametrize("steps", [5, 20])
def test_float32_keeps_its_accuracy_at_the_bound(solver_type, steps):
    """SEEDS-2 at r just inside the bound (Λ ≈ 4096): float32 against float64 of the same scheme.
    A step adds at most (2Λ + 3) u of relative rounding (two weights bounded by Λ, three more
    roundings) and the flow does not amplify it, so N steps stay within N (2Λ + 3) u ≈ N·4.9e-4
    (measured: 1e-4 to 3e-4 in total)."""
    r = 2 / 4097 * (1 + 1e-9)
    sig = np.exp(np.linspace(np.log(80.0), np.log(0.05), steps + 1))
    x = 80 * torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    o64 = sample_seeds_2(gaussian, x, sig, eta=0.0, r=r, solver_type=solver_type, disable=True)
    o32 = sample_seeds_2(gaussian, x.float(), sig, eta=0.0, r=r, solver_type=solver_type, disable=True).double()
    rel = float((o32 - o64).abs().max() / o64.abs().max())
    assert rel <= steps * (2 * MAX_LEBESGUE_CONSTANT + 3) * 2.0 ** -24
