"""What the SOURCE notebook says is graded, and where a submission's answers are.

The engine trusts only the instructor's source notebook for grade ids, points
and test code. A submission contributes the text of its answer cells, found by
grade id and, when that metadata was edited or removed, by position after the
same read-only cell as in the release. Everything unexpected in the
submission's cells and metadata is reported in words.
"""

from dataclasses import dataclass, field


def meta(cell):
    """The nbgrader metadata of a cell as a dict (``{}`` when absent or malformed)."""
    m = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    m = m.get("nbgrader", {}) if isinstance(m, dict) else {}
    return m if isinstance(m, dict) else {}


def _text(cell):
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(src) if isinstance(src, list) else str(src)


def _same(a, b):
    return a.strip() == b.strip()


@dataclass
class Cell:
    """One cell of the source notebook, with its release text."""

    index: int
    kind: str  # answer | manual | test | task | setup | text | free
    cell_type: str
    grade_id: str | None
    points: float
    source: str
    release: str


@dataclass
class Spec:
    """A source notebook: its cells, its graded questions, its points."""

    name: str
    cells: list = field(default_factory=list)

    @property
    def questions(self):
        """Cells that carry points, in notebook order."""
        return [c for c in self.cells if c.kind in ("test", "manual", "task")]


def _kind(cell):
    m = meta(cell)
    code = cell.get("cell_type") == "code"
    if m.get("task"):
        return "task"
    if m.get("solution"):
        return "manual" if m.get("grade") else "answer"
    if m.get("grade"):
        return "test" if code else "manual"
    if m.get("locked"):
        return "setup" if code else "text"
    return "free" if code else "text"


def build(name, source_nb, release_nb):
    """The :class:`Spec` of one notebook from its source and its generated release."""
    spec = Spec(name)
    for i, (cell, rel) in enumerate(zip(source_nb["cells"], release_nb["cells"])):
        m = meta(cell)
        spec.cells.append(Cell(i, _kind(cell), cell.get("cell_type"), m.get("grade_id"),
                               float(m.get("points", 0) or 0), _text(cell), _text(rel)))
    return spec


def locate_answers(spec, cells):
    """Map each answer grade id to the submission's cell index; notes on what was odd."""
    notes, found, by_id = [], {}, {}
    for j, cell in enumerate(cells):
        gid = meta(cell).get("grade_id")
        if gid is not None:
            by_id.setdefault(str(gid), []).append(j)
    known = {c.grade_id for c in spec.cells if c.grade_id}
    for gid, where in by_id.items():
        if gid not in known:
            notes.append(("metadata_edited", f"a cell has grade_id {gid!r}, which is not in "
                          "the assignment (ignored)"))
        elif len(where) > 1:
            notes.append(("cells_duplicated", f"cell {gid!r} appears {len(where)} times; the "
                          "last copy is graded, as nbgrader does"))
    after = -1
    for c in spec.cells:
        if c.kind not in ("answer", "manual") or c.cell_type != "code":
            continue
        where = [j for j in by_id.get(c.grade_id, []) if cells[j].get("cell_type") == "code"]
        if where:
            found[c.grade_id] = after = where[-1]
            continue
        j = _by_position(spec, c, cells, after, known)
        if j is None:
            notes.append(("cells_missing", f"answer cell {c.grade_id!r} is missing"))
        else:
            found[c.grade_id] = after = j
            notes.append(("metadata_edited", f"answer cell {c.grade_id!r} had lost its grade_id; "
                          "it was found by its position"))
    return found, notes


def _by_position(spec, answer, cells, after, known):
    """The first code cell after the read-only cell that precedes ``answer`` in the source."""
    anchors = [c for c in spec.cells[:answer.index] if c.kind in ("text", "setup", "test")]
    if not anchors:
        return None
    anchor = anchors[-1]
    for j in range(after + 1, len(cells)):
        if _same(_text(cells[j]), anchor.release):
            for k in range(j + 1, len(cells)):
                if cells[k].get("cell_type") == "code":
                    gid = meta(cells[k]).get("grade_id")
                    return k if gid is None or gid not in known else None
            return None
    return None


def check_locked(spec, cells):
    """Notes on deleted or edited test cells and on edited points/locked metadata."""
    notes, by_id = [], {}
    for cell in cells:
        gid = meta(cell).get("grade_id")
        if gid is not None:
            by_id[str(gid)] = cell
    for c in spec.cells:
        if not c.grade_id or c.kind in ("answer", "free"):
            continue
        cell = by_id.get(c.grade_id)
        if cell is None:
            if c.kind == "test":
                notes.append(("cells_missing", f"test cell {c.grade_id!r} was deleted; the "
                              "original is used"))
            continue
        m = meta(cell)
        if c.kind == "test" and not (_same(_text(cell), c.release) or _same(_text(cell), c.source)):
            notes.append(("tests_edited", f"test cell {c.grade_id!r} was edited; the original "
                          "is used"))
        if c.kind in ("test", "manual", "task") and _points(m) != c.points:
            notes.append(("metadata_edited", f"cell {c.grade_id!r} claims {m.get('points')!r} "
                          f"points; it is worth {c.points:g} (from the source)"))
        if c.kind in ("test", "setup", "text") and not m.get("locked"):
            notes.append(("metadata_edited", f"cell {c.grade_id!r} was unlocked; its original "
                          "is used"))
    return notes


def _points(m):
    try:
        return float(m.get("points", 0) or 0)
    except (TypeError, ValueError):
        return float("nan")
