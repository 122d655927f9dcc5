"""nbgrader configuration for the course (run nbgrader from the repository root).

The instructors' commands are in README.md ("Instructors"). The gradebook
(gradebook.db) and the course-state folders (submitted/, autograded/,
feedback/) live at the root and are never committed.
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # this folder
c.CourseDirectory.source_directory = "solutions"  # the nbgrader source: solutions, hidden tests
c.CourseDirectory.release_directory = "exercises"  # the student release, committed

# Seconds each cell may run when nbgrader's own commands execute a notebook. bngrade
# derives its limit from the reference solution's time instead (README, "Time limits").
c.Execute.timeout = 120

# A student who deletes a test cell gets it back, so its points are not lost silently.
c.OverwriteCells.add_missing_cells = True

# Feedback never shows the hidden tests: nbgrader's default feedback
# preprocessors (GetGrades, CSSHTMLHeaderPreprocessor) with ClearHiddenTests
# between them. The checkers print their diagnosis instead of a traceback, so
# the outputs do not quote the hidden lines either.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# Kernels talk over TCP ("ipc" fails on the course's machines).
c.KernelManager.transport = "tcp"
