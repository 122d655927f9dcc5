"""The students' edition of the course package, and the cell that installs it.

Students install ``bnlib`` under the distribution name :data:`DIST` (the name
``bnlib`` on the public package index belongs to an unrelated project). The
wheel holds the ``bnlib`` package only: no grading engine, no grader-side
material. It is written here with :mod:`zipfile` (a wheel is a zip with a
``.dist-info`` folder), byte for byte the same on every build, so ``make book``
needs no build backend. The version and the dependencies come from
``pyproject.toml`` and ``bnlib.__version__`` (their one home).

:func:`install_cell` is the first, read-only code cell of every exercise
notebook and of every chapter notebook students download, under a line that
says what it does and how much it downloads (:data:`INSTALL_INTRO`): it makes
the matching version importable, installing the wheel from the published site
if needed, says when it starts downloading and when it is done, and when the
site cannot be reached says so in one sentence with the command to run.

    python _ext/student_package.py DIR        # write the wheel into DIR, print its path
    python _ext/student_package.py --measure  # what the install cell downloads, in MB
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


# What the install cell downloads the first time, in MB: the wheels of the
# package's dependencies (numpy, SciPy, scikit-learn, Matplotlib, SymPy and what
# they pull in), 96 MB measured for Python 3.11 on Linux on 2026-12-07 with
#   pip download -d DIR "numpy>=1.26" "sympy>=1.12" "matplotlib>=3.7" "scikit-learn>=1.3"
# (``python _ext/student_package.py --measure`` repeats it), rounded.
DOWNLOAD_MB = 100

INSTALL_INTRO = (
    "**Run the next cell first** (Shift+Enter). It makes the course package `bnlib` "
    "importable. The first time, it downloads it with numpy, SciPy, scikit-learn, "
    f"Matplotlib and SymPy (about {DOWNLOAD_MB} MB, a few minutes on a slow connection); "
    "after that it takes a second.")

# Words in pip's error output that mean the site could not be reached.
OFFLINE_WORDS = ("NewConnectionError", "Name or service not known", "Temporary failure",
                 "Network is unreachable", "No route to host", "Connection refused",
                 "Max retries exceeded", "Failed to establish", "nodename nor servname")

INSTALL_CELL = '''\
#@title Run this cell first: it installs the course package (bnlib {version})
# It makes the course package importable, installing it from the course site
# if needed. It changes nothing else.
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
    print(f"Installing the course package bnlib {{BNLIB_VERSION}} and what it needs "
          f"(about {mb} MB the first time)...", flush=True)
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _wheel],
                          capture_output=True, text=True)
    if _pip.returncode != 0:
        if any(w in _pip.stderr for w in {offline!r}):
            _why = "the course site could not be reached (are you offline?)"
        else:
            _why = ([ln for ln in _pip.stderr.splitlines() if ln.startswith("ERROR")]
                    or ["pip failed"])[-1]
        raise ImportError(f"The course package was not installed: {{_why}}. Connect to the "
                          f"internet and run this cell again, or run in a terminal: "
                          f"pip install {{_wheel}}") from None
    importlib.invalidate_caches()
    if "bnlib" in sys.modules:
        raise ImportError("The course package was updated: restart the kernel "
                          "(Kernel > Restart), then run this cell again.")
    import bnlib
    print("Installed.")
print(f"bnlib {{bnlib.__version__}} is ready.")'''


def install_cell(site):
    """The source of the install cell, for the site published at ``site``."""
    return INSTALL_CELL.format(version=version(), env=SITE_ENV, site=site.rstrip("/") + "/",
                               wheels=WHEELS, wheel=wheel_name(), mb=DOWNLOAD_MB,
                               offline=OFFLINE_WORDS)


def install_cells(site, intro_id, code_id):
    """The notebook's first two cells: the line that says what the install cell does
    (:data:`INSTALL_INTRO`), then the install cell, read-only, its code folded."""
    import nbformat

    intro = nbformat.v4.new_markdown_cell(INSTALL_INTRO)
    code = nbformat.v4.new_code_cell(install_cell(site))
    for cell, ident in ((intro, intro_id), (code, code_id)):
        cell["id"] = ident
        cell.metadata.update(editable=False, deletable=False)
    code.metadata["jupyter"] = {"source_hidden": True}  # JupyterLab, Notebook 7
    code.metadata["cellView"] = "form"  # Colab: the #@title line, code folded
    return [intro, code]


def measure_download_mb():
    """MB of the wheels pip downloads for the package's dependencies (needs the index)."""
    import subprocess
    import tempfile

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "-d", tmp, *deps],
                       check=True)
        return sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(f"{measure_download_mb():.0f} MB (DOWNLOAD_MB = {DOWNLOAD_MB})")
    else:
        print(build_wheel(sys.argv[1] if len(sys.argv) > 1 else "."))
