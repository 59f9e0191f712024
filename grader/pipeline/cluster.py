"""Dask distributed as the grading engine for classes that outgrow one machine.

    python -m grader autograde SUBMISSIONS --out OUT --scheduler tcp://HOST:8786
    python -m grader autograde SUBMISSIONS --out OUT --local-cluster 4

Each submission is one Dask task running ``grader.pipeline.grade_one.grade_submission(job)`` on a worker:
the same sandboxed kernel, limits and judge as the local pool. Only the coordinating process (the
one that ran the command) writes results, ``grades.csv`` and the signed cache; workers write only
the feedback page of the submission they graded.

Resilience is Dask's own: a task whose worker dies is rescheduled on another worker; a task that
kills ``distributed.scheduler.allowed-failures`` workers (default 3) fails with ``KilledWorker``,
which the coordinator records as that submission's ``error`` row with the reason. ``retries``
re-runs a task that raised (grade_submission itself never raises, so this only covers failures
of the worker machinery).

No kernel may reach the grader's own services. The local cluster talks TLS with a temporary
certificate authority that lives only in the grader's processes (``Security.temporary()``): a
scheduler or worker asks every peer for a certificate signed by it, so even a kernel with
``--allow-network`` cannot submit work to them (``Client.run`` would run code as the grader,
outside every sandbox). A cluster of the instructor's own that listens without TLS is refused
with ``--allow-network`` (``exposed_by_network``; the worker checks it again before any kernel
starts: ``grader.sandbox.contained``).
"""
from __future__ import annotations

import contextlib
import logging
import sys


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, local_workers: int | None = None, network: str | None = None,
                security=None):
    """A ``distributed.Client``, closed on exit (with the local cluster it started, if any).

    ``scheduler``: the address of a running scheduler (``dask scheduler``; ``security``: its TLS
    settings, a ``distributed.Security``); otherwise a ``LocalCluster`` of ``local_workers``
    processes with one thread each (a kernel per worker), on TLS. ``network="allow"`` (the
    kernels' ``--allow-network``) refuses a scheduler that does not talk TLS.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise RuntimeError("the Dask engine needs `distributed`: pip install 'decoding-course[grader]'") from error
    cluster = None
    if scheduler:
        if network == "allow" and not scheduler.startswith("tls://"):
            raise RuntimeError(exposed_message(scheduler))
        client = Client(scheduler, timeout="30s", security=security)
    else:
        security = temporary_security()
        cluster = LocalCluster(n_workers=local_workers or 2, threads_per_worker=1, processes=True,
                               protocol="tls://", security=security, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster, security=security)
    try:
        yield client
    finally:
        close_quietly(client, cluster)


def close_quietly(*closing):
    """Close a client and its local cluster. A shutdown that times out (a loaded machine) is said
    on stderr, not raised: by then the batch's results are saved and ``grades.csv`` written."""
    for thing in closing:
        if thing is None:
            continue
        try:
            thing.close()
        except (TimeoutError, OSError, RuntimeError) as error:
            print(f"warning: the Dask {type(thing).__name__} did not close cleanly ({error!r}); "
                  f"the grades are saved", file=sys.stderr)


def temporary_security():
    """``Security.temporary()``: one self-signed certificate for every role, held in memory only.

    Without ``cryptography`` the same certificate is made by the ``openssl`` command, in a private
    folder of the grader's temp folder (hidden from every kernel) that is removed at once."""
    import shutil
    import subprocess
    import tempfile

    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError:
        if shutil.which("openssl") is None:
            raise RuntimeError("a local Dask cluster needs `cryptography` or the `openssl` command for its "
                               "temporary TLS certificate") from None
    with tempfile.TemporaryDirectory(prefix="grader-tls-") as folder:
        key, cert = f"{folder}/key.pem", f"{folder}/cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "365", "-subj", "/CN=dask-internal", "-addext", "subjectAltName=DNS:dask-internal"],
                       check=True, capture_output=True, timeout=60)
        key_pem, cert_pem = open(key).read(), open(cert).read()
    roles = {f"tls_{role}_{kind}": pem for role in ("client", "scheduler", "worker")
             for kind, pem in (("key", key_pem), ("cert", cert_pem))}
    return Security(require_encryption=True, tls_ca_file=cert_pem, **roles)


def exposed_message(address: str) -> str:
    return (f"--allow-network would let every kernel reach the Dask cluster at {address}, which does not "
            "use TLS, and run code there as the grader: use a TLS cluster (tls://, with certificates), "
            "--local-cluster (TLS with a temporary certificate authority) or drop --allow-network")


def exposed_by_network(options: dict) -> str | None:
    """Why a kernel started with ``options`` in this process could reach the Dask cluster this
    process works for (``None`` when it cannot: no network, no Dask, or TLS everywhere)."""
    import sys

    if not options.network_allowed or "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a Dask worker
        return None
    for address in (worker.address, worker.scheduler.address):
        if address and not str(address).startswith("tls://"):
            return exposed_message(str(address))
    return None


def executor(client, retries: int = 2):
    """The ``concurrent.futures.Executor`` that ``autograde(executor=...)`` takes, on ``client``.

    pure=False: two identical jobs (a resubmitted notebook) are graded, not deduplicated.
    ``on_this_machine``: the client's cluster is a ``LocalCluster``, whose workers share the
    coordinator's machine, and with it the kernel template the coordinator starts."""
    from distributed import LocalCluster

    pool = client.get_executor(retries=retries, pure=False)
    pool.on_this_machine = isinstance(getattr(client, "cluster", None), LocalCluster)
    return pool


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, local_workers: int | None = None, retries: int = 2,
                  network: str | None = None):
    """``executor(client)`` on ``dask_client(scheduler, local_workers, network)``, closed on exit."""
    with dask_client(scheduler, local_workers, network) as client:
        yield executor(client, retries)


def describe(scheduler: str | None, local_workers: int | None) -> str:
    if scheduler:
        return f"Dask scheduler at {scheduler}"
    return f"a local Dask cluster of {local_workers or 2} worker processes (TLS, temporary certificates)"
