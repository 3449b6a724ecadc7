"""The one place tipwatch runs work in other processes: local processes or Dask distributed.

Bulk work (hashing files, the triage pass's reading and attribution, PDQ search of a hash
file) is cut into *batches* and handed to :func:`map_batches`, which runs a function over each
batch on one of three engines, chosen by :class:`Compute`:

* this process (``workers=1``): no process is started;
* local processes (the default: one per CPU), the standard library's process pool;
* a Dask distributed cluster (``cluster="tls://host:8786"``, or ``cluster="local:N"`` for an
  in-process ``LocalCluster`` of N worker processes on 127.0.0.1), the optional
  ``tipwatch[cluster]`` extra.

Results come back one batch at a time, in the batches' order, so that the caller writes them
in order; at most a few batches per worker are in flight. Every batch has a key (its index and
a digest of what identifies its items) and is yielded once, whatever happens on the workers:

* a worker killed while it works on a batch loses nothing: the batch runs again elsewhere (Dask
  retries it itself; with local processes the pool is started again and the batch resubmitted);
* an item that kills its worker every time (a decoder that aborts, a decompression bomb that
  exhausts memory) is found by running the batch's items one by one, and gets the result the
  caller's ``on_crash`` makes of it (an error naming the reason); the other items are kept.

Dask's worker manager (its *nanny*) sets ``MALLOC_TRIM_THRESHOLD_`` in each worker, which turns
glibc's dynamic memory-map threshold off: each decoded image then gets fresh pages from the
kernel, and hashing is 2-3 times slower. Clusters started here leave the variable out, and every
worker (local or Dask, started here or not) sets the allocator's thresholds itself
(:func:`tune_allocator`) before its first batch.

Security: a Dask scheduler runs the code it is sent. A cluster address is refused unless it uses
TLS with mutual certificates (``tls://`` and a CA, a certificate and a key), or is on the loopback
interface and explicitly allowed without TLS (``insecure_loopback``); ``local:N`` binds
127.0.0.1 only.
"""

from __future__ import annotations

import ctypes
import hashlib
import ipaddress
import logging
import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from tipwatch.errors import ConfigError, TipwatchError

if TYPE_CHECKING:
    from tipwatch.settings import Settings

__all__ = [
    "MIN_CLUSTER_BATCH",
    "Batch",
    "ChildOutcome",
    "Compute",
    "make_batches",
    "map_batches",
    "run_in_child",
    "tune_allocator",
]

T = TypeVar("T")
R = TypeVar("R")

MIN_CLUSTER_BATCH = 50
"""Least items per batch on a cluster: Dask spends about 2 ms of CPU on each task."""

_log = logging.getLogger("tipwatch.compute")


@dataclass(frozen=True)
class Compute:
    """Where and how :func:`map_batches` runs. Build it with :meth:`from_settings`.

    ``workers``: local processes (0: one per CPU; 1: this process, none started). ``cluster``:
    a Dask scheduler address (``tls://host:8786``) or ``local:N``; when set, ``workers`` is
    not used. ``tls_ca``, ``tls_cert``, ``tls_key``: the files for TLS with mutual
    certificates. ``insecure_loopback``: allow a ``tcp://`` scheduler on the loopback
    interface. ``batch_size``: items per batch. ``restore_malloc``: leave the Dask nanny's
    allocator variable out of the workers of a ``local:N`` cluster; ``tune_malloc``: set the
    allocator's thresholds in every worker (:func:`tune_allocator`). Both ``False`` only to
    measure what the nanny's setting costs.
    """

    workers: int = 0
    cluster: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_loopback: bool = False
    batch_size: int = 64
    restore_malloc: bool = True
    tune_malloc: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int = 0) -> Compute:
        """The compute settings of ``settings`` (``cluster``, ``cluster_tls_*``,
        ``cluster_insecure_loopback``, ``compute_batch_size``), with ``workers`` processes."""
        return cls(
            workers=workers,
            cluster=settings.cluster or None,
            tls_ca=settings.cluster_tls_ca,
            tls_cert=settings.cluster_tls_cert,
            tls_key=settings.cluster_tls_key,
            insecure_loopback=settings.cluster_insecure_loopback,
            batch_size=settings.compute_batch_size,
        )

    @property
    def local_processes(self) -> int:
        """Worker processes of the local pool (1: none, the work runs in this process)."""
        return self.workers or os.cpu_count() or 1

    def describe(self) -> str:
        if self.cluster:
            return f"Dask cluster {self.cluster}"
        n = self.local_processes
        return "this process" if n <= 1 else f"{n} local processes"


@dataclass(frozen=True)
class Batch(Generic[T]):
    """Items handed to one worker at a time. ``key`` identifies the batch and its content: the
    same items in the same place of the same run always get the same key."""

    index: int
    key: str
    items: tuple[T, ...]


def make_batches(
    items: Iterable[T], size: int, identity: Callable[[T], str], *, label: str = "batch"
) -> Iterator[Batch[T]]:
    """``items`` in batches of ``size``; each key is ``label``, the batch's index and a digest
    of its items' identities (a path with its size and time, a report id)."""
    if size < 1:
        raise ValueError("a batch holds at least one item")
    chunk: list[T] = []
    index = 0

    def close() -> Batch[T]:
        digest = hashlib.blake2b(digest_size=10)
        for item in chunk:
            digest.update(identity(item).encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return Batch(index, f"{label}-{index:07d}-{digest.hexdigest()}", tuple(chunk))

    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield close()
            chunk = []
            index += 1
    if chunk:
        yield close()


# -- the allocator ------------------------------------------------------------------------------

_ALLOCATOR_TUNED = False
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator() -> None:
    """Let glibc keep freed buffers of up to 32 MB for reuse (once per process; glibc only).

    Decoding an image allocates buffers of a few megabytes. glibc serves blocks that large as
    fresh memory maps unless its dynamic threshold has risen past them; freed maps go back to
    the kernel, which zeroes new pages for the next image. Raising the map threshold to 32 MB
    and the trim threshold to 64 MB keeps such buffers in the process; this also overrides the
    ``MALLOC_TRIM_THRESHOLD_`` variable Dask's nanny sets (which freezes the threshold low).
    Memory stays flat (``benchmarks/hashing.py --memory``).
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024)


# -- work in a worker ---------------------------------------------------------------------------

_PREPARED: set[str] = set()


def _prepare(token: str, setup: Callable[[Any], None] | None, shared: Any, tune: bool) -> None:
    """Once per worker process and run: the allocator, then the caller's ``setup``."""
    if token in _PREPARED:
        return
    if tune:
        tune_allocator()
    if setup is not None:
        setup(shared)
    _PREPARED.add(token)


def _checked(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> list[R]:
    out = fn(items)
    if len(out) != len(items):
        raise TipwatchError(
            f"{getattr(fn, '__name__', fn)} gave {len(out)} results for {len(items)} items"
        )
    return out


def _dask_task(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    token: str,
    setup: Callable[[Any], None] | None,
    shared: Any,
    tune: bool,
) -> list[R]:
    _prepare(token, setup, shared, tune)
    return _checked(fn, items)


class _WorkerLost(Exception):
    """The worker running a batch stopped (killed, out of memory, a crash in native code)."""


class _Engine(Protocol):
    parallel: int
    retries_lost_work: bool
    """Whether the engine itself already ran a lost batch again before reporting it lost."""

    def submit(self, key: str, items: Sequence[Any]) -> Any: ...

    def result(self, handle: Any) -> list[Any]: ...

    def close(self) -> None: ...


class _InProcess:
    parallel = 1
    retries_lost_work = False

    def __init__(self, fn: Callable[[Sequence[Any]], list[Any]]) -> None:
        self.fn = fn

    def submit(self, key: str, items: Sequence[Any]) -> Any:
        return items

    def result(self, handle: Any) -> list[Any]:
        return _checked(self.fn, handle)

    def close(self) -> None:
        pass


class _LocalPool:
    """The standard library's process pool, started again when a worker dies."""

    retries_lost_work = False

    def __init__(
        self,
        fn: Callable[[Sequence[Any]], list[Any]],
        processes: int,
        initargs: tuple[Any, ...],
    ) -> None:
        self.fn = fn
        self.parallel = processes
        self.initargs = initargs
        self.pool: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # forkserver: a worker does not inherit the caller's threads and open files
            # (a store connection, a progress bar's thread); spawn where there is no fork.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            self.pool = ProcessPoolExecutor(
                self.parallel, mp_context=context, initializer=_prepare, initargs=self.initargs
            )
        return self.pool

    def submit(self, key: str, items: Sequence[Any]) -> Any:
        pool = self._pool()
        try:
            return pool, pool.submit(_checked, self.fn, items)
        except BrokenProcessPool:
            self._restart(pool)
            pool = self._pool()
            return pool, pool.submit(_checked, self.fn, items)

    def result(self, handle: Any) -> list[Any]:
        pool, future = handle
        assert isinstance(future, Future)
        try:
            return list(future.result())
        except BrokenProcessPool:
            self._restart(pool)
            raise _WorkerLost(
                "the worker process stopped abruptly (killed, out of memory, or a crash in "
                "native code)"
            ) from None

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Start a new pool in place of ``broken`` (once, whichever lost batch finds it)."""
        if self.pool is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cluster_security(compute: Compute) -> tuple[str, Any]:
    """The scheduler address and Dask ``Security`` for ``compute.cluster`` (not ``local:N``),
    or :class:`ConfigError` when the cluster would run without TLS off the loopback."""
    address = compute.cluster or ""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tls", "tcp"):
        raise ConfigError(
            f"cluster address {address!r}: the scheme must be tls:// (or tcp:// on loopback)",
            hint="name the Dask scheduler as tls://HOST:8786, or local:N for a cluster here",
        )
    host = parts.hostname or ""
    certs = (compute.tls_ca, compute.tls_cert, compute.tls_key)
    if parts.scheme == "tcp":
        if not (_is_loopback(host) and compute.insecure_loopback):
            raise ConfigError(
                f"cluster address {address!r} has no TLS: a Dask scheduler runs the code it is "
                "sent, so tipwatch talks to one only over TLS with mutual certificates",
                hint="use tls://HOST:8786 with the cluster_tls_ca, cluster_tls_cert and "
                "cluster_tls_key settings; a scheduler on 127.0.0.1 may go without TLS when "
                "the cluster_insecure_loopback setting is true",
            )
        return address if "://" in address else f"tcp://{address}", None
    if not all(certs):
        raise ConfigError(
            f"cluster address {address!r}: TLS needs a CA, a certificate and a key",
            hint="set cluster_tls_ca, cluster_tls_cert and cluster_tls_key",
        )
    for path in certs:
        assert path is not None
        if not Path(path).is_file():
            raise ConfigError(
                f"cluster TLS file {path} does not exist",
                hint="check the cluster_tls_ca, cluster_tls_cert and cluster_tls_key settings",
            )
    from distributed.security import Security

    security = Security(  # type: ignore[no-untyped-call]
        tls_ca_file=str(compute.tls_ca),
        tls_client_cert=str(compute.tls_cert),
        tls_client_key=str(compute.tls_key),
        require_encryption=True,
    )
    return address, security


def _local_cluster_size(cluster: str) -> int | None:
    if not cluster.startswith("local"):
        return None
    rest = cluster[len("local") :]
    if rest in ("", ":"):
        return os.cpu_count() or 1
    try:
        n = int(rest.lstrip(":"))
    except ValueError:
        raise ConfigError(
            f"cluster {cluster!r}: write local:N for N worker processes here",
            hint="for example local:4, or a scheduler address tls://HOST:8786",
        ) from None
    if n < 1:
        raise ConfigError(
            f"cluster {cluster!r}: a local cluster has at least one worker",
            hint="for example local:4",
        )
    return n


class _Dask:
    """A Dask distributed client: to a scheduler named by address, or to a LocalCluster."""

    retries_lost_work = True

    def __init__(
        self,
        compute: Compute,
        fn: Callable[[Sequence[Any]], list[Any]],
        setup: Callable[[Any], None] | None,
        shared: Any,
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "a cluster needs Dask distributed, which is not installed",
                hint="install tipwatch with its cluster extra: pip install 'tipwatch[cluster]'",
            ) from None
        self.fn, self.setup = fn, setup
        self.token = uuid.uuid4().hex
        self.tune = compute.tune_malloc
        self.cluster: Any = None
        size = _local_cluster_size(compute.cluster or "")
        if size is not None:
            environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
            if compute.restore_malloc:
                environ.pop("MALLOC_TRIM_THRESHOLD_", None)
                environ.pop("MALLOC_TRIM_THRESHOLD", None)
            settings = {
                "distributed.nanny.pre-spawn-environ": environ,
                # Workers start children of their own (a video is decoded in one).
                "distributed.worker.daemon": False,
                # A batch whose worker died runs once more; a second death isolates its items.
                "distributed.scheduler.allowed-failures": 1,
            }
            with dask.config.set(settings):
                self.cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=size,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.client: Any = Client(self.cluster)  # type: ignore[no-untyped-call]
        else:
            address, security = cluster_security(compute)
            try:
                self.client = Client(  # type: ignore[no-untyped-call]
                    address, security=security, timeout=30
                )
            except OSError as exc:
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {address}: {exc}",
                    hint="start the scheduler and workers (see docs/deploy.md), or check the "
                    "address and the TLS files",
                ) from exc
        try:
            self.client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            self.close()
            raise ConfigError(
                f"the Dask scheduler at {compute.cluster} has no workers (none joined in 60 s)",
                hint="start workers that connect to it (see docs/deploy.md)",
            ) from None
        self.parallel = max(1, sum(self.client.nthreads().values()))
        self.shared = (
            self.client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
        )

    def submit(self, key: str, items: Sequence[Any]) -> Any:
        return self.client.submit(
            _dask_task,
            self.fn,
            list(items),
            self.token,
            self.setup,
            self.shared,
            self.tune,
            key=f"{key}-{self.token[:8]}",
            retries=0,
        )

    def result(self, handle: Any) -> list[Any]:
        from distributed import KilledWorker

        try:
            return list(handle.result())
        except KilledWorker as exc:
            raise _WorkerLost(
                f"the worker process stopped abruptly each time it ran this (killed, out of "
                f"memory, or a crash in native code): {exc}"
            ) from None
        except RuntimeError as exc:
            if "deserializ" not in str(exc):
                raise
            # The scheduler or a worker could not unpickle tipwatch's function: another
            # version of tipwatch (or none) is installed there.
            raise ConfigError(
                "the Dask scheduler or its workers cannot load this tipwatch's code: "
                f"{str(exc).split('.')[0]}",
                hint="install the same tipwatch version (with its cluster extra) on the "
                "scheduler, every worker and this machine",
            ) from None
        finally:
            handle.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def map_batches(
    fn: Callable[[Sequence[T]], list[R]],
    batches: Iterable[Batch[T]],
    *,
    compute: Compute | None = None,
    setup: Callable[[Any], None] | None = None,
    shared: Any = None,
    on_crash: Callable[[T, str], R] | None = None,
) -> Iterator[tuple[Batch[T], list[R]]]:
    """``(batch, fn(batch.items))`` for each batch, in the batches' order, each batch once.

    ``fn`` returns one result per item; it and ``setup`` must be importable functions (they
    are sent to other processes by name). ``setup(shared)`` runs once in each worker process
    before its first batch (``shared``, a matcher snapshot say, is sent to each worker once).
    ``on_crash(item, reason)`` makes the result of an item that stops its worker every time it
    is run; without it, such an item raises :class:`TipwatchError`.
    """
    compute = compute or Compute()
    engine: _Engine
    if compute.cluster:
        engine = _Dask(compute, fn, setup, shared)
    elif compute.local_processes <= 1:
        if compute.tune_malloc:
            tune_allocator()
        if setup is not None:
            setup(shared)
        engine = _InProcess(fn)
    else:
        token = uuid.uuid4().hex
        engine = _LocalPool(
            fn, compute.local_processes, (token, setup, shared, compute.tune_malloc)
        )
    window = 2 * engine.parallel + 1
    pending: deque[tuple[Batch[T], Any]] = deque()
    seen: set[str] = set()
    try:
        for batch in batches:
            if batch.key in seen:
                continue  # the same batch named twice: run and written once
            seen.add(batch.key)
            pending.append((batch, engine.submit(batch.key, batch.items)))
            while len(pending) >= window:
                done, handle = pending.popleft()
                yield done, _resolve(engine, done, handle, on_crash)
        while pending:
            done, handle = pending.popleft()
            yield done, _resolve(engine, done, handle, on_crash)
    finally:
        engine.close()


def _resolve(
    engine: _Engine,
    batch: Batch[T],
    handle: Any,
    on_crash: Callable[[T, str], R] | None,
) -> list[R]:
    try:
        return engine.result(handle)
    except _WorkerLost as exc:
        reason = str(exc)
    if not engine.retries_lost_work:
        _log.warning("batch %s lost with its worker; running it again", batch.key)
        try:
            return engine.result(engine.submit(f"{batch.key}-again", batch.items))
        except _WorkerLost as exc:
            reason = str(exc)
    # Lost twice: one of its items stops the worker. Each item alone finds which.
    _log.warning("batch %s stopped its worker twice; running its items one by one", batch.key)
    handles = [engine.submit(f"{batch.key}-item{i}", [item]) for i, item in enumerate(batch.items)]
    out: list[R] = []
    for item, single in zip(batch.items, handles, strict=True):
        try:
            out.extend(engine.result(single))
            continue
        except _WorkerLost as exc:
            reason = str(exc)
        # Another item's crash may have taken this one down with it (a broken process pool; a
        # Dask worker that held it queued behind the crashing item, twice): once more, alone.
        try:
            out.extend(engine.result(engine.submit(f"{batch.key}-alone", [item])))
            continue
        except _WorkerLost as exc:
            reason = str(exc)
        if on_crash is None:
            raise TipwatchError(f"an item of batch {batch.key} stops its worker: {reason}")
        out.append(on_crash(item, reason))
    return out


# -- one child process for one risky call -------------------------------------------------------


@dataclass(frozen=True)
class ChildOutcome:
    """What came of :func:`run_in_child`: ``sent`` (the child's message is in ``message``),
    ``timeout`` (stopped after the time limit) or ``crashed`` (it ended without a message)."""

    status: Literal["sent", "timeout", "crashed"]
    message: Any
    exitcode: int | None


def run_in_child(
    target: Callable[..., None], args: tuple[Any, ...], *, seconds: float
) -> ChildOutcome:
    """Run ``target(*args, send)`` in a child process of its own; ``send`` is a connection on
    which the child sends one message. The child is stopped after ``seconds``; a crash in it
    (a native decoder aborting) ends only the child. Forked where the system can fork (the
    child needs nothing re-imported), else spawned."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    receive: Connection
    send: Connection
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(*args, send))
    child.start()
    send.close()
    status: Literal["sent", "timeout", "crashed"]
    message: Any = None
    try:
        if receive.poll(seconds):
            status, message = "sent", receive.recv()
        else:
            status = "timeout"
            child.kill()
    except EOFError:
        status = "crashed"
    finally:
        receive.close()
        child.join()
    return ChildOutcome(status, message, child.exitcode)
