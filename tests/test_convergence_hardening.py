"""Every accepted input of the verifier gives a right answer or an error naming the argument:
regression tests of inputs that once slipped through, and fuzz tests of verify_sampler,
check_sampler and the CLI's arguments."""

import math
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seeds_verify.convergence import check_sampler, verify_sampler
from seeds_verify.convergence.__main__ import main
from seeds_verify.samplers import sample_seeds_1, sample_seeds_2

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _named(exc: BaseException, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", str(exc)) is not None


# -- regression tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, name", [
    ({"seed": 2 ** 70}, "seed"),
    ({"seed": -1}, "seed"),
    ({"tolerance": -1e9}, "tolerance"),
    ({"expected_strong_order": -1}, "declared"),
    ({"paths": 1}, "paths"),
    ({"steps": (8, 8, 16)}, "steps"),
    ({"sigma_min": 0.0}, "sigma_min"),
])
def test_check_sampler_rejects_with_the_argument_named(kwargs, name):
    with pytest.raises(ValueError) as info:
        check_sampler(sample_seeds_1, **kwargs)
    assert _named(info.value, name), str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_named_error():
    with pytest.raises(ValueError, match="device"):
        check_sampler(sample_seeds_1, device="cuda")
    with pytest.raises(ValueError, match="device"):
        verify_sampler(sample_seeds_1, device="meta")


def test_point_mass_is_an_exactness_check_not_an_order():
    with pytest.raises(ValueError, match="problem"):
        verify_sampler(sample_seeds_2, problem="point_mass")


def test_cli_point_mass_reports_exactness(tmp_path, capsys):
    status = main(["--problem", "point_mass", "--solvers", "seeds2,seeds3", "--no-mutations",
                   "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "point-mass exactness" in out and "FAIL" not in out


@pytest.mark.parametrize("argv, option", [
    (["--seed", "-1"], "--seed"),
    (["--paths", "1"], "--paths"),
    (["--steps", "-1,2,3"], "--steps"),
    (["--solvers", "seeds2:r=1/3:r=1/2"], "--solvers"),
    (["--device", "meta"], "--device"),
    (["--device", "nonsense"], "--device"),
    (["--declared", "strong=-1", "--sampler", "seeds_verify.samplers:sample_seeds_1"], "--declared"),
    (["--sampler-kwargs", "[1]", "--sampler", "seeds_verify.samplers:sample_seeds_1"], "--sampler-kwargs"),
    (["--max-paths", "0"], "--max-paths"),
])
def test_cli_bad_arguments_exit_2_naming_the_option(argv, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv + ["--out", str(tmp_path), "--no-progress"])
    assert info.value.code == 2
    assert option in capsys.readouterr().err


# -- fuzz tests ----------------------------------------------------------------------------------

_BAD_VALUES = st.sampled_from([None, "abc", math.nan, math.inf, -math.inf, -1, -0.5, 1j, True, [], {}, 2 ** 70])


@FUZZ
@given(name=st.sampled_from(["eta", "paths", "max_paths", "max_steps", "seed", "tolerance",
                             "weight_exponent", "steps", "regimes", "declared", "sampler_kwargs"]),
       value=_BAD_VALUES)
def test_verify_sampler_invalid_arguments_are_named(name, value):
    """A bad value of any argument is a ValueError/TypeError naming it, raised before any study
    runs (values that happen to be valid for that argument are skipped)."""
    kwargs = {name: value}
    try:
        result = verify_sampler(sample_seeds_1, regimes=("deterministic",), steps=(4, 8, 16), paths=4,
                                max_paths=4, max_steps=16, **kwargs) if name != "regimes" else \
            verify_sampler(sample_seeds_1, steps=(4, 8, 16), paths=4, max_paths=4, max_steps=16, **kwargs)
    except (ValueError, TypeError) as exc:
        assert _named(exc, name) or (name == "declared" and "declared" in str(exc)), (name, value, str(exc))
        return
    # Accepted: then it was a valid value: None means "default", an empty dict declares or passes
    # nothing, and any finite number is a weight exponent or a (wide) tolerance.
    valid = (value is None or (name in ("declared", "sampler_kwargs") and value == {})
             or (name in ("weight_exponent", "tolerance") and isinstance(value, (int, float))
                 and not isinstance(value, bool) and math.isfinite(value)
                 and (name == "weight_exponent" or value >= 0)))
    assert valid, (name, value)
    assert result.verdict in ("pass", "fail", "inconclusive", "measured")


@FUZZ
@given(option=st.sampled_from(["--steps", "--paths", "--max-paths", "--max-steps", "--seed", "--eta",
                               "--tolerance", "--schedule", "--problem", "--regime", "--prediction",
                               "--dtype", "--device", "--solvers", "--declared", "--sampler-kwargs",
                               "--weight-exponent"]),
       value=st.sampled_from(["", "-1", "0", "nan", "inf", "abc", "1,,2", "-1,2,3", "{", "1e400", "seeds9",
                              "strong=0", "[]"]))
def test_cli_invalid_values_exit_2_naming_the_option(option, value, tmp_path_factory):
    """Every option given a malformed value exits 2 and names itself (valid combinations that
    parse are run only far enough to be accepted: they must not crash in parsing)."""
    import contextlib
    import io

    out = str(tmp_path_factory.mktemp("cli"))
    argv = [option, value, "--out", out, "--no-progress", "--solvers", "seeds1", "--regime",
            "deterministic", "--steps", "4,8,16", "--paths", "4", "--no-mutations", "--schedule", "edm"]
    if option in ("--declared", "--sampler-kwargs", "--weight-exponent"):
        argv += ["--sampler", "seeds_verify.samplers:sample_seeds_1"]
    # the later duplicate of an option wins in argparse: put the fuzzed one last
    if option in ("--steps", "--paths", "--solvers", "--regime", "--schedule"):
        argv = [a for i, a in enumerate(argv) if not (a == option or (i > 0 and argv[i - 1] == option))]
        argv += [option, value]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
    if status == 2:
        assert option in err.getvalue(), (option, value, err.getvalue())
    else:
        assert status in (0, 1, 3), (option, value, status)
