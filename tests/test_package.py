"""The top-level package: lazy re-exports, dir(), a light import, the typing marker."""

import json
import subprocess
import sys
from pathlib import Path

import seeds_verify


def test_dir_lists_every_export_before_first_use():
    listed = dir(seeds_verify)
    assert set(seeds_verify.__all__) <= set(listed)
    assert listed == sorted(listed)
    assert "__version__" in listed and "__getattr__" in listed


def test_import_loads_neither_torch_nor_sympy():
    """A fresh interpreter: `import seeds_verify` and dir() must not pull in the heavy layers."""
    code = ("import json, sys; import seeds_verify; dir(seeds_verify); "
            "print(json.dumps(sorted(m for m in ('torch', 'sympy', 'numpy', 'scipy') if m in sys.modules)))")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "torch" not in loaded and "sympy" not in loaded, loaded


def test_lazy_export_resolves_on_first_use():
    from seeds_verify.samplers import sample_seeds_2

    assert seeds_verify.sample_seeds_2 is sample_seeds_2
    assert "sample_seeds_2" in dir(seeds_verify)


def test_typing_marker_ships():
    package = Path(seeds_verify.__file__).resolve().parent
    assert (package / "py.typed").is_file()
    pyproject = (package.parent / "pyproject.toml").read_text()
    assert '[tool.setuptools.package-data]' in pyproject and 'seeds_verify = ["py.typed"]' in pyproject


def test_optional_extras_are_imported_only_when_used():
    """The engine, the samplers and the CLI's module load neither diffusers nor dask; the
    diffusers subpackage loads diffusers only when one of its names is used."""
    code = ("import json, sys; import seeds_verify, seeds_verify.convergence, seeds_verify.samplers, "
            "seeds_verify.convergence.__main__, seeds_verify.diffusers; "
            "print(json.dumps(sorted(m for m in ('diffusers', 'dask', 'distributed') if m in sys.modules)))")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
