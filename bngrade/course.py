"""The course directory as nbgrader lays it out, and LMS zips turned into that layout.

Read: ``<source>/<assignment>/*.ipynb`` and
``submitted/<student>/<assignment>/*.ipynb`` (+ ``timestamp.txt``). Written by
the driver only: ``autograded/`` and ``feedback/`` (nbgrader's places) and
``reports/<assignment>/``.
"""

import glob
import os
import re
import zipfile

from nbgrader.utils import parse_utc

from . import nbg

MAX_NOTEBOOK_BYTES = 50 << 20
# LMS names such as "smithj_12345_67890_ps1-forward.ipynb", or folders "smithj/ps1-forward.ipynb"
DEFAULT_ZIP_REGEXP = r"^(?:.*/)?(?P<student_id>[^/_]+)(?:/|_(?:\d+_)*)(?P<file_id>[^/]+\.ipynb)$"


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


def collect_zip(course, assignment, zip_path, names, regexp=DEFAULT_ZIP_REGEXP):
    """Unpack an LMS zip of notebooks into ``submitted/<student>/<assignment>/``.

    Like ``nbgrader zip_collect``: ``regexp`` must name groups ``student_id`` and
    ``file_id`` (optionally ``timestamp``). A file id that is not one of the
    assignment's notebooks is kept under its own name (graded as renamed when
    it is the only one). Returns ``{student: [file names]}``; entries that do not
    match, or escape the folder, are skipped.
    """
    pattern, collected = re.compile(regexp), {}
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            m = pattern.match(info.filename)
            if info.is_dir() or m is None or info.file_size > MAX_NOTEBOOK_BYTES:
                continue
            student, file_id = m.group("student_id"), os.path.basename(m.group("file_id"))
            if student in ("", ".", "..") or "/" in student or file_id in ("", ".", ".."):
                continue
            for name in names:  # LMS resubmission suffixes: "ps1-forward-2.ipynb"
                if re.fullmatch(re.escape(name) + r"(?:-\d+)?\.ipynb", file_id):
                    file_id = f"{name}.ipynb"
            folder = course.path("submitted", student, assignment)
            os.makedirs(folder, exist_ok=True)
            with zf.open(info) as src, open(os.path.join(folder, file_id), "wb") as dst:
                dst.write(src.read(MAX_NOTEBOOK_BYTES + 1))
            stamp = m.groupdict().get("timestamp")
            if stamp:
                with open(os.path.join(folder, "timestamp.txt"), "w") as f:
                    f.write(stamp)
            collected.setdefault(student, []).append(file_id)
    return collected
