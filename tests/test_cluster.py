"""Monte Carlo studies on a Dask cluster: the same records whatever the split (weak, strong and
deterministic), recovery from a killed worker, failing shards named by their path range, the
CLI's cluster flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (the cluster extra)")

from seeds_verify.convergence import Ladder, SetupCache, verify_sampler, verify_subject  # noqa: E402
from seeds_verify.convergence.__main__ import main as cli_main  # noqa: E402
from seeds_verify.convergence.cluster import DaskRunner  # noqa: E402
from seeds_verify.convergence.shards import LocalRunner, ShardError  # noqa: E402
from seeds_verify.convergence.subjects import SamplerError, sampler_subject  # noqa: E402
from seeds_verify.samplers import sample_seeds_1  # noqa: E402

PROBLEM, SCHEDULE = "gmm", "edm"
LADDER = Ladder((4, 8, 16), 150, 150, 16)  # 150 paths: four blocks of 32 and a partial fifth
BLOCK = 32
TIMING_KEYS = ("shards", "workers", "shard_seconds", "reference_seconds")


@pytest.fixture(scope="module")
def client():
    """One embedded cluster of two worker processes for the module (its start-up takes seconds)."""
    import cloudpickle

    from seeds_verify.convergence.cluster import cluster_runner

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this file
    with cluster_runner(workers=2) as runner:
        yield runner.client


def _subject():
    # A black-box sampler: no symbolic prediction to derive, so the tests spend their time on
    # the study itself.
    return sampler_subject(sample_seeds_1, eta=1.0, declared={"weak": 1.0})


def _weak(runner, subject=None, ladder=LADDER, variance_reduction="antithetic"):
    setups = SetupCache(seed=5, runner=runner, path_block=BLOCK, variance_reduction=variance_reduction)
    result = verify_subject(subject or _subject(), regimes=("weak",), problem=PROBLEM, schedule=SCHEDULE,
                            ladder=ladder, setups=setups)
    return result.regimes["weak"]


def _numbers(record):
    """Every field of a record but the wall times and the split."""
    out = replace(record, seconds=0.0, rounds=tuple({k: v for k, v in r.items()} for r in record.rounds))
    details = {k: v for k, v in record.details.items() if k not in TIMING_KEYS}
    return replace(out, details=details)


@pytest.fixture(scope="module")
def in_process():
    return _weak(None)


def test_records_do_not_depend_on_workers_or_shards(client, in_process):
    assert in_process.errors and in_process.details["shards"] == 1
    three = _weak(LocalRunner(shards=3))
    assert three.details["shards"] == 3
    two_workers = _weak(DaskRunner(client))
    assert two_workers.details["workers"] == 2 and two_workers.details["shards"] == 5
    two_workers_three_shards = _weak(DaskRunner(client, shards=3))
    for other in (three, two_workers, two_workers_three_shards):
        assert _numbers(other) == _numbers(in_process)  # same code on the same inputs: bit identity


def test_one_worker_cluster_matches_in_process():
    kw = dict(eta=1.0, regimes=("weak",), problem=PROBLEM, schedule=SCHEDULE, steps=(4, 8, 16), paths=100,
              max_paths=100, max_steps=16, path_block=BLOCK, declared={"weak": 1.0})
    here = verify_sampler(sample_seeds_1, **kw).regimes["weak"]
    one = verify_sampler(sample_seeds_1, workers=1, **kw).regimes["weak"]
    assert one.details["workers"] == 1
    assert _numbers(one) == _numbers(here)


@pytest.mark.parametrize("regime", ["strong", "deterministic"])
def test_pathwise_records_do_not_depend_on_workers_or_shards(client, regime):
    """Strong and deterministic studies shard the same way: per-block start draws, path and
    reference; the records agree bit for bit in this process, in three shards and on two workers."""
    subject = sampler_subject(sample_seeds_1, eta=1.0, declared={"strong": 1.0, "deterministic": 1.0})

    def study(runner):
        setups = SetupCache(seed=5, runner=runner, path_block=BLOCK)
        return verify_subject(subject, regimes=(regime,), problem=PROBLEM, schedule=SCHEDULE, ladder=LADDER,
                              setups=setups).regimes[regime]

    here = study(None)
    assert here.errors and here.details["shards"] == 1 and here.paths == 150
    two_workers = study(DaskRunner(client))
    assert two_workers.details["workers"] == 2 and two_workers.details["shards"] == 5
    for other in (study(LocalRunner(shards=3)), two_workers):
        assert _numbers(other) == _numbers(here)


class _Slow:
    """A subject's run that takes a while, so that a worker can be killed mid-shard."""

    def __init__(self, run, seconds):
        self.run, self.seconds = run, seconds

    def __call__(self, setup, y, lambdas, noise, eta):
        time.sleep(self.seconds)
        return self.run(setup, y, lambdas, noise, eta)


def test_killed_worker_is_recovered_with_the_same_result(client, in_process):
    subject = _subject()
    slow = replace(subject, run=_Slow(subject.run, 0.4))
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def kill():
        os.kill(victim, signal.SIGKILL)
        killed.set()

    timer = threading.Timer(2.0, kill)
    timer.start()
    try:
        result = _weak(DaskRunner(client, shards=5), subject=slow)
    finally:
        timer.cancel()
    assert killed.is_set(), "the study ended before the worker was killed; make the shards slower"
    assert victim not in client.run(os.getpid).values()
    assert _numbers(result) == _numbers(in_process)


class _FailsOn:
    """A subject's run that fails on the block whose first path is ``start``."""

    def __init__(self, run, start, exc):
        self.run, self.start, self.exc = run, start, exc

    def __call__(self, setup, y, lambdas, noise, eta):
        if setup.rows[0] == self.start:
            raise self.exc
        return self.run(setup, y, lambdas, noise, eta)


def test_failing_shard_names_its_path_range(client):
    subject = _subject()
    broken = replace(subject, run=_FailsOn(subject.run, 64, RuntimeError("the model server went away")))
    with pytest.raises(ShardError, match=r"paths 64\.\.95 failed: RuntimeError: the model server went away"):
        _weak(DaskRunner(client), subject=broken)
    # A broken calling convention is the sampler's defect: a failing record naming the range.
    bad = replace(subject, run=_FailsOn(subject.run, 96, SamplerError("the sampler returned shape (3,)")))
    record = _weak(DaskRunner(client), subject=bad)
    assert record.verdict == "fail"
    assert record.reason.startswith("paths 96..127: ") and "returned shape (3,)" in record.reason


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "argument --workers: must be an integer in [1, 1024], got '0'"),
    (["--workers", "two"], "argument --workers: must be an integer in [1, 1024], got 'two'"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "argument --scheduler: not allowed with --workers"),
    (["--scheduler", "tcp://host :8786"], "argument --scheduler: scheduler must be an address"),
    (["--shards", "0"], "argument --shards"),
])
def test_cli_rejects_bad_cluster_flags(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli_main([*argv, "--out", str(tmp_path), "--no-progress"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, name", [({"workers": 0}, "workers"), ({"workers": True}, "workers"),
                                          ({"scheduler": ""}, "scheduler"), ({"shards": 0}, "shards"),
                                          ({"path_block": 0}, "path_block"),
                                          ({"variance_reduction": "control"}, "variance_reduction"),
                                          ({"workers": 2, "scheduler": "tcp://h:1"}, "workers")])
def test_verify_sampler_rejects_bad_cluster_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        verify_sampler(sample_seeds_1, eta=1.0, regimes=("weak",), problem=PROBLEM, steps=(4, 8, 16), paths=10,
                       **kwargs)


def test_in_process_study_never_imports_dask():
    code = ("import sys\n"
            "from seeds_verify.convergence import verify_sampler\n"
            "from seeds_verify.samplers import sample_seeds_1\n"
            "verify_sampler(sample_seeds_1, eta=1.0, regimes=('weak',), problem='gmm', schedule='edm',\n"
            "               steps=(4, 8, 16), paths=40, max_paths=40, max_steps=16, path_block=16)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
