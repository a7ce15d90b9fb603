"""Monte Carlo studies on a Dask cluster (docs/cluster.md).

:class:`DaskRunner` runs the shards of :mod:`.shards` as Dask tasks: one task per block reference
(submitted once per study setup and held as a future, so every subject reuses it) and one task
per shard of each subject, which takes its blocks' reference futures as arguments. The merged
result is the one :class:`~.shards.LocalRunner` gives in this process, bit for bit (the numbers
of a block depend on the block alone).

Faults. A worker that dies mid-study loses its running tasks and the results it held; the
scheduler reruns them elsewhere from their inputs (the tasks are pure functions of the study's
specification and the block), so the result is the same. An exception raised by a shard — a
:class:`~.shards.ShardError` or a :class:`~.subjects.SamplerError` naming the shard's path range —
is re-raised here, and the shards still pending are cancelled.

:func:`cluster_runner` gives a runner for ``workers=N`` (an embedded ``LocalCluster`` of N
worker processes with one thread each, closed afterwards) or ``scheduler=ADDRESS`` (an existing
cluster), and None for neither (everything in this process; Dask is then never imported).
"""

from __future__ import annotations

import contextlib
import os
import uuid

from .shards import (PathwiseResult, ShardResult, ShardRunner, StudySpec, block_reference, check_scheduler,
                     check_workers, study_shard)

__all__ = ["DaskRunner", "cluster_runner", "check_workers", "check_scheduler", "INSTALL_HINT",
           "GPU_RESOURCE"]

INSTALL_HINT = "install the cluster extra: pip install 'seeds-verify[cluster]' (dask[distributed])"
GPU_RESOURCE = "GPU"
"""Dask resource a CUDA study's tasks ask one unit of: start one worker per GPU with
``--resources GPU=1`` (and its own CUDA_VISIBLE_DEVICES)."""


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs dask.distributed, which cannot be imported "
                          f"({exc}); {INSTALL_HINT}") from exc
    return distributed


def _worker_setup_plugin(device: str):
    """A worker plugin: one torch thread, k-diffusion's samplers importable by name (so that a
    subject wrapping one unpickles on the worker), and on a CUDA study the worker's own GPU."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        name = "seeds-verify-worker-setup"

        def setup(self, worker):
            import torch

            torch.set_num_threads(1)
            from ..peers import PeerUnavailable, k_diffusion_sampling

            try:
                k_diffusion_sampling()
            except PeerUnavailable:
                pass  # a subject wrapping a k-diffusion sampler then fails to unpickle, and says why
            if device.startswith("cuda") and torch.cuda.is_available():
                try:
                    index = int(str(worker.name).rsplit("-", 1)[-1])
                except ValueError:
                    index = 0
                torch.cuda.set_device(index % torch.cuda.device_count())

    return WorkerSetup()


def _reference_task(spec: StudySpec, block: int):
    from .shards import ShardError, shard_label

    try:
        return block_reference(spec, block)
    except Exception as exc:
        lo, hi = spec.block_rows(block)
        raise ShardError(f"the reference of {shard_label(lo, hi)} failed: {type(exc).__name__}: {exc}") from exc


class DaskRunner(ShardRunner):
    """The shards of Monte Carlo studies as tasks on the cluster of a ``distributed.Client``.

    ``shards`` per study default to four per worker (the workers the scheduler knows when the
    study starts); ``device`` "cuda…" makes every task ask for one :data:`GPU_RESOURCE`.
    """

    def __init__(self, client, *, shards: int | None = None, progress: bool = False, device: str = "cpu"):
        self.client, self.shards, self.progress, self.device = client, shards, progress, str(device)
        self._resources = {GPU_RESOURCE: 1} if self.device.startswith("cuda") else None

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, subject, spec: StudySpec, cache: dict, levels=None) -> ShardResult | PathwiseResult:
        distributed = _distributed()
        run = uuid.uuid4().hex[:12]
        for b in range(spec.blocks):
            key = spec.reference_key(b)
            if key not in cache:
                cache[key] = self.client.submit(_reference_task, spec, b,
                                                key=f"seeds-{spec.regime}-reference-{run}-{b}",
                                                pure=False, resources=self._resources)
        ranges = self.ranges(spec)
        futures = []
        for start, stop in ranges:
            blocks = range(start // spec.path_block, -(-stop // spec.path_block))
            refs = [cache[spec.reference_key(b)] for b in blocks]
            futures.append(self.client.submit(study_shard, subject, spec, start, stop, refs, levels,
                                              key=f"seeds-{spec.regime}-shard-{run}-{start}-{stop}", pure=False,
                                              resources=self._resources))
        try:
            with self._bar(len(futures), spec, subject) as bar:
                for done in distributed.as_completed(futures):
                    if done.status == "error":
                        done.result()  # re-raises the shard's exception here
                    bar.update()
            parts = [f.result() for f in futures]
        except BaseException:
            self.client.cancel(futures)
            raise
        return type(parts[0]).merge(parts)


@contextlib.contextmanager
def cluster_runner(workers: int | None = None, scheduler: str | None = None, *, shards: int | None = None,
                   progress: bool = False, device: str = "cpu"):
    """A :class:`DaskRunner` on an embedded ``LocalCluster`` of ``workers`` processes (one thread
    each) or on the cluster at ``scheduler``; None when neither is given. The embedded cluster
    is closed on exit."""
    workers, scheduler = check_workers(workers), check_scheduler(scheduler)
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (an embedded cluster) or scheduler (an existing one), not both")
    if workers is None and scheduler is None:
        yield None
        return
    distributed = _distributed()
    device = str(device)
    if scheduler is not None:
        client = distributed.Client(scheduler)
        cluster = None
    else:
        kwargs = {}
        if device.startswith("cuda"):
            import torch

            count = torch.cuda.device_count()
            if workers > count:
                raise ValueError(f"workers: {workers} workers on device {device} need as many GPUs, "
                                 f"{count} visible")
            kwargs["resources"] = {GPU_RESOURCE: 1}
        # Worker processes inherit this environment; one BLAS/OpenMP thread each.
        env = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", **kwargs)  # any free port
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        client = distributed.Client(cluster)
    try:
        client.register_plugin(_worker_setup_plugin(device))
        yield DaskRunner(client, shards=shards, progress=progress, device=device)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
