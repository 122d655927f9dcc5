"""nbgrader end to end, in one temporary course directory.

One session fixture copies ``solutions/`` and ``nbgrader_config.py`` into a
temporary course and runs ``nbgrader generate_assignment``. It submits, for
every assignment, the solution, the untouched release and solutions with
injected mistakes (each mistake the issue names, once, and one more for ps4
and ps5, packed several per notebook, one per part; ``tests/test_checkers.py``
tests every mistake in-process), plus one solution with a test cell deleted.
Then it runs ``nbgrader autograde`` and ``nbgrader generate_feedback`` once
each over all of them. The tests read the scores through nbgrader's Gradebook
API and the feedback as HTML.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from exercise_tools import ASSIGNMENTS, ROOT, manual_points, meta, notebook, pack, source
from injections import GRADED
from nbgrader.api import Gradebook
from readable import html_outline, skipped_levels

from bngrade.worker import keys
from bnlib.checks import parts_for

BIN = Path(sys.executable).parent  # the venv's bin: nbgrader, and the alembic it calls
pytestmark = pytest.mark.slow
# Answer keys are grader material (bngrade.worker.keys), not in the package the notebooks import:
# stock nbgrader checks only their format; bngrade's tests cover those mistakes.
KEYED = set(keys.CHOICES) | set(keys.VALUES)
CHECKABLE = [i for i in GRADED if i.grade_id not in KEYED]


def nbgrader(course, *args):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.perf_counter()
    run = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=900)
    print(f"nbgrader {' '.join(args)}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def submit(course, student, assignment, nb):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))


def without_test_cell(nb, grade_id):
    nb = json.loads(json.dumps(nb))
    nb["cells"] = [c for c in nb["cells"] if meta(c).get("grade_id") != grade_id]
    return nb


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """The graded course: its folder, the students per assignment, and their diagnoses."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", "ps*")
    first = ASSIGNMENTS[0]
    submit(course, "deleted-test", first, without_test_cell(notebook("solutions", first),
                                                           parts_for(first)[0].grade_id))
    students = {}
    for assignment in ASSIGNMENTS:
        solution = notebook("solutions", assignment)
        submit(course, "solution", assignment, solution)
        submit(course, "release", assignment, notebook("exercises", assignment))
        mistakes = pack(solution, [i for i in CHECKABLE if i.assignment == assignment])
        for k, (nb, diagnoses) in enumerate(mistakes):
            submit(course, f"mistakes-{k}", assignment, nb)
            students[(f"mistakes-{k}", assignment)] = diagnoses
    nbgrader(course, "autograde", "ps*")
    nbgrader(course, "generate_feedback", "ps*")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {(s.student.id, s.assignment.name): (
            s.score, s.max_score, {g.name: g.score for nb in s.notebooks for g in nb.grades})
            for a in ASSIGNMENTS for s in gb.assignment_submissions(a)}
    return {"dir": course, "mistakes": students, "scores": scores}


def feedback(course, student, assignment):
    path = course["dir"] / "feedback" / student / assignment / f"{assignment}.html"
    return path.read_text()


def visible_text(page):
    """The words of an HTML page, tags and ANSI colours removed, whitespace collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def test_the_release_is_what_nbgrader_generates_from_the_solutions_now(course):
    for assignment in ASSIGNMENTS:
        name = f"{assignment}/{assignment}.ipynb"
        fresh = (course["dir"] / "exercises" / name).read_bytes()
        committed = (ROOT / "exercises" / name).read_bytes()
        assert normalised(committed) == normalised(fresh), (
            f"exercises/{name} is stale: run `nbgrader generate_assignment {assignment} "
            "--force` from the repository root")
    assert sorted(p.name for p in (ROOT / "exercises").iterdir()) == ASSIGNMENTS


def normalised(data):
    """The release's bytes; nbgrader writes nothing volatile here except line endings."""
    return data.replace(b"\r\n", b"\n").rstrip(b"\n")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solution_gets_full_marks(course, assignment):
    score, max_score, grades = course["scores"][("solution", assignment)]
    checked, manual = sum(p.points for p in parts_for(assignment)), manual_points(assignment)
    assert max_score == checked + sum(manual.values())
    assert score == checked, grades  # the manual grades wait for the instructor
    assert all(grades[gid] == 0 for gid in manual)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_untouched_release_gets_zero_and_is_graded(course, assignment):
    score, max_score, grades = course["scores"][("release", assignment)]
    assert score == 0 and max_score > 0
    assert set(grades) == {p.grade_id for p in parts_for(assignment)} | set(
        manual_points(assignment))


def test_a_deleted_test_cell_is_restored_and_graded(course):
    score, max_score, grades = course["scores"][("deleted-test", ASSIGNMENTS[0])]
    assert score == max_score and len(grades) == len(parts_for(ASSIGNMENTS[0])), grades


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_execute_top_to_bottom_in_a_fresh_kernel(course, assignment):
    # autograde ran the solution in a fresh kernel, every cell in order
    path = course["dir"] / "autograded" / "solution" / assignment / f"{assignment}.ipynb"
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors[0]


@pytest.mark.parametrize("injection", CHECKABLE, ids=lambda i: i.name)
def test_each_mistake_loses_its_points_and_the_feedback_names_it(course, injection):
    (student, _), diagnoses = next(
        (key, d) for key, d in course["mistakes"].items() if injection in d)
    _, _, grades = course["scores"][(student, injection.assignment)]
    assert grades[injection.grade_id] == 0
    page = visible_text(feedback(course, student, injection.assignment))
    assert " ".join(diagnoses[injection].split()) in page


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_says_each_failure_in_words_in_order_and_described(course, assignment):
    # Not only in red: every part that lost its points says "not passed" in words;
    # headings go down one level at a time; any image has a description.
    students = ["release", "solution"] + [s for s, a in course["mistakes"] if a == assignment]
    for student in students:
        page = feedback(course, student, assignment)
        text = visible_text(page)
        _, _, grades = course["scores"][(student, assignment)]
        for part in parts_for(assignment):
            said = f"{part.description}: not passed." in text
            assert said == (grades[part.grade_id] == 0), (student, part.grade_id)
        levels, images = html_outline(page)
        # nbgrader's title (h4) comes first; the notebook's own outline follows it
        assert not skipped_levels(levels[1:]), (student, levels)
        assert all(img.get("alt") for img in images), (student, images)


def solution_lines(assignment):
    """Lines only found inside the solution regions (long enough to be telling)."""
    inside_lines, outside_lines, inside = set(), [], False
    for cell in notebook("solutions", assignment)["cells"]:
        for line in source(cell).splitlines():
            if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside:
                inside_lines.add(line.strip())
            else:
                outside_lines.append(line)
    given = "\n".join(outside_lines)  # e.g. a recipe quoted in the statement
    return sorted(line for line in inside_lines if len(line) >= 12 and line not in given)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_and_feedback_hold_no_solution_and_no_hidden_test(course, assignment):
    release = "\n".join(source(c) for c in notebook("exercises", assignment)["cells"])
    untouched = visible_text(feedback(course, "release", assignment))
    assert len(solution_lines(assignment)) >= 3
    for text in (release, untouched):
        for line in solution_lines(assignment):
            assert line not in text
        assert "BEGIN SOLUTION" not in text
    students = ["solution", "release"] + [s for s, a in course["mistakes"] if a == assignment]
    for text in [release] + [feedback(course, s, assignment) for s in students]:
        for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "hidden=True"):
            assert marker not in text


def test_gradebook_points_match_the_checkers(course):
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gb:
        for assignment in ASSIGNMENTS:
            cells = gb.find_notebook(assignment, assignment).grade_cells
            assert {c.name: c.max_score for c in cells} == {
                p.grade_id: p.points for p in parts_for(assignment)} | manual_points(assignment)
