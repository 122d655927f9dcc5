"""The course directory as nbgrader lays it out (LMS zips are read by :mod:`bngrade.lms`).

Read: ``<source>/<assignment>/*.ipynb`` and
``submitted/<student>/<assignment>/*.ipynb`` (+ ``timestamp.txt``). Written by
the driver only: ``autograded/`` and ``feedback/`` (nbgrader's places) and
``reports/<assignment>/``.
"""

import glob
import os

from nbgrader.utils import parse_utc

from .. import nbg

MAX_NOTEBOOK_BYTES = 50 << 20


class Course:
    """Paths, configuration and gradebook URL of an nbgrader course directory."""

    def __init__(self, root=".", db_url=None):
        self.root = os.path.abspath(root)
        self.cfg = nbg.load_config(self.root)
        cd = nbg.coursedir(self.cfg)
        self.course_id = cd.course_id or "default_course"
        self.db_url = db_url or cd.db_url
        self.dirs = {k: os.path.join(self.root, getattr(cd, f"{k}_directory"))
                     for k in ("source", "submitted", "autograded", "feedback")}

    def path(self, kind, *parts):
        return os.path.join(self.dirs[kind], *parts)

    def sources(self, assignment):
        """``{notebook name: source text}`` of an assignment (its nbgrader source)."""
        found = sorted(glob.glob(self.path("source", assignment, "*.ipynb")))
        if not found:
            raise FileNotFoundError(f"no source notebooks for {assignment!r} in "
                                    f"{self.path('source', assignment)}")
        return {os.path.basename(p)[:-6]: open(p, encoding="utf-8").read() for p in found}

    def students(self, assignment):
        """Students with a ``submitted/<student>/<assignment>/`` folder, sorted."""
        pattern = self.path("submitted", "*", assignment)
        return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(pattern)
                      if os.path.isdir(p))

    def submission(self, student, assignment, names):
        """One entry per expected notebook: its text (or None) and what went wrong."""
        folder = self.path("submitted", student, assignment)
        present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.ipynb")))
        unmatched = [f for f in present if f[:-6] not in names]
        entries = []
        for name in names:
            found_as = f"{name}.ipynb" if f"{name}.ipynb" in present else None
            if found_as is None and len(unmatched) == 1 and len(names) == 1:
                found_as = unmatched[0]  # renamed (e.g. "ps1-forward (1).ipynb")
            entry = {"name": name, "found_as": found_as, "submitted": None, "problem": None}
            if found_as is None:
                entry["problem"] = (f"{name}.ipynb is missing from the submission (found: "
                                    f"{', '.join(present) or 'no notebook'})")
            elif os.path.getsize(os.path.join(folder, found_as)) > MAX_NOTEBOOK_BYTES:
                entry["found_as"], entry["problem"] = None, f"{found_as} is larger than 50 MB"
            else:
                with open(os.path.join(folder, found_as), "rb") as f:
                    entry["submitted"] = f.read().decode("utf-8", errors="replace")
            entries.append(entry)
        return entries

    def timestamp(self, student, assignment):
        """The submission's time from ``timestamp.txt`` (None if absent or unreadable)."""
        path = self.path("submitted", student, assignment, "timestamp.txt")
        try:
            with open(path) as f:
                return parse_utc(f.read().strip())
        except (OSError, ValueError):
            return None

