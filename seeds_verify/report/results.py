"""Reading a convergence study's ``results.json`` for the report.

The file is written by ``python -m seeds_verify.convergence``; its layout is
``{"meta": {...}, "records": [...], "mutations": [...]}`` (one record per solver × prediction ×
η × problem × schedule × regime). The report only reads it, and reads it defensively: a field
that is missing shows as "n/a" on the page rather than stopping the build, while a file that is
not a study at all is rejected with a message naming the argument.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StudyResults", "check_out_dir", "load_results", "RESULTS_FILE", "REGIME_ORDER"]

RESULTS_FILE = "results.json"
REGIME_ORDER = ("deterministic", "strong", "weak")
_REQUIRED_RECORD_KEYS = ("solver", "regime")


@dataclass
class StudyResults:
    """The parsed study: run metadata, one dict per checked combination, mutation verdicts."""

    path: Path
    meta: dict
    records: list[dict]
    mutations: list[dict]

    @property
    def seed(self) -> int:
        """The study's seed (0 when the file does not say); every random picture reuses it."""
        seed = self.meta.get("seed", 0)
        try:
            return int(seed)
        except (TypeError, ValueError):
            return 0

    def regimes(self) -> list[str]:
        """Regimes present, in the order deterministic, strong, weak, then any others."""
        present = {r["regime"] for r in self.records}
        ordered = [r for r in REGIME_ORDER if r in present]
        return ordered + sorted(present - set(ordered))


def check_out_dir(out_dir: Any) -> Path:
    """``out_dir`` as an existing directory; TypeError/ValueError naming ``out_dir`` otherwise."""
    if isinstance(out_dir, bool) or not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a str or os.PathLike, got {type(out_dir).__name__}")
    path = Path(out_dir)
    if not path.exists():
        raise ValueError(f"out_dir {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"out_dir {str(path)!r} is not a directory")
    return path


def _finite_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _clean_record(index: int, record: Any, path: Path) -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"{path}: records[{index}] must be an object, got {type(record).__name__}")
    missing = [k for k in _REQUIRED_RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"{path}: records[{index}] lacks {', '.join(missing)}")
    out = dict(record)
    for key in ("solver", "regime", "prediction", "problem", "schedule"):
        out[key] = str(out.get(key, "n/a"))
    for key in ("eta", "measured_order", "ci_low", "ci_high", "expected_order", "predicted_order",
                "predicted_constant", "reference_error"):
        out[key] = _finite_or_none(out.get(key))
    passed = out.get("passed")
    out["passed"] = passed if isinstance(passed, bool) else None
    for key in ("step_sizes", "errors", "errors_ci_low", "errors_ci_high", "rms_errors"):
        values = out.get(key)
        if not isinstance(values, (list, tuple)):
            out[key] = []
        else:
            out[key] = [_finite_or_none(v) for v in values]
    counts = out.get("step_counts")
    out["step_counts"] = [int(c) if _finite_or_none(c) is not None and float(c).is_integer() else None
                          for c in counts] if isinstance(counts, (list, tuple)) else []
    return out


def load_results(out_dir: Any) -> StudyResults:
    """Read and check ``out_dir/results.json``.

    Raises TypeError/ValueError naming ``out_dir`` when the directory or file is missing, and
    ValueError naming the file when it is not valid JSON or not shaped like a study.
    """
    path = check_out_dir(out_dir) / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"out_dir {str(path.parent)!r} holds no {RESULTS_FILE}; run "
                         f"`python -m seeds_verify.convergence --out {path.parent}` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object with 'meta' and 'records'")
    records = data.get("records")
    if not isinstance(records, list):
        raise ValueError(f"{path} must hold a list under 'records'")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    mutations = data.get("mutations") if isinstance(data.get("mutations"), list) else []
    clean = [_clean_record(i, r, path) for i, r in enumerate(records)]
    return StudyResults(path, meta, clean, [m for m in mutations if isinstance(m, dict)])
