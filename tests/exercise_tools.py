"""Helpers for the exercise tests: read the notebooks, inject mistakes, run checkers."""

import copy
import json
import linecache
import pathlib
import re
import warnings

from bnlib.checks import REGISTRY

ROOT = pathlib.Path(__file__).resolve().parents[1]
ASSIGNMENTS = ["ps1-forward", "ps2-backward", "ps3-inference", "ps4-conv-and-folding",
               "ps5-concepts", "ps6-in-practice"]


def notebook(kind, assignment):
    """The notebook JSON of ``solutions`` or ``exercises`` for one assignment."""
    return json.loads((ROOT / kind / assignment / f"{assignment}.ipynb").read_text())


def meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell):
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def answer_code(nb):
    """The code an autograder runs before the tests: nbgrader code cells that are not tests
    (nor the experiments of a part graded by hand, ``experiment-*``, which no checker reads:
    ps6 trains a network there)."""
    return [source(c) for c in nb["cells"]
            if c["cell_type"] == "code" and meta(c) and not meta(c).get("grade")
            and not str(meta(c).get("grade_id", "")).startswith("experiment-")]


def inject(nb, edits):
    """A copy of ``nb`` with each (old, new) edit applied; ``old`` must occur exactly once."""
    nb = copy.deepcopy(nb)
    for old, new in edits:
        hits = [c for c in nb["cells"] if c["cell_type"] == "code" and old in source(c)]
        count = sum(source(c).count(old) for c in hits)
        if count != 1:
            raise ValueError(f"edit target occurs {count} times: {old!r}")
        hits[0]["source"] = source(hits[0]).replace(old, new)
    return nb


def namespace_of(nb):
    """Execute the answer code of ``nb`` as a kernel would; return its globals."""
    ns = {"__name__": "__main__"}
    for i, code in enumerate(answer_code(nb)):
        name = f"<answer cell {i}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # as IPython does
        exec(compile(code, name, "exec"), ns)  # noqa: S102 (our own notebooks)
    return ns


def outcomes(grade_id, ns, seed):
    """The verdicts on the visible and on the hidden cases, as a test cell reaches them."""
    part = REGISTRY[grade_id]
    verdicts = []
    for hidden in (False, True):
        cases = part.cases(hidden=hidden, seed=seed if hidden else None)
        verdicts.append(part.evaluate(cases, part.run(ns, cases)))
    return verdicts


def hidden_seed(nb, grade_id):
    """The seed of the hidden test in the solution notebook's test cell for ``grade_id``."""
    for cell in nb["cells"]:
        if meta(cell).get("grade_id") == grade_id and meta(cell).get("grade"):
            return int(source(cell).split("seed=")[1].split(")")[0])
    raise KeyError(grade_id)


def first_failure(grade_id, ns, seed):
    """The verdict a test cell shows: the first of visible, hidden that fails (or None)."""
    return next((v for v in outcomes(grade_id, ns, seed) if not v.passed), None)


def pack(nb, injections):
    """Group injections into as few submissions as possible, one per part each.

    A group is kept only if, with all its edits applied, every one of its
    mistakes is still named by its checker (mistakes in one part can change
    what another part sees). Returns ``[(notebook, {injection: message})]``.
    """
    groups = []
    for injection in injections:
        for group in groups:
            if injection.grade_id in {i.grade_id for i in group}:
                continue
            verdicts = _verdicts(nb, group + [injection])
            if verdicts is not None:
                group.append(injection)
                break
        else:
            groups.append([injection])
    packed = []
    for group in groups:
        verdicts = _verdicts(nb, group)
        assert verdicts is not None, [i.name for i in group]
        packed.append((inject(nb, [e for i in group for e in i.edits]), verdicts))
    return packed


def _verdicts(nb, group):
    try:
        ns = namespace_of(inject(nb, [e for i in group for e in i.edits]))
    except ValueError:  # two edits collide
        return None
    messages = {}
    for injection in group:
        with warnings.catch_warnings():  # injected mistakes may divide by zero
            warnings.simplefilter("ignore", RuntimeWarning)
            verdict = first_failure(injection.grade_id, ns, hidden_seed(nb, injection.grade_id))
        if verdict is None or verdict.mistake != injection.mistake:
            return None
        messages[injection] = verdict.message
    return messages


def model_answers():
    """``(grade_id, sentence)`` of the model answers of the manually graded cells, which
    only the source notebooks hold (the release says YOUR ANSWER HERE)."""
    out = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            m = cell.get("metadata", {}).get("nbgrader", {})
            if m.get("grade") and m.get("solution") and cell["cell_type"] == "markdown":
                text = "".join(cell["source"]).replace("*Model answer (for the instructor).*", "")
                out += [(m["grade_id"], s.strip()) for s in re.split(r"(?<=[.;:])\s", text)
                        if len(s.strip()) >= 25]
    return out


def manual_points(assignment):
    """``{grade_id: points}`` of the cells of ``assignment`` an instructor grades by hand."""
    cells = notebook("solutions", assignment)["cells"]
    return {meta(c)["grade_id"]: meta(c)["points"] for c in cells
            if meta(c).get("grade") and meta(c).get("solution")}
