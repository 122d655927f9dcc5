"""bngrade: grade a whole class's nbgrader submissions in parallel, with scores no answer can forge.

The driver (:mod:`bngrade.driver.engine`) plans the work, sends one task per
submission to a local process pool or a Dask cluster, and alone writes the
nbgrader gradebook. A task (:func:`bngrade.worker.task.grade_submission`) is stateless:
it receives a submission's bytes and returns plain JSON. Scores come from
:mod:`bnlib.checks` parts evaluated in the grader on records that the student's
code produced in a limited, throw-away process (:mod:`bngrade.sandbox`).
"""

__version__ = "0.2.0"

import sys

# jsonschema, which nbformat imports, loads its optional IRI format checker when the
# rfc3987-syntax package is installed (jupyter-events pulls it in); building that
# checker's grammars costs about 1.5 s in every process (the driver, each fork server),
# and nothing here validates that format. None in sys.modules makes the import fail
# fast, as jsonschema expects of an absent optional package.
sys.modules.setdefault("rfc3987_syntax", None)
