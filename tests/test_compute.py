"""The compute seam: batches in order and once each, a killed worker loses nothing, an item that
crashes its worker fails alone; the same on local processes and on a Dask LocalCluster; the
nanny's allocator setting undone; a cluster without TLS refused off the loopback; and no other
module starts processes."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import tipwatch
from tipwatch.compute import Batch, Compute, cluster_security, make_batches, map_batches
from tipwatch.errors import ConfigError

pytest.importorskip("distributed")

SRC = Path(tipwatch.__file__).resolve().parent

# -- functions the workers run (importable by name) ---------------------------------------------

_STATE: dict[str, object] = {}


def _remember(shared: object) -> None:
    _STATE["shared"] = shared


def _square(items: Sequence[int]) -> list[tuple[int, int, int]]:
    offset = int(_STATE.get("shared") or 0)  # type: ignore[call-overload]
    return [(i, i * i + offset, os.getpid()) for i in items]


def _abort_on_77(items: Sequence[int]) -> list[int]:
    out = []
    for i in items:
        if i == 77:
            os.abort()  # as a native decoder does on a hostile file
        out.append(i * 2)
    return out


def _slow_logged(items: Sequence[int]) -> list[int]:
    """Say which process started which batch (a file per start), then work slowly."""
    folder = Path(str(_STATE["shared"]))
    (folder / f"{items[0]}-{os.getpid()}-{time.monotonic_ns()}").touch()
    time.sleep(0.4)
    return [i + 1000 for i in items]


def _malloc_variable(items: Sequence[int]) -> list[str | None]:
    return [os.environ.get("MALLOC_TRIM_THRESHOLD_") for _ in items]


def _crashed(item: int, reason: str) -> int:
    assert "stopped" in reason
    return -item


def _batches(n: int, size: int) -> list[Batch[int]]:
    return list(make_batches(range(n), size, str, label="t"))


ENGINES = [
    pytest.param(Compute(workers=2, batch_size=10), id="local-processes"),
    pytest.param(Compute(cluster="local:2", batch_size=10), id="dask-localcluster"),
]


# -- batches ------------------------------------------------------------------------------------


def test_batch_keys_name_their_content() -> None:
    a = _batches(25, 10)
    assert [len(b.items) for b in a] == [10, 10, 5]
    assert [b.key for b in a] == [b.key for b in _batches(25, 10)]
    assert len({b.key for b in a}) == 3
    other = list(make_batches([*range(9), 99, *range(10, 25)], 10, str, label="t"))
    assert other[0].key != a[0].key and other[1].key == a[1].key


def test_in_process_results_come_in_order_and_a_repeated_batch_runs_once() -> None:
    batches = _batches(30, 7)
    out = list(
        map_batches(
            _square, [*batches, batches[1]], compute=Compute(workers=1), setup=_remember, shared=5
        )
    )
    assert [b.index for b, _ in out] == [0, 1, 2, 3, 4]
    flat = [r for _, results in out for r in results]
    assert [(i, sq) for i, sq, _pid in flat] == [(i, i * i + 5) for i in range(30)]
    assert {pid for *_, pid in flat} == {os.getpid()}


@pytest.mark.parametrize("compute", ENGINES)
def test_workers_give_the_same_results_in_order_with_setup_sent_once(compute: Compute) -> None:
    out = list(map_batches(_square, _batches(60, 10), compute=compute, setup=_remember, shared=3))
    assert [b.index for b, _ in out] == list(range(6))
    flat = [r for _, results in out for r in results]
    assert [(i, sq) for i, sq, _pid in flat] == [(i, i * i + 3) for i in range(60)]
    assert os.getpid() not in {pid for *_, pid in flat}


@pytest.mark.parametrize("compute", ENGINES)
def test_an_item_that_crashes_its_worker_fails_alone(compute: Compute) -> None:
    out = list(map_batches(_abort_on_77, _batches(100, 25), compute=compute, on_crash=_crashed))
    flat = [r for _, results in out for r in results]
    assert flat == [-77 if i == 77 else i * 2 for i in range(100)]


@pytest.mark.parametrize("compute", ENGINES)
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(
    compute: Compute, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    starts.mkdir()
    killed: list[int] = []

    def kill_the_worker_of_batch_2() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for marker in starts.iterdir():
                first, pid, _ = marker.name.split("-")
                if first == "20":  # batch 2 (items 20-29) has started
                    time.sleep(0.1)
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(int(pid))
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker_of_batch_2)
    killer.start()
    try:
        out = list(
            map_batches(
                _slow_logged, _batches(60, 10), compute=compute, setup=_remember, shared=starts
            )
        )
    finally:
        killer.join()
    assert killed, "batch 2 never started"
    flat = [r for _, results in out for r in results]
    assert flat == [i + 1000 for i in range(60)]  # every item once, in order
    assert [b.index for b, _ in out] == list(range(6))
    # Batch 2 started in the killed worker and ran again in another process.
    pids_of_batch_2 = {m.name.split("-")[1] for m in starts.iterdir() if m.name.startswith("20-")}
    assert str(killed[0]) in pids_of_batch_2 and len(pids_of_batch_2) >= 2


def test_cluster_workers_run_without_the_nanny_allocator_setting() -> None:
    restored = Compute(cluster="local:1", batch_size=5)
    out = [
        r for _, rs in map_batches(_malloc_variable, _batches(5, 5), compute=restored) for r in rs
    ]
    assert out == [None] * 5
    # The nanny's default, kept only to measure it, does set it: the check can fail.
    default = Compute(cluster="local:1", batch_size=5, restore_malloc=False)
    saved = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    try:
        out = [
            r
            for _, rs in map_batches(_malloc_variable, _batches(5, 5), compute=default)
            for r in rs
        ]
    finally:  # the in-process nanny sets it in this process too
        if saved is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    assert out == ["65536"] * 5


# -- security -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compute", "says"),
    [
        (Compute(cluster="tcp://192.0.2.10:8786", insecure_loopback=True), "no TLS"),
        (Compute(cluster="192.0.2.10:8786"), "no TLS"),
        (Compute(cluster="tcp://127.0.0.1:8786"), "no TLS"),
        (Compute(cluster="tls://192.0.2.10:8786"), "needs a CA"),
        (
            Compute(
                cluster="tls://192.0.2.10:8786",
                tls_ca=Path("/nonexistent/ca.pem"),
                tls_cert=Path("/nonexistent/c.pem"),
                tls_key=Path("/nonexistent/k.pem"),
            ),
            "does not exist",
        ),
        (Compute(cluster="http://192.0.2.10:8786"), "scheme"),
    ],
)
def test_a_cluster_without_mutual_tls_is_refused_off_the_loopback(
    compute: Compute, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        cluster_security(compute)
    assert info.value.hint


def test_a_loopback_scheduler_without_tls_needs_the_explicit_setting() -> None:
    address, security = cluster_security(
        Compute(cluster="tcp://127.0.0.1:8786", insecure_loopback=True)
    )
    assert (address, security) == ("tcp://127.0.0.1:8786", None)
    with pytest.raises(ConfigError):
        list(map_batches(_square, _batches(3, 3), compute=Compute(cluster="tcp://192.0.2.1:1")))


def test_settings_reach_the_compute_seam() -> None:
    from tipwatch.settings import load_settings

    settings = load_settings(cluster="local:3", compute_batch_size=80)
    compute = Compute.from_settings(settings, workers=2)
    assert (compute.cluster, compute.batch_size, compute.workers) == ("local:3", 80, 2)
    with pytest.raises(ConfigError):
        load_settings(compute_batch_size=10)  # under 50: Dask's per-task cost dominates


# -- one seam -----------------------------------------------------------------------------------

_STARTS_PROCESSES = re.compile(
    r"ProcessPoolExecutor|^\s*import multiprocessing\s*$|multiprocessing\.(get_context|Process|Pool)"
    r"|from multiprocessing import|distributed import",
    re.MULTILINE,
)


def test_no_module_but_the_compute_seam_starts_worker_processes() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "compute.py" and _STARTS_PROCESSES.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    # The pattern does find what it looks for.
    assert _STARTS_PROCESSES.search((SRC / "compute.py").read_text(encoding="utf-8"))


# -- hashing on a cluster -----------------------------------------------------------------------


def test_hashing_on_a_local_cluster_gives_the_single_process_hashes(tmp_path: Path) -> None:
    """Images, a video (decoded in a child of the worker) and a bad file, in batches."""
    import shutil
    import subprocess

    from tipwatch.demo.images import write_generated_images
    from tipwatch.media import hash_paths

    paths = write_generated_images(tmp_path / "img", 14, size=(320, 240))
    paths += write_generated_images(tmp_path / "png", 4, size=(200, 150), fmt="PNG")
    (tmp_path / "note.txt").write_text("not media")
    paths.append(tmp_path / "note.txt")
    if shutil.which("ffmpeg"):
        video = tmp_path / "v.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=duration=2:size=160x120:rate=10",
                "-pix_fmt",
                "yuv420p",
                str(video),
            ],
            check=True,
        )
        paths.insert(5, video)
    one = [r.as_dict() for r in hash_paths(paths, jobs=1)]
    cluster = [
        r.as_dict() for r in hash_paths(paths, compute=Compute(cluster="local:2", batch_size=6))
    ]
    assert cluster == one
    assert [r["path"] for r in one] == [str(p) for p in paths]
    assert sum("pdq" in r for r in one) == 18 and sum("error" in r for r in one) == 1
    if shutil.which("ffmpeg"):
        assert one[5]["kind"] == "video" and one[5]["vpdq"]


def _openssl(*args: str) -> None:
    import subprocess

    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_cluster_certificates(folder: Path) -> dict[str, Path]:
    """A CA and a certificate for each of scheduler, worker and client, as docs/deploy.md
    makes them."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=tipwatch-cluster-ca", "-keyout", str(folder / "ca-key.pem"),
        "-out", str(folder / "ca.pem"),
    )  # fmt: skip
    made = {"ca": folder / "ca.pem"}
    for role in ("scheduler", "worker", "client"):
        key, csr, cert = (
            folder / f"{role}-key.pem",
            folder / f"{role}.csr",
            folder / f"{role}.pem",
        )
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=tipwatch-{role}",
            "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(folder / "ca.pem"),
            "-CAkey", str(folder / "ca-key.pem"), "-CAcreateserial", "-days", "2",
            "-out", str(cert),
        )  # fmt: skip
        made[role], made[f"{role}-key"] = cert, key
    return made


def test_work_runs_on_a_cluster_over_mutual_tls(tmp_path: Path) -> None:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    from distributed import LocalCluster
    from distributed.security import Security

    certs = make_cluster_certificates(tmp_path)
    server = Security(
        tls_ca_file=str(certs["ca"]),
        tls_scheduler_cert=str(certs["scheduler"]),
        tls_scheduler_key=str(certs["scheduler-key"]),
        tls_worker_cert=str(certs["worker"]),
        tls_worker_key=str(certs["worker-key"]),
        tls_client_cert=str(certs["client"]),
        tls_client_key=str(certs["client-key"]),
        require_encryption=True,
    )
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        protocol="tls://",
        host="127.0.0.1",
        security=server,
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        compute = Compute(
            cluster=address,
            tls_ca=certs["ca"],
            tls_cert=certs["client"],
            tls_key=certs["client-key"],
            batch_size=5,
        )
        out = list(
            map_batches(_square, _batches(12, 5), compute=compute, setup=_remember, shared=1)
        )
        assert [r[:2] for _, rs in out for r in rs] == [(i, i * i + 1) for i in range(12)]
        # The same scheduler without TLS, even on loopback, is refused before any connection.
        with pytest.raises(ConfigError, match="no TLS"):
            list(
                map_batches(
                    _square, _batches(2, 2), compute=Compute(cluster=address.replace("tls", "tcp"))
                )
            )
