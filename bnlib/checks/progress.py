"""Where a student stands: which visible tests have passed in this kernel, and how to submit.

:func:`bnlib.checks.core.check` records each visible test's outcome here
(:func:`record`); the last cell of every exercise notebook calls
:func:`progress`, which says in words either that every visible test has
passed and how to submit, or which tests are still to pass. Hidden tests
(``hidden=True``) are not recorded: they run only when the notebook is graded.
"""

from .core import parts_for

_passed = {}  # grade_id -> the last visible run's outcome (True: passed)

SUBMIT = ("Save the notebook (File > Save, or Ctrl+S), then submit {name}.ipynb as your "
          "course asks, under its own name and with the read-only cells as they were "
          "(on Colab or Binder, File > Download it first). More tests, on other shapes "
          "and values, run when it is graded.")


def record(grade_id, passed):
    """Remember the outcome of a visible test run in this kernel."""
    _passed[grade_id] = bool(passed)


def progress(assignment):
    """Say whether every visible test of ``assignment`` passed in this kernel; return that."""
    parts = parts_for(assignment)
    if not parts:
        raise ValueError(f"no assignment {assignment!r}")
    todo = [p for p in parts if not _passed.get(p.grade_id)]
    if not todo:
        print(f"All {len(parts)} visible tests pass. " + SUBMIT.format(name=assignment))
        return True
    failed = [p for p in todo if p.grade_id in _passed]
    lines = [f"Not yet: {len(parts) - len(todo)} of {len(parts)} visible tests pass."]
    for p in todo:
        state = "did not pass" if p in failed else "has not been run"
        lines.append(f"- {p.description}: its test cell {state}.")
    lines.append("Fix those answers, run their test cells again, then run this cell.")
    print("\n".join(lines))
    return False
