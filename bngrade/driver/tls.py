"""A cluster no answer can reach: TLS with mutual authentication for every Dask connection.

``bngrade certs DIR`` makes a private certificate authority for the course's
cluster and one certificate per role, signed by it:

    DIR/ca.pem                      the authority's certificate (every machine)
    DIR/ca-key.pem                  its private key (keep it on the driver; it signs new certs)
    DIR/scheduler.pem, scheduler-key.pem
    DIR/worker.pem, worker-key.pem
    DIR/client.pem, client-key.pem  the driver's (``bngrade autograde --certs DIR``)

Keys are ECDSA P-256, files 0600 in a 0700 folder. Every connection then
requires a certificate signed by that authority on *both* sides (Dask's
``Security`` sets ``CERT_REQUIRED`` for servers and clients) and refuses
plain TCP (``require_encryption=True``): a process without a certificate,
a student's answer included, cannot talk to the scheduler or a worker.
Dask does not check host names (a dedicated authority is what is trusted),
the names and addresses given are still written in the certificates.

Public functions
----------------
``make_certs(folder, hosts=("127.0.0.1", "localhost"), days=365, force=False) -> {name: path}``
    Write the authority and the three role certificates; ``FileExistsError``
    when some exist (unless ``force``).
``files(folder, role) -> (cert, key)``
    The paths of a role's certificate and key (``role`` in ``ROLES``).
``security(folder, role="client") -> distributed.Security``
    Mutual TLS with the folder's authority and the role's certificate;
    ``ValueError`` naming the missing file.
``cluster_security(folder) -> distributed.Security``
    Mutual TLS with every role's certificate of the folder: what a cluster
    manager that starts the scheduler and the workers itself needs
    (``dask_jobqueue.SLURMCluster(security=...)``, README).
``for_scheduler(address, folder) -> Security | None``
    What the driver connects to ``address`` with: ``security(folder)`` for a
    ``tls://`` scheduler, ``None`` without a scheduler or ``folder``;
    ``ValueError`` when one is given without the other (a ``tls://`` address
    without certificates, certificates for a ``tcp://`` address).
``commands(folder, scheduler_host, port=8786) -> [str]``
    The ``dask scheduler`` / ``dask worker`` command lines that use the folder.
"""

import datetime
import ipaddress
import os
import shlex

ROLES = ("scheduler", "worker", "client")
CA, CA_KEY = "ca.pem", "ca-key.pem"


def files(folder, role):
    """``(certificate, key)`` paths of ``role`` in ``folder``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return os.path.join(folder, f"{role}.pem"), os.path.join(folder, f"{role}-key.pem")


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _san(hosts):
    from cryptography import x509

    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_certs(folder, hosts=("127.0.0.1", "localhost"), days=365, force=False):
    """Create the authority and the role certificates in ``folder``; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    out = {"ca": os.path.join(folder, CA), "ca-key": os.path.join(folder, CA_KEY)}
    for role in ROLES:
        out[role], out[f"{role}-key"] = files(folder, role)
    present = [p for p in out.values() if os.path.exists(p)]
    if present and not force:
        raise FileExistsError(f"{', '.join(present)} exist already: pass --force to replace "
                              "them (every machine then needs the new files)")
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bngrade cluster authority")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(until)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                            crl_sign=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    _write(out["ca-key"], pem_key(ca_key))
    _write(out["ca"], ca_cert.public_bytes(serialization.Encoding.PEM))
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            f"bngrade {role}")]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(_san(hosts), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write(out[f"{role}-key"], pem_key(key))
        _write(out[role], cert.public_bytes(serialization.Encoding.PEM))
    return out


def security(folder, role="client"):
    """``distributed.Security`` with mutual TLS for ``role``, plain TCP refused."""
    return _security(folder, (role,))


def cluster_security(folder):
    """``distributed.Security`` with the scheduler's, the workers' and the client's files."""
    return _security(folder, ROLES)


def _security(folder, roles):
    from distributed import Security

    ca, extra = os.path.join(folder, CA), {}
    for role in roles:
        cert, key = files(folder, role)
        for path in (ca, cert, key):
            if not os.path.isfile(path):
                raise ValueError(f"{path} is missing: make the cluster's certificates with "
                                 f"`bngrade certs {folder}` and copy them to every machine")
        extra.update({f"tls_{role}_cert": cert, f"tls_{role}_key": key})
    return Security(require_encryption=True, tls_ca_file=ca, **extra)


def for_scheduler(address, folder):
    """The driver's ``Security`` for the scheduler at ``address`` (see the module doc)."""
    if not address:
        if folder:
            raise ValueError("--certs is for a Dask cluster: give its --scheduler tls://...")
        return None
    if address.startswith("tls://") and not folder:
        raise ValueError(f"{address} is a TLS scheduler: give the folder of the cluster's "
                         "certificates with --certs DIR (made by `bngrade certs DIR`)")
    if folder and not address.startswith("tls://"):
        raise ValueError(f"with --certs the scheduler address must be tls://..., got {address}")
    return security(folder, "client") if folder else None


def commands(folder, scheduler_host, port=8786):
    """The Dask command lines of a TLS cluster whose certificates are in ``folder``."""
    def tls(role):
        cert, key = files(folder, role)
        return (f"--tls-ca-file {shlex.quote(os.path.join(folder, CA))} "
                f"--tls-cert {shlex.quote(cert)} --tls-key {shlex.quote(key)}")

    address = f"tls://{scheduler_host}:{port}"
    return [f".venv/bin/dask scheduler --protocol tls --port {port} {tls('scheduler')}",
            f".venv/bin/dask worker {address} --nthreads 1 --nworkers 8 {tls('worker')}",
            f".venv/bin/bngrade autograde ASSIGNMENT --scheduler {address} "
            f"--certs {shlex.quote(folder)}"]
