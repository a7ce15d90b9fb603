"""Reading a convergence study's ``results.json`` for the report.

The file is written by ``python -m seeds_verify.convergence``; its layout is
``{"meta": {...}, "records": [...], "mutations": [...]}``. Every record is the
:meth:`~seeds_verify.convergence.records.RegimeResult.to_record` of one sampler × regime ×
problem × schedule, and is read back with :meth:`RegimeResult.from_record`, so the report and the
engine share one vocabulary (field names, verdict strings). A record that cannot be read back is
rejected with a message naming the file and the record; missing optional fields show as "n/a".
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..convergence import statistics as S
from ..convergence.records import RegimeResult

__all__ = ["StudyResults", "check_out_dir", "load_results", "parse_record", "RESULTS_FILE",
           "REGIME_ORDER", "VERDICT_LABELS"]

RESULTS_FILE = "results.json"
REGIME_ORDER = ("deterministic", "strong", "weak")
# How each verdict of the engine is written on the pages (a failure in capitals).
VERDICT_LABELS = {S.PASS: "pass", S.PASS_ABOVE: "pass (>)", S.FAIL: "FAIL", S.INCONCLUSIVE: "inconclusive",
                  S.MEASURED: "measured"}
_REQUIRED = tuple(f.name for f in dataclasses.fields(RegimeResult)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


@dataclass
class StudyResults:
    """The parsed study: run metadata, one :class:`RegimeResult` per check, mutation entries."""

    path: Path
    meta: dict
    records: list[RegimeResult]
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
        """Regimes present, in the order deterministic, strong, weak."""
        present = {r.regime for r in self.records}
        return [r for r in REGIME_ORDER if r in present]

    def counts(self) -> dict[str, int]:
        """Number of records per verdict (every verdict of the engine, zeros included)."""
        out = dict.fromkeys(S.VERDICTS, 0)
        for r in self.records:
            out[r.verdict] += 1
        return out

    @property
    def verdict(self) -> str:
        """The worst verdict over the records (:func:`~seeds_verify.convergence.statistics.worst_verdict`)."""
        return S.worst_verdict(r.verdict for r in self.records)


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


def parse_record(record: Any, where: str = "record") -> RegimeResult:
    """One ``results.json`` record as a :class:`RegimeResult`; ValueError naming ``where`` otherwise."""
    if not isinstance(record, dict):
        raise ValueError(f"{where} must be an object, got {type(record).__name__}")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)} (not a RegimeResult record)")
    try:
        return RegimeResult.from_record(record)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc


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
    parsed = [parse_record(r, f"{path}: records[{i}]") for i, r in enumerate(records)]
    return StudyResults(path, meta, parsed, [m for m in mutations if isinstance(m, dict)])


def read_committed_results(benchmarks_dir: Path | None, file_name: str, what: str) -> dict | None:
    """``{"meta", "records", ...}`` from a committed results file ``benchmarks_dir/file_name``
    (audits, weak-mixture and useful-steps studies), or None when it is absent; ValueError naming
    ``what`` when it is unreadable or has no 'records' list."""
    if benchmarks_dir is None:
        return None
    path = Path(benchmarks_dir) / file_name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the {what} results: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{path}: expected an object with a 'records' list")
    return data
