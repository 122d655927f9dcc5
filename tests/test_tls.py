"""bngrade.driver.tls: cluster certificates; a real loopback Dask cluster refuses strangers."""

import os
import socket
import ssl
import stat
import subprocess

import pytest
from servers import BIN, dask_tls_cluster  # noqa: F401 (fixture)

from bngrade.driver import tls


def test_certs_are_private_and_signed_by_the_authority(tmp_path):
    from cryptography import x509

    folder = tmp_path / "certs"
    out = tls.make_certs(str(folder), hosts=("127.0.0.1", "grader.example"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in out.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    ca = x509.load_pem_x509_certificate(open(out["ca"], "rb").read())
    for role in tls.ROLES:
        cert = x509.load_pem_x509_certificate(open(out[role], "rb").read())
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "grader.example" in san.get_values_for_type(x509.DNSName)
    with pytest.raises(FileExistsError, match="--force"):
        tls.make_certs(str(folder))
    tls.make_certs(str(folder), force=True)


def test_security_requires_encryption_and_names_missing_files(tmp_path):
    with pytest.raises(ValueError, match="bngrade certs"):
        tls.security(str(tmp_path))
    tls.make_certs(str(tmp_path))
    sec = tls.security(str(tmp_path), "client")
    assert sec.require_encryption and sec.tls_client_cert.endswith("client.pem")
    with pytest.raises(ValueError, match="role"):
        tls.files(str(tmp_path), "student")


@pytest.fixture(scope="module")
def tls_cluster(dask_tls_cluster):  # noqa: F811 (the fixture)
    folder, address = dask_tls_cluster
    return folder, int(address.rsplit(":", 1)[1])


@pytest.mark.slow
def test_a_client_with_the_certificate_is_served(tls_cluster):
    from distributed import Client

    folder, port = tls_cluster
    with Client(f"tls://127.0.0.1:{port}", security=tls.security(folder), timeout=30) as c:
        assert c.submit(sum, [1, 2, 3]).result(timeout=30) == 6


@pytest.mark.slow
def test_plain_tcp_is_refused(tls_cluster):
    from distributed import Client

    _, port = tls_cluster
    with pytest.raises(OSError):
        Client(f"tcp://127.0.0.1:{port}", timeout=3)


@pytest.mark.slow
def test_a_certificate_of_another_authority_is_refused(tls_cluster, tmp_path):
    from distributed import Client

    _, port = tls_cluster
    tls.make_certs(str(tmp_path))  # a student's own authority and "client" certificate
    with pytest.raises(OSError):
        Client(f"tls://127.0.0.1:{port}", security=tls.security(str(tmp_path)), timeout=3)


@pytest.mark.slow
def test_tls_without_a_client_certificate_is_refused(tls_cluster):
    """Knowing the authority (public) is not enough: the server demands a client certificate."""
    folder, port = tls_cluster
    ctx = ssl.create_default_context(cafile=os.path.join(folder, tls.CA))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"\0" * 8)
                if not s.recv(1):  # TLS 1.3 reports the refusal on the first read
                    raise ConnectionResetError("closed by the server")


def test_bngrade_certs_prints_the_cluster_commands(tmp_path, capsys):
    from bngrade.driver import cli

    folder = str(tmp_path / "c")
    assert cli.main(["certs", folder, "--host", "10.0.0.5"]) == 0
    out = capsys.readouterr().out
    assert "dask scheduler --protocol tls" in out and "tls://10.0.0.5:8786" in out
    assert cli.main(["certs", folder]) == 2  # never silently replaced


@pytest.mark.slow
def test_bngrade_grades_on_the_tls_cluster_and_needs_the_certificates(tls_cluster, tmp_path):
    from engine_tools import edited, environ_with_venv, make_course, source, submit

    folder, port = tls_cluster
    course = make_course(tmp_path / "course")
    right = source(course, "bn-mini")
    submit(course, "ann", "bn-mini", right)
    submit(course, "ben", "bn-mini", edited(right, "answer_forward", "x.var(axis=0)",
                                            "x.var(axis=0, ddof=1)"))
    cmd = [os.path.join(BIN, "bngrade"), "autograde", "bn-mini", "--course-dir", str(course),
           "--scheduler", f"tls://127.0.0.1:{port}", "--time-limit", "10", "--no-progress"]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                             env=environ_with_venv())
    assert refused.returncode != 0 and "--certs" in refused.stderr
    done = subprocess.run([*cmd, "--certs", folder], capture_output=True, text=True,
                          timeout=600, env=environ_with_venv())
    assert done.returncode == 0, done.stderr
    assert "| ann | 4 / 4 |" in done.stdout and "| ben | 1 / 4 |" in done.stdout
