"""The nbgrader source notebooks: fresh from their specs, valid metadata, points from bnlib."""

import subprocess
import sys

import nbformat
import pytest
from exercise_tools import ASSIGNMENTS, ROOT, meta, model_answers, notebook, source

from bnlib.checks import REGISTRY, parts_for

BUILT = [a for a in ASSIGNMENTS if (ROOT / "solutions" / a / f"{a}.ipynb").exists()]


def test_every_assignment_has_a_solution_notebook_and_parts():
    assert BUILT == [a for a in ASSIGNMENTS if parts_for(a)]
    assert {p.assignment for p in REGISTRY.values()} <= set(ASSIGNMENTS)


def test_solution_notebooks_are_fresh_from_their_specs():
    run = subprocess.run([sys.executable, str(ROOT / "solutions" / "build.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("assignment", BUILT)
def test_grade_ids_and_points_match_the_checkers(assignment):
    nb = notebook("solutions", assignment)
    graded = {meta(c)["grade_id"]: meta(c)["points"] for c in nb["cells"]
              if meta(c).get("grade") and not meta(c).get("solution")}
    assert graded == {p.grade_id: p.points for p in parts_for(assignment)}
    assert len(graded) >= 3, "several graded parts per assignment"
    manual = [meta(c)["grade_id"] for c in nb["cells"]
              if meta(c).get("grade") and meta(c).get("solution")]  # graded by hand
    assert not set(manual) & set(REGISTRY)


@pytest.mark.parametrize("assignment", BUILT)
def test_cells_are_well_formed_for_nbgrader(assignment):
    nb = notebook("solutions", assignment)
    nbformat.validate(nbformat.from_dict(nb))
    intro, first = nb["cells"][:2]
    assert intro["id"] == "install-intro" and intro["cell_type"] == "markdown" \
        and meta(intro)["locked"], "opens with the line that says what the install cell does"
    assert first["id"] == "install" and meta(first)["locked"], "then the install cell"
    statement = nb["cells"][2]
    assert statement["cell_type"] == "markdown" and meta(statement)["locked"], "then the task"
    last = nb["cells"][-1]
    assert last["id"] == "closing" and meta(last)["locked"], "ends with the closing cell"
    assert f'progress("{assignment}")' in source(last)
    ids = [meta(c)["grade_id"] for c in nb["cells"] if meta(c)]
    assert len(ids) == len(set(ids))
    for cell in nb["cells"]:
        m, text = meta(cell), source(cell)
        assert not cell.get("outputs") and cell.get("execution_count") is None
        if m.get("grade") and m.get("solution"):  # a manually graded answer, in words
            assert cell["cell_type"] == "markdown" and not m["locked"] and m["points"] > 0
            assert source(cell).startswith("*Model answer (for the instructor).*")
            continue
        if m.get("grade"):
            assert m["locked"] and not m["solution"] and cell["cell_type"] == "code"
            gid = m["grade_id"]
            assert f'check("{gid}", globals())' in text
            assert "### BEGIN HIDDEN TESTS" in text and "hidden=True, seed=" in text
        if m.get("solution"):
            assert text.count("### BEGIN SOLUTION") == text.count("### END SOLUTION") >= 1
        if m:
            assert m["schema_version"] == 3 and not m["task"]


def test_nbgrader_configuration():
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import Execute, GetGrades, OverwriteCells
    from traitlets.config import PyFileConfigLoader

    from bngrade.worker.feedback_page import PREPROCESSORS, FeedbackExporter

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert config.CourseDirectory.root == str(ROOT)
    assert Execute(config=config).timeout == 120
    assert OverwriteCells(config=config).add_missing_cells
    # generate_feedback renders as bngrade does (bngrade/worker/feedback_page.py): nbgrader's own
    # feedback preprocessors, in their order, with the course's redaction between them
    converter = GenerateFeedback(config=config)
    assert converter.preprocessors == PREPROCESSORS
    assert converter.exporter_class is FeedbackExporter
    assert [p for p in PREPROCESSORS if p in (GetGrades, CSSHTMLHeaderPreprocessor)] == \
        GenerateFeedback().preprocessors
    assert config.KernelManager.transport == "tcp"


def test_chapter_links_in_the_notebooks_point_at_the_published_site():
    import re

    import yaml

    base = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
    links = set()
    for nb in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        links |= set(re.findall(r"\]\((https?://[^)\s]+)\)", nb.read_text()))
    chapters = [u for u in links if "/chapters/" in u]
    assert len(chapters) >= 4  # chapters 2 to 5 have exercises
    for url in chapters:
        assert url.startswith(base), url
        page = url[len(base):].removesuffix(".html")
        assert (ROOT / f"{page}.md").is_file(), f"{url} names no chapter"


def test_no_answer_key_reaches_a_release():
    """A multiple-choice part's right letter and its explanations are grader material
    (bngrade.worker.keys): the release carries the question and its options only."""
    import json
    import re

    from bngrade.worker.keys import CHOICES
    from bnlib.checks.kinds import ChoicePart

    choice_parts = [p for p in REGISTRY.values() if isinstance(p, ChoicePart)]
    assert {p.grade_id for p in choice_parts} == set(CHOICES)
    assert any(p.assignment == "ps6-in-practice" for p in choice_parts)  # the ch. 6-7 quiz
    for part in choice_parts:
        right, explain = CHOICES[part.grade_id]
        solution = "".join(source(c) for c in notebook("solutions", part.assignment)["cells"])
        assert re.search(rf'{part.names[0]} = "{right}"', solution)  # the source has it
        release = notebook("exercises", part.assignment)
        text = json.dumps(release)
        assert part.question in "".join(source(c) for c in release["cells"])
        assert not re.search(rf"{part.names[0]}\s*=\s*[\"'][a-d]", text), part.grade_id
        assert not [why for why in explain.values() if why in text], part.grade_id


def test_model_answers_of_manually_graded_cells_stay_in_the_source():
    answers = model_answers()
    assert {gid for gid, _ in answers} >= {"ps6_read_training", "ps6_read_adabn"}
    release = notebook("exercises", "ps6-in-practice")
    manual = [c for c in release["cells"] if meta(c).get("grade") and meta(c).get("solution")]
    assert [source(c).strip() for c in manual] == ["YOUR ANSWER HERE"] * 2
    text = json_text(release)
    assert [sentence for _, sentence in answers if sentence in text] == []


def json_text(nb):
    import json

    return json.dumps(nb, ensure_ascii=False)
