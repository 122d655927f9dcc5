"""What crosses between the driver and a worker: two dataclass contracts, one list of flag codes.

The driver sends a :class:`Task` (one student's submission of one assignment) as
JSON text; the worker (:mod:`bngrade.worker.task`) decodes it with
:meth:`Task.from_json` and returns a :class:`Submission` as JSON text; the
driver decodes that with :meth:`Submission.from_json` (plain data only, never
pickle) and the store, the reports and the summary read these fields. Every flag's ``kind`` is
one of :data:`FLAGS`; a flag is decided by the grader from what it observed
(a deadline, an exit status, a structured error type, a protocol violation),
never from words in a student's text.
"""

import json
from dataclasses import asdict, dataclass, field

FLAGS = {
    # the submission as a file
    "missing": "a notebook was not submitted",
    "corrupt": "a notebook could not be read",
    "renamed": "a notebook was graded under another file name",
    "metadata_edited": "nbgrader metadata was edited (the source's is used)",
    "cells_duplicated": "a graded cell appears more than once",
    "cells_missing": "a graded cell was deleted (the source's is used)",
    "tests_edited": "a test cell was edited (the source's is used)",
    # the student's code, as the scoring sandbox observed it
    "timeout": "a cell or a graded call ran out of time",
    "crashed": "the sandbox stopped during a cell or a graded call",
    "memory": "a cell or a graded call hit the memory limit",
    "tampered": "the sandbox broke the call protocol (forged, repeated or malformed messages)",
    "malformed": "a graded call returned something the checker could not read",
    # nbgrader's preprocessors (the autograded notebook and the feedback page)
    "nbgrader_refused": "nbgrader refused the notebook; a rebuilt copy was run",
    "feedback_failed": "the feedback could not be rendered (the score stands)",
    # the grader itself
    "grader_error": "the grader failed on this notebook",
    "worker_died": "the grading worker died twice on this submission",
    "unisolated": "graded with --unsafe-no-isolation: student code ran without a sandbox",
    # comparisons across submissions (bngrade.driver.copies)
    "copies_reference": "most of an answer's distinctive code is bnlib's or the solution's",
    "copies_classmate": "most of an answer's distinctive code is a classmate's",
}


class _JSON:
    """A dataclass contract that crosses between processes as JSON text (plain data, never
    pickle); ``from_dict`` rebuilds the nested dataclasses."""

    def to_json(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


@dataclass
class TaskNotebook:
    """One notebook a task grades: the source and what the student handed in."""

    name: str
    source: str  # the assignment's source notebook, JSON text
    questions: list  # of {"grade_id", "points"}: the source's graded cells
    submitted: str | None = None  # the student's notebook text (None: not submitted)
    found_as: str | None = None  # its file name in the submission
    problem: str | None = None  # why there is none to grade (missing, too large)


@dataclass
class Task(_JSON):
    """What a worker grades: one student's submission of one assignment, with everything
    needed to grade it (the worker reads nothing else)."""

    assignment: str
    student: str
    salt: str  # the gradebook's secret: the hidden cases' seeds derive from it
    limits: dict  # the sandbox's limits (bngrade.sandbox.box.limits.Limits, as a dict)
    isolated: bool  # False: --unsafe-no-isolation
    config: dict  # nbgrader's configuration as plain data (bngrade.nbg.plain_config)
    notebooks: list = field(default_factory=list)  # of TaskNotebook
    build: dict | None = None  # the driver's grader (bngrade.build.fingerprint)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        return cls(notebooks=[TaskNotebook(**nb) for nb in d.pop("notebooks")], **d)


@dataclass
class Flag:
    kind: str
    notebook: str
    detail: str

    def __post_init__(self):
        if self.kind not in FLAGS:
            raise ValueError(f"unknown flag {self.kind!r}")


@dataclass
class Question:
    grade_id: str
    points: float
    score: float | None
    message: str = ""
    mistake: str | None = None
    verified: bool = True  # scored by the engine's checker (False: nbgrader's score only)
    seconds: float | None = None  # the slowest single graded call of the question (wall)


@dataclass
class Notebook:
    name: str
    questions: list = field(default_factory=list)  # of Question
    flags: list = field(default_factory=list)  # of Flag
    autograded: str | None = None  # notebook JSON text
    feedback: str | None = None  # HTML text
    timings: dict = field(default_factory=dict)


@dataclass
class Submission(_JSON):
    assignment: str
    student: str
    notebooks: list = field(default_factory=list)  # of Notebook
    seconds: float = 0.0
    isolated: bool = True
    worker: dict = field(default_factory=dict)  # {"name", "build"}: bngrade.build

    @property
    def flags(self):
        return [f for nb in self.notebooks for f in nb.flags]

    @property
    def score(self):
        return sum(q.score or 0.0 for nb in self.notebooks for q in nb.questions)

    @property
    def max_score(self):
        return sum(q.points for nb in self.notebooks for q in nb.questions)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        nbs = [Notebook(**{**nb, "questions": [Question(**q) for q in nb["questions"]],
                           "flags": [Flag(**f) for f in nb["flags"]]})
               for nb in d.pop("notebooks")]
        return cls(notebooks=nbs, **d)


def failed_notebook(name, questions, kind, detail):
    """A notebook that could not be graded: every question scores zero, with the reason."""
    return Notebook(name, [Question(q["grade_id"], q["points"], 0.0, detail, kind, False)
                           for q in questions], [Flag(kind, name, detail)])
