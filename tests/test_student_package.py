"""The students' course package: what the wheel holds, that it installs alone, and
the install cell's behaviour when it cannot install.

The wheel is built here into a temporary folder (``make book`` publishes the same
bytes in ``_build/html/wheels/``).
"""

import json
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest
from exercise_tools import ASSIGNMENTS, ROOT, notebook, source

sys.path.insert(0, str(ROOT / "_ext"))
import student_package  # noqa: E402

# Material that must never reach a student's environment.
GRADER_ONLY = ("bngrade", "solutions", "tests", "exercises", "nbgrader_config")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return student_package.build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_bnlib_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    info = f"bn_first_principles-{student_package.version()}.dist-info"
    assert {n.split("/")[0] for n in names} == {"bnlib", info}
    assert not [n for n in names if any(part in GRADER_ONLY for part in n.split("/"))]
    assert not [n for n in names if n.endswith((".pyc", ".ipynb"))]
    shipped = {n for n in names if n.startswith("bnlib/")}
    assert shipped == {p.relative_to(ROOT).as_posix() for p in student_package.package_files()}
    assert "bnlib/checks/core.py" in shipped and "bnlib/course.mplstyle" in shipped


def test_the_wheel_holds_no_answer_key(wheel):
    """The quizzes' right letters and explanations, and ps5's worked values, are the
    grader's (bngrade.worker.keys): no file of the wheel holds them."""
    from bngrade.worker.keys import CHOICES

    with zipfile.ZipFile(wheel) as zf:
        text = "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
    explanations = [why for _, explain in CHOICES.values() for why in explain.values()]
    assert len(explanations) >= 3 * len(CHOICES) and any(g.startswith("ps6_q_") for g in CHOICES)
    assert [why for why in explanations if why in text] == []
    assert "CHOICES" not in text and "def install(" not in text
    for grade_id, (right, _) in CHOICES.items():  # no (grade id, right letter) pair either
        assert f'"{grade_id}": ("{right}"' not in text


def test_the_wheel_has_its_own_name_version_and_dependencies(wheel):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    meta = zipfile.ZipFile(wheel).read(
        f"bn_first_principles-{student_package.version()}.dist-info/METADATA").decode()
    assert "Name: bn-first-principles\n" in meta
    assert project["name"] != "bnlib" and "Name: bnlib\n" not in meta  # taken on the index
    assert f"Version: {student_package.version()}\n" in meta
    import bnlib

    assert student_package.version() == bnlib.__version__
    assert [line.split(": ", 1)[1] for line in meta.splitlines()
            if line.startswith("Requires-Dist")] == project["dependencies"]


def test_the_wheel_is_reproducible(wheel, tmp_path):
    again = student_package.build_wheel(tmp_path)
    assert again.read_bytes() == wheel.read_bytes()


def test_binder_pins_the_students_dependencies_as_the_lock_does():
    lock = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line)
    pins = dict(line.split("==") for line in (ROOT / "binder/requirements.txt").read_text()
                .splitlines() if "==" in line)
    deps = {re.split(r"[<>=!~ ]", d)[0] for d in
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert set(pins) == deps
    assert all(lock[name] == version for name, version in pins.items())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_opens_with_the_read_only_install_cell(assignment):
    intro, first = notebook("exercises", assignment)["cells"][:2]
    assert source(intro) == student_package.INSTALL_INTRO
    assert f"about {student_package.DOWNLOAD_MB} MB" in source(intro)
    assert first["cell_type"] == "code" and first["metadata"]["nbgrader"]["locked"]
    assert first["metadata"].get("editable") is False
    assert first["metadata"]["jupyter"]["source_hidden"], "its code is folded"
    assert source(first) == student_package.install_cell(re_baseurl())
    assert f"/{student_package.WHEELS}/{student_package.wheel_name()}" in source(first)


def re_baseurl():
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]


def run_install_cell(python, site, tmp_path):
    """Run the install cell as a script with ``python`` and the site ``site``."""
    script = tmp_path / "cell.py"
    script.write_text(student_package.install_cell(site))
    return subprocess.run([str(python), str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300,
                          env={"PATH": "/usr/bin:/bin", student_package.SITE_ENV: site})


@pytest.mark.slow
def test_offline_the_install_cell_says_what_to_do_in_one_sentence(tmp_path):
    # A venv without pip and without bnlib: the cell cannot install; it says how.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")],
                   check=True)
    run = run_install_cell(tmp_path / "env/bin/python", "http://127.0.0.1:9/", tmp_path)
    assert run.returncode != 0
    assert run.stdout.startswith("Installing the course package"), "it says it is installing"
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: The course package was not installed: ")
    assert "run this cell again, or run in a terminal: pip install " \
        "http://127.0.0.1:9/wheels/bn_first_principles-" in last
    assert "pip._vendor" not in run.stderr and " object at 0x" not in run.stderr


@pytest.mark.slow
def test_offline_the_install_cell_blames_the_connection_in_plain_words(tmp_path):
    # A venv with pip but no route to the site: one sentence, no pip internals.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "env")], check=True)
    run = run_install_cell(tmp_path / "env/bin/python", "http://127.0.0.1:9/", tmp_path)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: The course package was not installed: the course "
                           "site could not be reached (are you offline?). Connect to the "
                           "internet and run this cell again"), last
    assert "pip._vendor" not in run.stderr and " object at 0x" not in run.stderr


@pytest.mark.slow
def test_the_wheel_installs_and_imports_in_a_fresh_environment(wheel, tmp_path):
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pip = subprocess.run([str(env / "bin/python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr
    probe = ("import json, importlib.util, bnlib, bnlib.checks, bnlib.book, bnlib.symbolic; "
             "print(json.dumps({'version': bnlib.__version__, "
             "'bngrade': importlib.util.find_spec('bngrade') is not None, "
             "'file': bnlib.__file__, 'parts': len(bnlib.checks.REGISTRY)}))")
    run = subprocess.run([str(env / "bin/python"), "-c", probe], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout)
    assert facts["version"] == student_package.version() and not facts["bngrade"]
    assert str(env) in facts["file"] and facts["parts"] > 10
    scripts = {p.name for p in (env / "bin").iterdir()}
    assert "bngrade" not in scripts and "nbgrader" not in scripts  # no instructor tools
    # The install cell, in that environment, has nothing to do.
    cell = run_install_cell(env / "bin/python", "http://127.0.0.1:9/", tmp_path)
    assert cell.returncode == 0 and cell.stdout.strip() == \
        f"bnlib {student_package.version()} is ready."


def test_the_instructor_install_keeps_the_grading_engine():
    import importlib.metadata

    dist = importlib.metadata.distribution("bn-first-principles-instructor")
    assert dist.version == student_package.version()
    assert any(ep.name == "bngrade" for ep in dist.entry_points)


@pytest.mark.site
def test_site_publishes_the_wheel_at_its_versioned_url():
    from builtsite import built_site

    published = built_site() / student_package.WHEELS / student_package.wheel_name()
    assert published.is_file()
    with zipfile.ZipFile(published) as zf:
        assert not [n for n in zf.namelist() if n.startswith("bngrade")]
    assert student_package.wheel_url(re_baseurl()).endswith(
        f"/{student_package.WHEELS}/{published.name}")


def test_the_readme_gives_the_published_wheel():
    readme = (ROOT / "README.md").read_text()
    assert f"pip install jupyterlab {student_package.wheel_url(re_baseurl())}\n" in readme
    assert "pip install bnlib" not in readme


def test_the_hub_entry_appears_only_when_a_hub_is_configured():
    from types import SimpleNamespace

    import student_notebooks
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    buttons = dict(config["launch_buttons"])
    assert buttons["jupyterhub_url"] == ""  # as shipped: no hub, no placeholder

    def app(hub):
        opts = {"repository_url": config["repository"]["url"],
                "launch_buttons": {**buttons, "jupyterhub_url": hub}}
        return SimpleNamespace(config=SimpleNamespace(html_theme_options=opts,
                                                      notebooks_branch="notebooks"))

    path = "exercises/ps1-forward/ps1-forward.ipynb"
    assert [name for name, _ in student_notebooks.Launch(app("")).links(path)] == \
        ["Colab", "Binder"]
    links = dict(student_notebooks.Launch(app("https://hub.uni.test/")).links(path))
    assert links["JupyterHub"].startswith("https://hub.uni.test/hub/user-redirect/git-pull?")
    assert "branch=notebooks" in links["JupyterHub"]
    assert f"urlpath=notebooks/batchnorm-from-first-principles/{path}" in links["JupyterHub"]
