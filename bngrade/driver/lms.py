"""LMS submission downloads into nbgrader's ``submitted/`` layout, every entry accounted for.

:func:`collect` reads a zip as Canvas, Moodle or Blackboard write it (entry by
entry, so a zip mixing them works too), or the plain ``<login>/<notebook>``
folder layout, and writes each student's latest notebooks to
``submitted/<login>/<assignment>/``. Every entry of the zip ends up in
``reports/<assignment>/collection.csv`` as collected, a receipt, or skipped
with its reason; the students' LMS ids go to ``reports/<assignment>/lms_ids.csv``
(and the gradebook's ``Student.lms_user_id``) for :mod:`bngrade.export`.
Anything ambiguous (two entries for one notebook of one attempt, two people
who would become one login, a name that fits two roster rows, an entry of
someone not on the roster) stops the collection before anything is written,
with every such entry named.

The file-name schemes, as the LMSs write them:

- Canvas ("Download Submissions"; a flat zip): ``<name>[_LATE]_<user id>_<attachment
  id>_<file>``, where ``<name>`` is the sortable name ("Last, First") lower-cased
  with everything but letters, digits and ``_`` removed, ``LATE`` marks a late
  submission (``late`` is read too), an anonymised assignment writes
  ``anon_<id>`` for the user id, and a file uploaded again under the same name
  can carry a ``-1``, ``-2`` suffix. Only the current submission is in the zip.
- Moodle ("Download all submissions"):
  ``<Full Name>_<participant id>_assignsubmission_file_/<file>`` (one folder per
  student, the default since Moodle 3.1) or, flat,
  ``<Full Name>_<participant id>_assignsubmission_file_<file>``; ``_`` in names
  become spaces; with blind marking the name is ``Participant``. Only the latest
  attempt is in the zip.
- Blackboard ("Assignment File Download"; flat):
  ``<Assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` and a receipt
  ``<Assignment>_<username>_attempt_<...>.txt`` per attempt; both the
  assignment name and the username may contain ``_``, so the split is taken
  from the receipt's ``Assignment:`` line, the name common to all entries, or
  the roster, and is an error if those leave more than one.
"""

import csv
import dataclasses
import io
import os
import re
import stat
import zipfile
import zlib

from ..sanitize import csv_cell, line
from .course import MAX_NOTEBOOK_BYTES
from .integrity import write_private
from .roster import Roster, norm, safe_login

MAX_ENTRIES = 100_000
MAX_TOTAL_BYTES = 8 << 30  # notebooks written by one collection
MAX_RECEIPT_BYTES = 64 << 10

CANVAS = re.compile(r"^(?:(?P<name>\w+?)_)?(?:(?P<late>late|LATE)_)?"
                    r"(?P<uid>\d+|anon_[0-9A-Za-z]+)_(?P<aid>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>[^/_]*)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_"
                    r"(?:/(?P<path>.+)|(?P<file>[^/]+))$")
BLACKBOARD = re.compile(r"^(?P<head>.+?)_attempt_(?P<stamp>\d{4}(?:-\d\d){5})"
                        r"(?:_(?P<file>.+)|(?P<receipt>\.txt))$")
FOLDER = re.compile(r"^(?P<login>[^/]+)/(?:(?P<assignment>[^/]+)/)?(?P<file>[^/]+)$")
# A re-uploaded file: "ps1-forward-1.ipynb" (Canvas), "ps1-forward (1).ipynb" (browsers)
COPY_SUFFIX = r"(?:-\d+| \(\d+\))?"


class CollectionError(ValueError):
    """The zip cannot be collected without guessing; the message names the entries."""


@dataclasses.dataclass
class Entry:
    """One zip entry and what became of it."""

    name: str
    layout: str = ""  # canvas, moodle, blackboard, folder, regexp
    status: str = ""  # collected, receipt, skipped
    reason: str = ""
    person: str = ""  # who the LMS says it is: a name, a username, a folder
    display: str = ""  # the person's name for the reports
    lms_id: str = ""
    login: str = ""
    file: str = ""  # the student's file name, LMS prefix removed
    saved_as: str = ""
    attempt: str = ""  # Blackboard's time stamp; Canvas's attachment id
    late: bool = False
    info: zipfile.ZipInfo = dataclasses.field(default=None, repr=False)
    head: str = dataclasses.field(default="", repr=False)  # Blackboard: "<assignment>_<username>"

    def skip(self, reason):
        self.status, self.reason = "skipped", reason


@dataclasses.dataclass
class Collection:
    """What :func:`collect` did: every entry, the students, the files it wrote."""

    entries: list
    students: dict  # login -> {"lms", "lms_user_id", "name", "late", "attempt"}
    files: dict

    def counts(self):
        out = {"entries": len(self.entries), "students": len(self.students)}
        for status in ("collected", "receipt", "skipped"):
            out[status] = sum(e.status == status for e in self.entries)
        return out

    def summary(self):
        """For the run's summary: the counts and each skipped entry with its reason."""
        return {"counts": self.counts(), "file": self.files["collection"],
                "skipped": [{"entry": e.name, "reason": e.reason} for e in self.entries
                            if e.status == "skipped"]}

    def describe(self):
        """Lines for the log: the counts, then each skipped entry with its reason (one line
        each, whatever the entry's name holds)."""
        c = self.counts()
        lines = [f"collected {c['collected']} notebooks of {c['students']} students from "
                 f"{c['entries']} zip entries ({c['receipt']} receipts read, {c['skipped']} "
                 f"skipped; every entry is listed in {self.files['collection']})"]
        lines += [line(f"  skipped {e.name!r}: {e.reason}", limit=None) for e in self.entries
                  if e.status == "skipped"]
        return lines


def notebook_for(filename, names):
    """The assignment notebook ``filename`` is (allowing LMS copy suffixes), else None."""
    for name in names:
        if re.fullmatch(re.escape(name) + COPY_SUFFIX + r"\.ipynb", filename):
            return name
    return None


def _unsafe(info):
    """Why the entry must not be extracted (None if it may be)."""
    name = info.filename
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "a path that leaves its folder ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link (never followed)"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.file_size > MAX_NOTEBOOK_BYTES:
        return f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
    return None


def _parse(entry, regexp, assignment):
    """Fill layout, person, lms_id, file, attempt and late from the entry's name."""
    name = entry.name.replace("\\", "/")
    base, top = name.rsplit("/", 1)[-1], "/" not in name
    if any(part.startswith(".") or part == "__MACOSX" for part in name.split("/")):
        entry.skip("a hidden or system file (such as __MACOSX/ or .ipynb_checkpoints/)")
        return
    if regexp is not None:
        m = regexp.match(name)
        if m:
            entry.layout, entry.person = "regexp", m.group("student_id")
            entry.file = os.path.basename(m.group("file_id"))
            entry.attempt = (m.groupdict().get("timestamp") or "").strip()
        return
    m = BLACKBOARD.match(base) if top else None
    if m:
        entry.layout, entry.head, entry.attempt = "blackboard", m["head"], m["stamp"]
        entry.file = "" if m["receipt"] else m["file"]
        return
    m = MOODLE.match(name)
    if m:
        entry.layout, entry.person, entry.lms_id = "moodle", m["name"].strip(), m["pid"]
        entry.file = os.path.basename(m["path"] or m["file"])
        if m["plugin"] != "file":
            entry.skip(f"Moodle's {m['plugin']} submission, not a file")
        return
    m = CANVAS.match(base) if top else None
    if m:
        name_part, late = m["name"] or "", m["late"]
        if not late and name_part.lower() == "late":  # "LATE_anon_..." has no name
            name_part, late = "", name_part
        entry.layout, entry.person, entry.late = "canvas", name_part, bool(late)
        entry.lms_id, entry.attempt, entry.file = m["uid"], m["aid"], m["file"]
        return
    m = FOLDER.match(name)
    if m and m["assignment"] in (None, assignment):
        entry.layout, entry.person, entry.file = "folder", m["login"], m["file"]


def _split_blackboard(entries, receipts, roster):
    """Give each Blackboard entry its username; return the problems found."""
    bb = [e for e in entries if e.layout == "blackboard"]
    if not bb:
        return []
    named = {r.get("assignment") for r in receipts.values() if r.get("assignment")}
    options = {}
    for e in bb:
        splits = [(e.head[:i], e.head[i + 1:]) for i, ch in enumerate(e.head) if ch == "_"]
        if roster is not None:
            splits = [s for s in splits if roster.login(s[1])] or splits
        options[e.name] = dict(splits)
    common = set.intersection(*(set(o) for o in options.values()))
    if len(named) == 1 and named <= common:
        common = named
    elif roster is not None:
        common = {a for a in common
                  if all(roster.login(options[e.name][a]) for e in bb)} or common
    if len(common) != 1:
        listed = ", ".join(repr(e.name) for e in bb[:5]) + (" ..." if len(bb) > 5 else "")
        what = (" or ".join(repr(a) for a in sorted(common)) if common
                else "none common to all entries")
        return [f"cannot tell the Blackboard assignment name from the username in {listed} "
                f"(assignment name: {what}); give --roster with the usernames"]
    assignment_name = common.pop()
    for e in bb:
        e.person = options[e.name][assignment_name]
        e.lms_id = ""
    return []


def _identify(entries, roster, receipts):
    """Set each parsed entry's login (and name, id); return the problems found."""
    problems = []
    for e in entries:
        if not e.layout or e.status:
            continue
        if roster is None:
            e.login = _derived_login(e)
            e.display = receipts.get(_attempt_key(e), {}).get("name", "") or e.person
            if e.login is None:
                e.skip(f"{e.person!r} cannot name a student's folder")
            continue
        person, why = _on_roster(e, roster)
        if person is None:
            problems.append(f"{e.name!r}: {why}")
            continue
        e.login = person["login"]
        e.lms_id = e.lms_id or person.get("lms_id", "")
        e.display = person.get("name") or " ".join(
            filter(None, (person.get("first_name"), person.get("last_name")))) or e.person
    return problems


def _derived_login(e):
    if e.layout == "canvas" and not e.person:
        return e.lms_id  # anonymised: "anon_<id>"
    if e.layout == "moodle":
        if e.person == "Participant":  # blind marking
            return f"participant{e.lms_id}"
        return safe_login("_".join(e.person.split()))
    return safe_login(e.person)


def _on_roster(e, roster):
    """The roster row of an entry, or (None, why not)."""
    if e.layout in ("canvas", "moodle") and e.lms_id in roster.by_lms_id:
        return roster.by_lms_id[e.lms_id], ""
    if e.layout in ("blackboard", "folder", "regexp"):
        person = roster.login(e.person)
        if person:
            return person, ""
    if e.layout == "moodle" and e.person == "Participant":
        return None, (f"participant {e.lms_id} (blind marking) is not on the roster "
                      f"(give the roster's participant ids)")
    rows = roster.named(e.person) if norm(e.person) else []
    if len(rows) > 1:
        return None, (f"the name {e.person!r} could be any of "
                      f"{', '.join(p['login'] for p in rows)} on the roster")
    if not rows:
        return None, f"{e.person or e.lms_id!r} is not on the roster {roster.source}"
    if e.lms_id and rows[0].get("lms_id") and rows[0]["lms_id"] != e.lms_id:
        return None, (f"the name {e.person!r} is {rows[0]['login']} on the roster, whose LMS "
                      f"id is {rows[0]['lms_id']}, not {e.lms_id}")
    return rows[0], ""


def _attempt_key(e):
    return (e.layout, e.head, e.attempt)


def _one_person_per_login(entries):
    """Two LMS users (or names) who would become one login: the problems found."""
    seen, problems = {}, []
    for e in entries:
        if not e.login or e.status:
            continue
        who = (e.layout, e.lms_id or e.person)
        first = seen.setdefault(e.login, (who, e))
        if first[0] != who:
            problems.append(f"{first[1].name!r} and {e.name!r} are different people in the "
                            f"LMS but would both be {e.login!r}: give --roster to tell them apart")
            seen[e.login] = (who, e)
    return problems


def _choose(entries, names):
    """Keep each student's latest attempt and one entry per notebook; return the problems."""
    by_login = {}
    for e in entries:
        if e.login and not e.status:
            by_login.setdefault(e.login, []).append(e)
    problems = []
    for login, mine in by_login.items():
        if mine[0].layout != "canvas":  # one attempt per student: the latest
            latest = max(e.attempt for e in mine)
            for e in mine:
                if e.attempt != latest:
                    e.skip(f"an earlier attempt ({e.attempt}) of {login}; the attempt of "
                           f"{latest} is collected")
        targets = {}
        for e in mine:
            if e.status:
                continue
            if not e.file:
                e.status, e.reason = "receipt", "Blackboard's receipt of the collected attempt"
                continue
            if not e.file.endswith(".ipynb"):
                e.skip(f"not a notebook ({e.file})")
                continue
            nb = notebook_for(e.file, names)
            e.saved_as = f"{nb}.ipynb" if nb else _safe_file(e.file)
            targets.setdefault(e.saved_as, []).append(e)
        for saved_as, same in targets.items():
            if len(same) > 1 and all(e.layout == "canvas" for e in same):
                same.sort(key=lambda e: int(e.attempt))  # attachment ids grow with uploads
                for e in same[:-1]:
                    e.skip(f"an earlier upload (attachment {e.attempt}) of {saved_as}; "
                           f"attachment {same[-1].attempt} is collected")
            elif len(same) > 1:
                problems.append(f"{', '.join(repr(e.name) for e in same)}: all would be "
                                f"{login}'s {saved_as} in the same attempt")
    return problems


def _safe_file(filename):
    base = re.sub(r"[^\w .()+-]", "_", os.path.basename(filename)).lstrip(".")
    return base if base.endswith(".ipynb") and len(base) > 6 else "renamed.ipynb"


def _read_receipts(zf, entries):
    """Blackboard receipts: {attempt key: {"assignment", "name", "submitted"}} (when present)."""
    out = {}
    for e in entries:
        if e.layout != "blackboard" or e.file or e.status:
            continue
        with zf.open(e.info) as f:
            text = f.read(MAX_RECEIPT_BYTES).decode("utf-8", errors="replace")
        fields = {}
        for key, label in (("assignment", "Assignment"), ("name", "Name"),
                           ("submitted", "Date Submitted")):
            m = re.search(rf"^{label}:[ \t]*(.+?)[ \t]*$", text, flags=re.M)
            if m:
                fields[key] = m.group(1)
        m = re.fullmatch(r"(.*?)\s*\(([^()]+)\)", fields.get("name", ""))
        if m:  # "Name: Ann Lee (alee)"
            fields["name"], fields["username"] = m.group(1), m.group(2)
        out[(e.layout, e.head, e.attempt)] = fields
    return out


def _stamp(e):
    """nbgrader's timestamp text for the entry's attempt (Blackboard's), else None."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)-(\d\d)-(\d\d)-(\d\d)", e.attempt or "")
    if e.layout == "blackboard" and m:
        return f"{m.group(1)} {m.group(2)}:{m.group(3)}:{m.group(4)}"
    return e.attempt if e.layout == "regexp" and e.attempt else None


def collect(course, assignment, zip_path, names, roster=None, regexp=None):
    """Collect ``zip_path`` into ``submitted/``; return a :class:`Collection`.

    ``names`` are the assignment's notebooks; ``roster`` a :class:`~bngrade.roster.Roster`
    or a CSV path; ``regexp`` (nbgrader ``zip_collect``'s: groups ``student_id``,
    ``file_id``, optionally ``timestamp``) replaces the built-in layouts.
    Raises :class:`CollectionError` (writing nothing) when the zip is ambiguous.
    """
    if isinstance(roster, (str, os.PathLike)):
        roster = Roster.read(roster)
    pattern = re.compile(regexp) if regexp else None
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CollectionError(f"cannot read {zip_path} as a zip: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise CollectionError(f"{zip_path} has {len(infos)} entries (more than "
                                  f"{MAX_ENTRIES}); split it")
        entries = []
        for info in infos:
            e = Entry(info.filename, info=info)
            entries.append(e)
            if info.is_dir():
                e.skip("a folder (its files are listed on their own)")
            elif why := _unsafe(info):
                e.skip(why)
            else:
                _parse(e, pattern, assignment)
                if not e.layout and not e.status:
                    e.skip("not in a layout bngrade reads (Canvas, Moodle or Blackboard "
                           "file names, or <login>/<notebook>)")
        receipts = _read_receipts(zf, entries)
        problems = _split_blackboard(entries, receipts, roster)
        problems += _identify(entries, roster, receipts)
        problems += _one_person_per_login(entries)
        problems += _choose(entries, names)
        if problems:
            raise CollectionError(f"{zip_path} is ambiguous; nothing was collected:\n  - "
                                  + "\n  - ".join(problems))
        todo = {e.name: e for e in entries if not e.status}
        if sum(e.info.file_size for e in todo.values()) > MAX_TOTAL_BYTES:
            raise CollectionError(f"{zip_path} unpacks to more than {MAX_TOTAL_BYTES >> 30} GB "
                                  f"of notebooks; nothing was collected")
        students = {}
        for e in entries:
            if not e.login:
                continue
            # Everyone identified gets a folder: one who sent no notebook is graded as missing.
            folder = course.path("submitted", e.login, assignment)
            os.makedirs(folder, exist_ok=True)
            if todo.get(e.name) is e:
                _extract(zf, e, os.path.join(folder, e.saved_as))
            if e.status == "collected" and _stamp(e):
                with open(os.path.join(folder, "timestamp.txt"), "w") as f:
                    f.write(_stamp(e))
            s = students.setdefault(e.login, {"lms": e.layout, "lms_user_id": e.lms_id,
                                              "name": e.display, "late": False,
                                              "attempt": ""})
            if e.status in ("collected", "receipt"):
                s["late"] = s["late"] or e.late
                if e.layout != "canvas":
                    s["attempt"] = e.attempt
    files = _write_reports(course, assignment, entries, students)
    _remember(course, students, roster)
    return Collection(entries, students, files)


def _extract(zf, e, path):
    """Copy the entry to ``path`` (never more than its header's size): collected or skipped."""
    limit, tmp = min(e.info.file_size, MAX_NOTEBOOK_BYTES), f"{path}.tmp"
    try:
        with zf.open(e.info) as src, open(tmp, "wb") as dst:
            while chunk := src.read(min(1 << 20, limit + 1 - dst.tell())):
                dst.write(chunk)
            size = dst.tell()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        os.remove(tmp)
        e.skip(f"unreadable in the zip ({type(exc).__name__}: {exc})")
        return
    if size > limit:
        os.remove(tmp)
        e.skip("longer than its zip header says")
    else:
        os.replace(tmp, path)
        e.status, e.reason = "collected", "the latest of this notebook"


def write_csv(path, header, rows):
    """A private CSV (:func:`bngrade.integrity.write_private`) of text cells, each on one
    line and never a spreadsheet formula (:func:`bngrade.sanitize.csv_cell`, uncut)."""
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(header)
    w.writerows([csv_cell(v, limit=None) for v in row] for row in rows)
    write_private(path, f.getvalue())


def _write_reports(course, assignment, entries, students):
    folder = os.path.join(course.root, "reports", assignment)
    files = {"collection": os.path.join(folder, "collection.csv"),
             "lms_ids": os.path.join(folder, "lms_ids.csv")}
    write_csv(files["collection"], ["entry", "layout", "status", "student", "lms_id",
                                    "saved_as", "attempt", "late", "reason"],
              [(e.name, e.layout, e.status, e.login, e.lms_id, e.saved_as, e.attempt,
                "late" if e.late else "", e.reason) for e in entries])
    known = read_lms_ids(course.root, assignment)  # a class may come in several zips
    known.update(students)
    write_csv(files["lms_ids"], ["student", "lms", "lms_user_id", "name", "late", "attempt"],
              [(login, known[login]["lms"], known[login]["lms_user_id"], known[login]["name"],
                "late" if known[login]["late"] else "", known[login]["attempt"])
               for login in sorted(known)])
    return files


def read_lms_ids(root, assignment):
    """``{login: {"lms", "lms_user_id", "name", "late", "attempt"}}`` from earlier collections."""
    path = os.path.join(root, "reports", assignment, "lms_ids.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["student"]: {"lms": r["lms"], "lms_user_id": r["lms_user_id"],
                               "name": r["name"], "late": r["late"] == "late",
                               "attempt": r["attempt"]}
                for r in csv.DictReader(f)}


def _remember(course, students, roster):
    """Names and the LMS user id on nbgrader's Student rows (what its own tools show)."""
    from nbgrader.api import Gradebook

    from .store import transaction

    with Gradebook(course.db_url, course.course_id) as gb, transaction(gb):  # one commit
        for login, s in students.items():
            person = roster.by_login.get(login, {}) if roster is not None else {}
            fields = {k: person[k] for k in ("first_name", "last_name", "email")
                      if person.get(k)}
            if s["lms"] == "canvas" and s["lms_user_id"].isdigit():
                fields["lms_user_id"] = s["lms_user_id"]  # Canvas's user id is course-wide
            gb.update_or_create_student(login, **fields)
