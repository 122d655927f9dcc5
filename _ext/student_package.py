"""The students' edition of the course package, and the cell that installs it.

Students install ``bnlib`` under the distribution name :data:`DIST` (the name
``bnlib`` on the public package index belongs to an unrelated project). The
wheel holds the ``bnlib`` package only: no grading engine, no grader-side
material. It is written here with :mod:`zipfile` (a wheel is a zip with a
``.dist-info`` folder), byte for byte the same on every build, so ``make book``
needs no build backend. The version and the dependencies come from
``pyproject.toml`` and ``bnlib.__version__`` (their one home).

:func:`install_cell` is the first, read-only cell of every exercise notebook
and of every chapter notebook students download: it makes the matching
version importable, installing the wheel from the published site if needed.

    python _ext/student_package.py DIR   # write the wheel into DIR, print its path
"""

import base64
import hashlib
import re
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = "bn-first-principles"
PACKAGE = "bnlib"
WHEELS = "wheels"  # the folder of the site the wheel is published in
SITE_ENV = "BN_COURSE_SITE"  # overrides the site's address (a mirror, a local copy)
EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: reproducible bytes


def version():
    """``bnlib.__version__``, read from the source (not from an installed copy)."""
    text = (ROOT / PACKAGE / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def wheel_name():
    return f"{DIST.replace('-', '_')}-{version()}-py3-none-any.whl"


def package_files():
    """The wheel's files: every file of the package (modules and data such as the
    Matplotlib style), without compiled caches."""
    return sorted(p for p in (ROOT / PACKAGE).rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = ["Metadata-Version: 2.1", f"Name: {DIST}", f"Version: {version()}",
             "Summary: The course package of 'Batch Normalization, from first principles' "
             "(students' edition: bnlib)",
             f"Requires-Python: {project['requires-python']}",
             f"License: {project['license']['text']}"]
    lines += [f"Requires-Dist: {dep}" for dep in project["dependencies"]]
    return "\n".join(lines) + "\n"


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(outdir):
    """Write the students' wheel into ``outdir``; return its path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    info = f"{DIST.replace('-', '_')}-{version()}.dist-info"
    entries = [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in package_files()]
    entries += [
        (f"{info}/METADATA", metadata().encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: _ext/student_package.py\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{info}/top_level.txt", f"{PACKAGE}\n".encode()),
    ]
    record = "\n".join([_record_line(n, d) for n, d in entries] + [f"{info}/RECORD,,"]) + "\n"
    entries.append((f"{info}/RECORD", record.encode()))
    path = outdir / wheel_name()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            item = zipfile.ZipInfo(name, EPOCH)
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            zf.writestr(item, data)
    return path


def wheel_url(site):
    """Where the wheel is published under the site's address ``site``."""
    return f"{site.rstrip('/')}/{WHEELS}/{wheel_name()}"


INSTALL_CELL = '''\
# Run this cell first: it makes the course package (bnlib {version}) importable,
# installing it from the course site if needed. It changes nothing else.
import importlib, os, subprocess, sys
BNLIB_VERSION = "{version}"
try:
    import bnlib
    _ready = getattr(bnlib, "__version__", None) == BNLIB_VERSION
except ImportError:
    _ready = False
if not _ready:
    _site = os.environ.get("{env}", "{site}").rstrip("/")
    _wheel = f"{{_site}}/{wheels}/{wheel}"
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _wheel],
                          capture_output=True, text=True)
    if _pip.returncode != 0:
        raise ImportError(f"Could not install the course package ({{_pip.stderr.strip()[-300:]}}): "
                          f"connect to the internet and run this cell again, or install it "
                          f"yourself with: pip install {{_wheel}}") from None
    importlib.invalidate_caches()
    if "bnlib" in sys.modules:
        raise ImportError("The course package was updated: restart the kernel "
                          "(Kernel > Restart), then run this cell again.")
    import bnlib
print(f"bnlib {{bnlib.__version__}} is ready.")'''


def install_cell(site):
    """The source of the install cell, for the site published at ``site``."""
    return INSTALL_CELL.format(version=version(), env=SITE_ENV, site=site.rstrip("/") + "/",
                               wheels=WHEELS, wheel=wheel_name())


if __name__ == "__main__":
    print(build_wheel(sys.argv[1] if len(sys.argv) > 1 else "."))
