"""Real servers for the grading-engine tests: PostgreSQL and a Dask cluster on 127.0.0.1.

Both start as subprocesses on free loopback ports and are torn down afterwards.
Neither is skipped when it cannot start: the fixture fails and says why.
PostgreSQL comes from Debian's ``postgresql`` package (``make sysdeps``); it
refuses to run as root, so as root it runs as the ``postgres`` system user.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(f"PostgreSQL's {name} not found in /usr/lib/postgresql/*/bin: install "
                    "Debian's postgresql package (`make sysdeps` does it as root)")
    return found[-1]


def _as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd, what):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode:
        pytest.fail(f"{what} failed ({' '.join(cmd)}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster; yields ``make_db(name) -> SQLAlchemy URL``."""
    data = tempfile.mkdtemp(prefix="bngrade-pg-")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    _run(_as_postgres([_pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres",
                       "--no-sync"]), "initdb")
    _run(_as_postgres([_pg_bin("pg_ctl"), "-D", data, "-w", "-t", "60", "-l",
                       os.path.join(data, "server.log"), "-o",
                       f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
                       "start"]), "starting PostgreSQL")
    made = []

    def make_db(name):
        _run(_as_postgres([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                           "postgres", name]), f"createdb {name}")
        made.append(name)
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{name}"

    try:
        yield make_db
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def _start(cmd, log, env=None):
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=None if env is None else {**os.environ, **env})


@contextlib.contextmanager
def dask_processes(logdir, workers, certs=None, worker_env=(), nanny=True, started=None):
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1; with
    ``certs`` (a folder made by ``bngrade certs``) every connection is mutual TLS.
    ``worker_env``: per worker, variables added to its environment (e.g. a PYTHONPATH);
    ``nanny=False``: workers without a nanny; ``started``: a list that receives the
    processes (the scheduler first)."""
    from distributed import Client

    from bngrade.driver import tls

    port = free_port()
    address = f"{'tls' if certs else 'tcp'}://127.0.0.1:{port}"

    def flags(role):
        if not certs:
            return []
        cert, key = tls.files(certs, role)
        return ["--tls-ca-file", os.path.join(certs, tls.CA), "--tls-cert", cert,
                "--tls-key", key]

    names = ["scheduler", *(f"worker{i}" for i in range(1, workers + 1))]
    logs = [open(logdir / f"{n}.log", "w") for n in names]
    procs = [_start([os.path.join(BIN, "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                     str(port), "--no-dashboard", "--protocol", address.split(":")[0],
                     *flags("scheduler")], logs[0])]
    procs += [_start([os.path.join(BIN, "dask"), "worker", address, "--host", "127.0.0.1",
                      "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                      "--memory-limit", "0", "--name", f"w{i}", *flags("worker"),
                      *([] if nanny else ["--no-nanny"])], logs[i],
                     worker_env[i - 1] if i <= len(worker_env) else None)
              for i in range(1, workers + 1)]
    if started is not None:
        started.extend(procs)
    try:
        deadline = time.monotonic() + 90
        security = tls.security(certs) if certs else None
        with Client(address, timeout=90, security=security) as client:
            while len(client.scheduler_info()["workers"]) < workers:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    text = "".join(open(f.name).read() for f in logs)
                    pytest.fail(f"the Dask cluster did not start ({workers} workers) on "
                                f"{address}:\n{text[-3000:]}")
                time.sleep(0.5)
        yield address
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for f in logs:
            f.close()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A ``dask scheduler`` and two ``dask worker`` processes; yields the scheduler address."""
    with dask_processes(tmp_path_factory.mktemp("dask"), 2) as address:
        yield address


@pytest.fixture(scope="module")
def dask_tls_cluster(tmp_path_factory):
    """The same with one worker and mutual TLS; yields (certificates folder, address)."""
    from bngrade.driver import tls

    certs = str(tmp_path_factory.mktemp("certs"))
    tls.make_certs(certs)
    with dask_processes(tmp_path_factory.mktemp("dask-tls"), 1, certs) as address:
        yield certs, address
