"""The worker's entry point as the driver names it: a task is this function, called on a
worker (a pool process or a Dask worker), and importing it loads nothing of the grading
(no checker, no answer key) into the driver, which only passes it by name."""


def grade_submission(payload_json, check_sandbox=False):
    """:func:`bngrade.worker.task.grade_submission`, imported on the worker."""
    from .task import grade_submission as grade

    return grade(payload_json, check_sandbox)
