"""The example project examples/user_project, run as a user would run it: pytest in a subprocess.

The example's package is put on PYTHONPATH (nothing is installed); seeds_verify's pytest plugin
comes in through its installed entry point. The correct samplers must pass every test, and the
defective copies in ``my_sampler.broken`` (selected by MY_SAMPLER_BROKEN=1) must fail the order
and point-mass checks with a message that gives the measured order and the verdict.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "user_project"


def _run_example(tmp_path: Path, broken: bool) -> subprocess.CompletedProcess:
    project = tmp_path / "user_project"
    if not project.exists():
        shutil.copytree(EXAMPLE / "tests", project / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(EXAMPLE / "pyproject.toml", project / "pyproject.toml")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "MY_SAMPLER_BROKEN")}
    env["PYTHONPATH"] = str(EXAMPLE / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if broken:
        env["MY_SAMPLER_BROKEN"] = "1"
    extra = ["-p", "seeds_verify.pytest_plugin"] if env.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, "-q", "-rf",
           "--seeds-paths", "150", "tests"]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_example_project_files_are_present():
    for rel in ("pyproject.toml", "README.md", "src/my_sampler/__init__.py", "src/my_sampler/samplers.py",
                "src/my_sampler/broken.py", "tests/test_samplers.py"):
        assert (EXAMPLE / rel).is_file(), rel
    text = (EXAMPLE / "pyproject.toml").read_text()
    assert 'name = "my-sampler"' in text and "seeds_verify" in text


def test_correct_samplers_pass(tmp_path):
    proc = _run_example(tmp_path, broken=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "9 passed" in out and "failed" not in out, out


def test_broken_samplers_fail_with_readable_messages(tmp_path):
    proc = _run_example(tmp_path, broken=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "4 failed, 5 passed" in out, out
    assert ("my_sampler.broken:sample_multistep_2m: deterministic order 2 not shown (verdict: fail)" in out), out
    assert "my_sampler.broken:sample_exp_euler_sde: strong order 1 not shown (verdict: fail)" in out, out
    assert "measured order" in out and "error ladder:" in out
    assert "sample_exp_euler_sde is not exact on a point mass" in out
    # The point-mass check of the multistep sampler runs at eta = 0 on D = x0, where the missing
    # extrapolation changes nothing: that test still passes.
    assert "FAILED tests/test_samplers.py::test_multistep_2m_is_exact_on_a_point_mass" not in out
    assert "FAILED tests/test_samplers.py::test_exp_euler_sde_is_exact_on_a_point_mass[0.0]" not in out
