"""Build the nbgrader source notebooks from their readable specs.

    python solutions/build.py          # write solutions/<id>/<id>.ipynb for every spec
    python solutions/build.py --check  # exit 1 if a notebook differs from its spec

A spec, ``solutions/spec/<id>.md``, is a list of cells, each opened by a line

    +++ markdown locked        a read-only markdown cell (nbgrader "locked")
    +++ markdown               an ordinary markdown cell (students may edit it)
    +++ code locked            a read-only code cell
    +++ code                   an ordinary code cell (ungraded)
    +++ solution               an answer cell: ### BEGIN/END SOLUTION inside
    +++ test GRADE_ID SEED     an autograder test cell, written here
    +++ manual GRADE_ID POINTS a markdown answer graded by hand (nbgrader's "manually
                               graded answer"); its body is the model answer, which only
                               the source keeps (the release says YOUR ANSWER HERE)

In markdown, ``{{points:GRADE_ID}}`` becomes that part's points (a checker's or a
manual cell's), ``{{points}}`` the assignment's total (manual cells included),
``{{choices:GRADE_ID}}`` a multiple-choice question with its options, as its
checker words them, and
``{{formula:STEP}}`` the displayed formula of that step of the backward
derivation, typeset from ``bnlib.symbolic.general_steps`` (so a sign typo
cannot reach a notebook: the same expressions are checked against SymPy).

Every notebook opens with two read-only cells, not written in the spec: a line
saying what the next does, then the install cell, which makes the course
package importable, installing the students' wheel from the published site
(``html.baseurl`` of ``_config.yml``) when it is missing
(``_ext/student_package.py``). It ends with a read-only cell that says whether
every visible test has passed in this kernel and how to submit
(``bnlib.checks.progress``).

An optional ``id=NAME`` after the kind names the cell (its nbgrader grade_id);
otherwise ids are numbered. A test cell calls the shared checker
``bnlib.checks.check(GRADE_ID, globals())`` visibly and, hidden, on other cases
with ``seed=SEED``; its points are the checker part's, so the notebook and
``bnlib.checks`` cannot disagree. Then run ``nbgrader generate_assignment ID``
from the repository root to refresh ``exercises/`` (a test checks both).
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import yaml

from bnlib.checks import REGISTRY

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "_ext"))
import student_package  # noqa: E402

INSTALL_ID = "install"
INTRO_ID = "install-intro"
CLOSING_ID = "closing"
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE = {"name": "python", "pygments_lexer": "ipython3"}


def test_source(grade_id, seed):
    """The source of the autograder test cell of one part."""
    return "\n".join([
        "# Run this cell to test your answer (more tests run when it is graded).",
        "from bnlib.checks import check",
        "",
        f'check("{grade_id}", globals());',
        "### BEGIN HIDDEN TESTS",
        f'check("{grade_id}", globals(), hidden=True, seed={seed})',
        "### END HIDDEN TESTS",
    ])


def nbgrader_meta(grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def fill_points(text, assignment, manual=None):
    """Replace ``{{points:GRADE_ID}}`` and ``{{points}}`` (the total) with the checkers' points
    and those of the manual cells ``manual`` (``{grade_id: points}``)."""
    manual = manual or {}

    def fmt(p):
        return f"{p:g}"

    def points(grade_id):
        return manual[grade_id] if grade_id in manual else REGISTRY[grade_id].points

    total = sum(p.points for p in REGISTRY.values() if p.assignment == assignment) \
        + sum(manual.values())
    text = re.sub(r"\{\{points:(\w+)\}\} points",  # "1 point", "2 points"
                  lambda m: f"{fmt(points(m.group(1)))} point"
                  + ("" if points(m.group(1)) == 1 else "s"), text)
    text = re.sub(r"\{\{points:(\w+)\}\}", lambda m: fmt(points(m.group(1))), text)
    text = re.sub(r"\{\{choices:(\w+)\}\}", lambda m: render_choices(REGISTRY[m.group(1)]), text)
    text = re.sub(r"\{\{formula:(\w+)\}\}", lambda m: render_formula(m.group(1)), text)
    return text.replace("{{points}}", fmt(total))


FORMULA_LHS = {"dx": "x_{i}", "dvar": r"\sigma_B^2", "dmu": r"\mu_B", "dgamma": r"\gamma",
               "dbeta": r"\beta"}


def render_formula(step):
    """A displayed step of chapters/03-backward.md, typeset from bnlib.symbolic."""
    from bnlib import symbolic

    rhs = symbolic.display_latex(symbolic.general_steps()[step])
    lhs = rf"\frac{{\partial L}}{{\partial {FORMULA_LHS[step]}}}"
    return f"$${lhs} = {rhs}$$"


def render_choices(part):
    """A multiple-choice question as markdown: the question, then one line per option."""
    lines = [f"**{part.question}**", ""]
    lines += [f"- **({letter})** {text}" for letter, text in part.choices.items()]
    lines += ["", f"Set `{part.names[0]}` to the letter of your answer, e.g. "
              f'`{part.names[0]} = "a"`.']
    return "\n".join(lines)


def parse(text):
    """Split a spec into (header words, body) pairs."""
    cells, header, body = [], None, []
    for line in text.splitlines():
        if line.startswith("+++ "):
            if header is not None:
                cells.append((header, "\n".join(body).strip("\n")))
            header, body = line[4:].split(), []
        elif header is not None:
            body.append(line)
    if header is not None:
        cells.append((header, "\n".join(body).strip("\n")))
    return cells


def manual_points(cells):
    """``{grade_id: points}`` of a spec's manual cells."""
    return {words[1]: float(words[2]) for words, _ in cells if words[0] == "manual"}


def make_cell(words, body, number, assignment, manual=None):
    """One notebook cell from its header words and body."""
    kind, opts = words[0], [w for w in words[1:] if not w.startswith("id=")]
    names = [w[3:] for w in words[1:] if w.startswith("id=")]
    cell_id = names[0] if names else f"{assignment.split('-')[0]}-{kind}-{number}"
    if kind == "manual":
        grade_id, points = opts
        if grade_id in REGISTRY:
            raise ValueError(f"{grade_id} is a checker's part; a manual cell needs its own id")
        cell = nbformat.v4.new_markdown_cell(body)
        cell.metadata["nbgrader"] = nbgrader_meta(grade_id, solution=True, grade=True,
                                                  points=float(points))
        cell_id = grade_id
    elif kind == "test":
        grade_id, seed = opts
        part = REGISTRY[grade_id]
        if part.assignment != assignment:
            raise ValueError(f"{grade_id} belongs to {part.assignment}, not {assignment}")
        cell = nbformat.v4.new_code_cell(test_source(grade_id, int(seed)))
        cell.metadata["nbgrader"] = nbgrader_meta(grade_id, grade=True, locked=True,
                                                  points=part.points)
        cell_id = grade_id
    elif kind in ("markdown", "code", "solution"):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(fill_points(body, assignment, manual) if kind == "markdown" else body)
        if kind == "solution":
            cell.metadata["nbgrader"] = nbgrader_meta(cell_id, solution=True)
        elif "locked" in opts:
            cell.metadata["nbgrader"] = nbgrader_meta(cell_id, locked=True)
    else:
        raise ValueError(f"unknown cell kind {kind!r}")
    cell["id"] = cell_id
    return cell


def site_url():
    """The published book's address (``html.baseurl`` in ``_config.yml``)."""
    return yaml.safe_load((HERE.parent / "_config.yml").read_text())["html"]["baseurl"]


def install_cells():
    """The first cells: what the install cell does, then the read-only install cell."""
    cells = student_package.install_cells(site_url(), INTRO_ID, INSTALL_ID)
    for cell in cells:
        cell.metadata["nbgrader"] = nbgrader_meta(cell["id"], locked=True)
    return cells


def closing_cell(assignment):
    """The last cell: says whether every visible test passed in this kernel, and how to submit."""
    cell = nbformat.v4.new_code_cell("\n".join([
        "# Run this cell last: it says whether every visible test above has passed,",
        "# and how to submit.",
        "from bnlib.checks import progress",
        "",
        f'progress("{assignment}");']))
    cell.metadata["nbgrader"] = nbgrader_meta(CLOSING_ID, locked=True)
    cell.metadata.update(editable=False, deletable=False)
    cell["id"] = CLOSING_ID
    return cell


def build(spec_path):
    """The notebook a spec describes, after the install cell."""
    assignment = spec_path.stem
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(kernelspec=KERNEL, language_info=LANGUAGE)
    cells = parse(spec_path.read_text())
    manual = manual_points(cells)
    nb.cells = install_cells() + [make_cell(words, body, i, assignment, manual)
                                  for i, (words, body) in enumerate(cells, 1)] \
        + [closing_cell(assignment)]
    ids = [c["id"] for c in nb.cells]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{spec_path.name}: duplicate cell ids")
    nbformat.validate(nb)
    return nb


def render(nb):
    """The notebook's JSON text, formatted as Jupyter writes it."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def specs():
    return sorted((HERE / "spec").glob("*.md"))


def main(argv):
    stale = []
    for spec in specs():
        target = HERE / spec.stem / f"{spec.stem}.ipynb"
        text = render(build(spec))
        if "--check" in argv:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
        else:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
    if stale:
        print("stale (run python solutions/build.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
