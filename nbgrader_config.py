"""nbgrader configuration for the course (run nbgrader from the repository root).

The instructors' commands are in README.md ("Instructors"). The gradebook
(gradebook.db) and the course-state folders (submitted/, autograded/,
feedback/) live at the root and are never committed.
"""

import os

from bngrade.worker.feedback_page import PREPROCESSORS

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # this folder
c.CourseDirectory.source_directory = "solutions"  # the nbgrader source: solutions, hidden tests
c.CourseDirectory.release_directory = "exercises"  # the student release, committed

# Seconds each cell may run when nbgrader's own commands execute a notebook. bngrade
# derives its limit from the reference solution's time instead (README, "Time limits").
c.Execute.timeout = 120

# A student who deletes a test cell gets it back, so its points are not lost silently.
c.OverwriteCells.add_missing_cells = True

# Feedback never shows the hidden tests, whichever command makes it: `nbgrader
# generate_feedback` renders with bngrade's exporter and preprocessors (bngrade/
# feedback_page.py): hidden tests cleared from the sources; the outputs of a cell that
# runs hidden tests (a timeout's or a crash's traceback quotes them, their seed and the
# checker's code) replaced by a note and the checker's verdict; the hidden lines, seeds
# and server paths blanked out of every other output; math as MathML (no CDN, no script);
# the page sanitised behind a strict CSP; bngrade's verdict notes kept when bngrade
# graded the submission (so `generate_feedback --force` rebuilds bngrade's page).
c.GenerateFeedback.exporter_class = "bngrade.worker.feedback_page.FeedbackExporter"
c.GenerateFeedback.preprocessors = PREPROCESSORS

# Kernels talk over TCP ("ipc" fails on the course's machines).
c.KernelManager.transport = "tcp"

# Student output is inert in the instructor's tools. The formgrader renders the autograded
# notebooks with nbconvert's HTMLExporter: sanitised, it runs no Javascript output and
# cleans HTML, SVG and Markdown (bngrade already stores every output cleaned:
# bngrade.sanitize.outputs). The feedback exporter cleans its whole page itself
# (bngrade.sanitize.html_document, behind a CSP) and keeps its MathML.
c.HTMLExporter.sanitize_html = True
c.FeedbackExporter.sanitize_html = False
