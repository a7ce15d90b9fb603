"""The audit page of the report reads ``audit.json`` records (``python -m seeds_verify.audit``)."""

import json

import pytest

from seeds_verify.report.audit import audit_pages, read_audit


def _record(sampler, regime, problem, schedule, verdict, order=None, declared=None, reason=None):
    return {"sampler": sampler, "regime": regime, "problem": problem, "schedule": schedule,
            "measured_order": order, "ci_low": None if order is None else order - 0.05,
            "ci_high": None if order is None else order + 0.05, "declared": declared,
            "source": "a paper" if declared else None, "verdict": verdict, "reason": reason,
            "paths": 100, "finest_steps": 64, "eta": 0.0 if regime == "deterministic" else 1.0}


def _texts(fig):
    return " ".join(t.get_text() for t in fig.texts)


def test_no_file_no_page(tmp_path):
    assert list(audit_pages(tmp_path)) == []
    assert read_audit(None) is None


def test_rows_cells_and_not_applicable(tmp_path):
    import matplotlib.pyplot as plt

    recs = [
        _record("k_diffusion.sampling:sample_heun", "deterministic", "gaussian", "edm", "pass", 2.01, 2.0),
        _record("k_diffusion.sampling:sample_heun", "strong", "gaussian", "edm", "not applicable",
                reason="the sampler has no noise_sampler parameter (deterministic)"),
        _record("k_diffusion.sampling:sample_euler", "deterministic", "gaussian", "edm", "fail", 0.5, 1.0),
        _record("k_diffusion.sampling:sample_dpmpp_2m_sde", "weak", "gaussian", "edm", "measured", 1.97),
    ]
    (tmp_path / "audit.json").write_text(json.dumps({"meta": {"wall_time_s": 12.0}, "records": recs}))
    pages = list(audit_pages(tmp_path))
    assert len(pages) == 1 and pages[0].slug == "audit"
    text = _texts(pages[0].figure)
    assert "sample_heun" in text and "2.01 [1.96, 2.06]" in text
    assert "0.50 [0.45, 0.55] FAIL" in text
    assert "1.97 [1.92, 2.02]" in text
    assert "sample_heun strong: the sampler has no noise_sampler parameter" in text.replace("\n", " ")
    plt.close(pages[0].figure)


def test_unreadable_file_is_a_named_error(tmp_path):
    (tmp_path / "audit.json").write_text("{not json")
    with pytest.raises(ValueError, match="audit"):
        read_audit(tmp_path)
