"""A virtual environment under /tmp with the course installed the README's way for a worker."""

import pathlib
import shutil
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def site_packages(venv):
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
        "site-packages"


def installed_venv(root):
    """A venv under /tmp whose bnlib and bngrade are installed, not editable: the
    README's worker install. Third-party packages come from the course's environment
    through a ``.pth`` file (a full install would take minutes)."""
    assert str(root.resolve()).startswith("/tmp/")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages(venv) / "course-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (venv / "share").mkdir(exist_ok=True)  # nbconvert's templates, found under sys.prefix
    (venv / "share" / "jupyter").symlink_to(pathlib.Path(sys.prefix) / "share" / "jupyter")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("bnlib", "bngrade"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
                           str(src)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(src)
    python = venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import bnlib, bngrade; "
                            "print(bnlib.__file__); print(bngrade.__file__)"],
                           cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert all(w.startswith(str(site_packages(venv))) for w in where), where  # installed, in /tmp
    return venv
