"""A student's journey, end to end, from the built site to a running exercise.

The built site is served on 127.0.0.1. A fresh virtual environment holds only a
kernel (ipykernel) and nbclient, no course package. Each exercise is
downloaded through the link on its chapter page, the solution's answers are
filled in, and the notebook runs in that environment: its first cell installs
the course package from the served site, and every visible check passes.
Then each common mistake is injected and the test cell's message must name
it; each chapter's downloaded notebook must run there too. The timings
(download to first check passing) go to ``tests/artifacts/journey.json``.
"""

import copy
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from builtsite import ARTIFACTS, LocalServer, QuietHandler, built_site
from exercise_tools import ASSIGNMENTS, ROOT, inject, meta, notebook, source
from injections import ALL

from bnlib.checks import REGISTRY

sys.path.insert(0, str(ROOT / "_ext"))
import student_package  # noqa: E402

pytestmark = pytest.mark.slow

# The page that offers each exercise (its {notebook}`ID` line).
CHAPTER_OF = {m: f"chapters/{md.stem}" for md in sorted((ROOT / "chapters").glob("*.md"))
              for m in re.findall(r"\{notebook\}`([\w-]+)`", md.read_text())}
# The common mistakes of the issue, each injected into a filled-in notebook.
COMMON = [
    ("ps1_train_forward", "gamma_beta_missing"), ("ps1_train_forward", "beta_missing"),
    ("ps1_train_forward", "whole_array"), ("ps1_train_forward", "sqrt_missing"),
    ("ps1_train_forward", "raised"),
    ("ps2_staged_backward", "m_minus_one"), ("ps2_compact_backward", "m_minus_one"),
    ("ps2_staged_backward", "tuple_order"), ("ps2_compact_backward", "tuple_order"),
    ("ps2_staged_backward", "only_dx"), ("ps2_rel_error", "zero_not_guarded"),
    ("ps3_batchnorm1d", "no_return_self"),
    ("ps6_spatial_backward", "stats_as_constants"), ("ps6_fold_conv", "eps_missing"),
    ("ps6_groupnorm_forward", "batch_statistics"), ("ps6_adabn", "old_statistics_upstream"),
]
LOCK = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line)

# Run inside the fresh environment: execute a notebook, keep going after errors.
DRIVER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=sys.argv[3] == "1",
               resources={"metadata": {"path": sys.argv[4]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


class RecordingHandler(QuietHandler):
    requested = []

    def do_GET(self):
        RecordingHandler.requested.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def site():
    server = LocalServer(built_site())
    server.httpd.RequestHandlerClass = lambda *a, **k: RecordingHandler(
        *a, directory=str(built_site()), **k)
    with server:
        yield server


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A virtual environment with a kernel and nbclient only (versions of the lock)."""
    home = tmp_path_factory.mktemp("student")
    env = home / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pins = [f"{name}=={LOCK[name]}" for name in ("ipykernel", "nbclient")]
    run = subprocess.run([str(env / "bin/python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", *pins],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    probe = subprocess.run([str(env / "bin/python"), "-c", "import bnlib"], cwd=home,
                           capture_output=True, text=True)
    assert probe.returncode != 0, "the fresh environment already has bnlib"
    (home / "work").mkdir()
    (home / "driver.py").write_text(DRIVER)
    return home


def execute(fresh, site, nb, name, allow_errors=True):
    """Run ``nb`` in the fresh environment (cwd: an empty folder); return it executed."""
    src, out = fresh / "work" / f"{name}.ipynb", fresh / "work" / f"{name}.out.ipynb"
    src.write_text(json.dumps(nb))
    env = {"PATH": f"{fresh / 'env/bin'}:/usr/bin:/bin", "HOME": str(fresh),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           student_package.SITE_ENV: site.url}
    run = subprocess.run([str(fresh / "env/bin/python"), str(fresh / "driver.py"), str(src),
                          str(out), "1" if allow_errors else "0", str(fresh / "work")],
                         capture_output=True, text=True, env=env, cwd=fresh / "work",
                         timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())


def download(site, href_pattern, page):
    """Fetch ``page`` from the site, follow the link matching ``href_pattern``."""
    html = urllib.request.urlopen(site.url + page + ".html").read().decode()
    hrefs = sorted(set(re.findall(r'href="([^"]*' + href_pattern + ')"', html)))
    assert len(hrefs) == 1, hrefs
    url = urllib.parse.urljoin(site.url + page + ".html", hrefs[0])
    return json.loads(urllib.request.urlopen(url).read())


def filled(release, assignment):
    """The release with the solution's answers typed into its answer cells."""
    answers = {meta(c)["grade_id"]: source(c) for c in notebook("solutions", assignment)["cells"]
               if meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        if meta(cell).get("solution"):
            cell["source"] = answers[meta(cell)["grade_id"]]
    return nb


def text_of(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
        elif "text/plain" in out.get("data", {}):
            parts.append("".join(out["data"]["text/plain"]))
    return "\n".join(parts)


def graded_cells(nb):
    """The test cells (not the answers graded by hand, which have no output)."""
    return [c for c in nb["cells"] if meta(c).get("grade") and not meta(c).get("solution")]


def stamp(cell):
    return dt.datetime.fromisoformat(cell["metadata"]["execution"]["shell.execute_reply"]
                                     .replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def journeys(fresh, site):
    """Each exercise downloaded from its chapter, filled in and run: {assignment: facts}."""
    assert sorted(CHAPTER_OF) == sorted(ASSIGNMENTS)
    facts = {}
    for assignment in ASSIGNMENTS:
        start = time.time()
        release = download(site, rf"_downloads/[0-9a-f]+/{assignment}\.ipynb",
                           CHAPTER_OF[assignment])
        fetched = time.time()
        done = execute(fresh, site, filled(release, assignment), assignment)
        tests = graded_cells(done)
        facts[assignment] = {"release": release, "executed": done,
                             "download_s": fetched - start,
                             "to_first_check_s": stamp(tests[0]) - start,
                             "whole_notebook_s": stamp([c for c in done["cells"]
                                                        if c["cell_type"] == "code"][-1]) - start}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "journey.json").write_text(json.dumps(
        {a: {k: round(v, 2) for k, v in f.items() if k.endswith("_s")}
         for a, f in facts.items()}, indent=1))
    return facts


def test_the_first_cell_installs_the_package_from_the_site(journeys, fresh):
    wheel = f"/{student_package.WHEELS}/{student_package.wheel_name()}"
    assert wheel in RecordingHandler.requested
    first = next(c for c in journeys[ASSIGNMENTS[0]]["executed"]["cells"]
                 if c.get("id") == "install")
    said = text_of(first).strip().splitlines()
    assert said[0].startswith("Installing the course package"), "it says it is downloading"
    assert said[-2:] == ["Installed.", f"bnlib {student_package.version()} is ready."]
    show = subprocess.run([str(fresh / "env/bin/python"), "-m", "pip", "show",
                           "bn-first-principles"], capture_output=True, text=True)
    assert f"Version: {student_package.version()}" in show.stdout
    no_tools = [n for n in ("bngrade", "nbgrader") if (fresh / "env/bin" / n).exists()]
    assert no_tools == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_visible_check_passes_with_the_solutions_answers(assignment, journeys):
    done = journeys[assignment]["executed"]
    errors = [text_of(c) for c in done["cells"] if any(
        o["output_type"] == "error" for o in c.get("outputs", []))]
    assert errors == []
    for cell in graded_cells(done):
        lines = text_of(cell).strip().splitlines()
        assert len(lines) == 1 and "Outcome(" not in lines[0], lines  # one line per check
    closing = text_of(done["cells"][-1])
    assert closing.startswith("All ") and "visible tests pass. Save the notebook" in closing


@pytest.mark.parametrize("grade_id,mistake", COMMON, ids=[f"{g}-{m}" for g, m in COMMON])
def test_each_common_mistake_is_named_in_the_notebook(grade_id, mistake, journeys, fresh, site):
    part = REGISTRY[grade_id]
    injection = next(i for i in ALL if (i.grade_id, i.mistake) == (grade_id, mistake))
    nb = inject(filled(journeys[part.assignment]["release"], part.assignment), injection.edits)
    done = execute(fresh, site, nb, injection.name)
    cell = next(c for c in graded_cells(done) if meta(c)["grade_id"] == grade_id)
    message = text_of(cell)
    assert "MistakeFound: " in message, message
    closing = text_of(done["cells"][-1])
    assert closing.startswith("Not yet: ") and part.description in closing, closing
    known = [m.message for m in part.mistakes if m.id == mistake]
    if known:
        assert known[0] in message
    elif mistake == "raised":
        assert "line " in message and "beta[:, 0]" in message
    else:
        assert mistake == "no_return_self" and "return self" in message


@pytest.mark.parametrize("chapter", sorted(p.stem for p in (ROOT / "chapters").glob("0*.md")))
def test_each_downloaded_chapter_runs_in_the_fresh_environment(chapter, journeys, fresh, site):
    nb = download(site, rf"_sources/chapters/{chapter}\.ipynb", f"chapters/{chapter}")
    for cell in nb["cells"]:  # run it as a student would get it: no outputs
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    done = execute(fresh, site, nb, chapter, allow_errors=False)
    install = next(c for c in done["cells"] if c.get("id") == "install-course-package")
    assert text_of(install).strip().endswith("is ready.")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab (the course environment's) serving an empty folder on 127.0.0.1."""
    import socket

    root = tmp_path_factory.mktemp("lab")
    # Every cell rendered at once (JupyterLab 4 otherwise renders only those in view).
    settings = root / ".jc/lab/user-settings/@jupyterlab/notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = root / ".jc/lab/user-settings/@jupyterlab/apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root,
        env={**os.environ, "HOME": str(root), "JUPYTER_CONFIG_DIR": str(root / ".jc")})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and lab.poll() is None:
        try:
            urllib.request.urlopen(url + "api/status", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        lab.kill()
        raise AssertionError("JupyterLab did not start: " + lab.stderr.read().decode()[-2000:])
    yield root, url
    lab.terminate()
    lab.wait(timeout=30)


def test_a_downloaded_chapter_reads_right_in_jupyterlab(site, jupyterlab, browser):
    """Chapter 4 as a student opens it in JupyterLab: the numbers in its text, no MyST,
    each solution folded until clicked."""
    from builtsite import DESKTOP

    chapter = "04-train-vs-inference"
    nb = download(site, rf"_sources/chapters/{chapter}\.ipynb", f"chapters/{chapter}")
    root, url = jupyterlab
    (root / f"{chapter}.ipynb").write_text(json.dumps(nb))
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(f"{url}lab/tree/{chapter}.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-RenderedMarkdown", timeout=120_000)
    page.wait_for_timeout(3000)  # MathJax typesets after the first paint
    text = page.inner_text(".jp-Notebook")
    for residue in ("{glue", "```{", ":class:", ":label:", "{doc}", "{notebook}"):
        assert residue not in text, residue
    sys.path.insert(0, str(ROOT / "_ext"))
    import plain_notebooks

    glued = plain_notebooks.stored_glue(built_site().parent / "jupyter_execute" / "chapters"
                                        / f"{chapter}.glue.json")
    keys = re.findall(r"\{glue:text\}`([^`]+)`", (ROOT / "chapters" / f"{chapter}.md").read_text())
    shown = [plain_notebooks.format_plain_text(glued[k.rsplit(":", 1)[0]]["text/plain"],
                                                k.rsplit(":", 1)[1] if ":" in k else "")
             for k in keys[:10]]
    assert all(value in text for value in shown), (shown, text[:2000])
    summaries = page.locator(".jp-RenderedMarkdown details > summary")
    assert summaries.count() >= 1, "its solutions are folded blocks"
    assert page.locator(".jp-RenderedMarkdown details[open]").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    first = page.locator(".jp-RenderedMarkdown details").first
    first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-chapter-folded.png"))
    summaries.first.click()
    assert page.locator(".jp-RenderedMarkdown details[open]").count() == 1
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-chapter-solution-open.png"))
    page.locator(".jp-RenderedMarkdown").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-chapter-top.png"))
    page.context.close()
