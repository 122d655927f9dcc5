"""``docs/running-a-term.md``: every command of the term guide runs as printed, in order.

The guide's fenced ``bash`` blocks are read from the file (so the test follows the guide,
never a copy of it) and run one by one in a scratch course, as an instructor would: from
the course root, the venv first on ``PATH``, with the small test assignment ``bn-mini`` in
place of ``ps1-forward``, and the LMS downloads the guide names (``downloads.zip``, a Canvas
zip with a late submission and ``roster.csv``, Canvas's gradebook export) made first. Between
grading and the manual-grading step a manual grade is given, as the formgrader would. The
commands that need GitHub, a network or the whole book are named in :data:`ELSEWHERE` with
where they are tested; every other command must succeed, and the results must be what the
guide says.
"""

import csv
import pathlib
import re
import subprocess
import sys
import zipfile

import nbformat
import pytest
from engine_tools import ROOT, edited, environ_with_venv, make_course, source
from nbgrader.api import Gradebook

pytestmark = pytest.mark.slow
GUIDE = ROOT / "docs" / "running-a-term.md"
# not run here: (start of the command, why)
ELSEWHERE = {
    "git clone": "needs GitHub",
    "cd batchnorm-from-first-principles": "the clone's folder",
    "make book": "the site's build (make test builds it)",
    "python solutions/build.py": "rewrites the repository's sources (test_exercise_notebooks "
                                 "checks the release is fresh)",
}


def guide_commands():
    """The commands of the guide's ``bash`` blocks, in order (continuations joined)."""
    text = GUIDE.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_the_guide_covers_every_step_with_a_command():
    text = GUIDE.read_text(encoding="utf-8")
    steps = re.findall(r"^## \d+\. (.+)$", text, flags=re.M)
    assert steps == ["Fork the course and publish the site", "Create the assignment in the LMS",
                     "Release", "Collect the submissions", "Grade", "Review the class",
                     "Manual grading", "Grades back to the LMS", "Feedback back to the LMS",
                     "Regrade requests"]
    commands = guide_commands()
    for needed in ("bngrade autograde ps1-forward --zip", "bngrade review ps1-forward",
                   "bngrade verify", "bngrade export", "bngrade bundle",
                   "bngrade autograde ps1-forward --student"):
        assert any(needed in c for c in commands), needed


def downloads(course):
    """What the guide's step 4 downloads: the Canvas zip and the class list."""
    right = source(course, "bn-mini")
    wrong = edited(right, "answer_forward", "x.var(axis=0)", "x.var(axis=0, ddof=1)")
    with zipfile.ZipFile(course / "downloads.zip", "w") as zf:
        zf.writestr("kimhana_4410_9921_bn-mini.ipynb", nbformat.writes(right))
        zf.writestr("leeann_late_4411_9925_bn-mini.ipynb", nbformat.writes(wrong))
    (course / "roster.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        "\"Kim, Hana\",4410,S1,hana,A\n"
        "\"Lee, Ann\",4411,S2,ann,A\n"
        "\"Ng, Zoe\",4412,S3,zoe,B\n", encoding="utf-8")


def test_every_command_of_the_guide_runs_as_printed(tmp_path):
    course = make_course(tmp_path / "course")
    downloads(course)
    venv_bin = str(pathlib.Path(sys.executable).parent)
    has_review = subprocess.run([sys.executable, "-m", "bngrade", "review", "--help"],
                                capture_output=True, env=environ_with_venv()).returncode == 0
    ran, outputs = [], {}
    for command in guide_commands():
        if any(command.startswith(skip) for skip in ELSEWHERE):
            continue
        if " review " in f" {command} " and not has_review:
            continue  # `bngrade review` lands with the class review (issue 19, item 1)
        if command.startswith(".venv/bin/bngrade summary") and not ran_manual(ran):
            give_manual_grade(course)
            ran.append("manual grade")
        cmd = command.replace("ps1-forward", "bn-mini").replace(".venv/bin/", venv_bin + "/")
        cmd = cmd.replace('export PATH="$PWD/.venv/bin:$PATH"', f'export PATH="{venv_bin}:$PATH"')
        done = subprocess.run(["bash", "-c", cmd], cwd=course, env=environ_with_venv(),
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
        ran.append(command)
        outputs[command] = done
    assert len(ran) >= 12
    # what the guide says the commands did
    canvas = {r["SIS Login ID"]: r for r in csv.DictReader(open(course / "canvas-grades.csv"))}
    assert canvas["hana"]["ID"] == "4410" and canvas["ann"]["ID"] == "4411"
    full = float(canvas[""]["bn-mini (8812)"])  # the "Points Possible" row
    assert float(canvas["hana"]["bn-mini (8812)"]) == full
    # ann: late (marked by Canvas, one day), 10 % per day, and her manual grade counted
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("bn-mini", "ann")
        raw, penalty = sub.score, sub.late_submission_penalty
    assert penalty == pytest.approx(0.1 * full)
    assert float(canvas["ann"]["bn-mini (8812)"]) == pytest.approx(raw - penalty)
    verify = next(d for c, d in outputs.items() if "verify" in c)
    assert "ann ps1_train_forward" in verify.stdout  # the manual grade, listed
    assert sorted(zipfile.ZipFile(course / "canvas-feedback.zip").namelist()) == [
        "kimhana_4410_9921_bn-mini-feedback.html", "leeann_4411_9925_bn-mini-feedback.html"]


def ran_manual(ran):
    return "manual grade" in ran


def give_manual_grade(course):
    """What the formgrader does when the instructor changes a score."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        g = gb.find_grade("ps1_train_forward", "bn-mini", "bn-mini", "ann")
        g.manual_score = 2.5
        gb.db.commit()
