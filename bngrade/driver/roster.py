"""A class roster: who a login is, by name and by LMS id.

Read from a CSV file with a header row. The columns are found by name (case and
spacing ignored), so the roster can be the LMS's own download:

- the login (nbgrader's student id; required): ``login``, ``username``,
  ``sis login id`` or ``login id``; in nbgrader's own student file
  (``id, first_name, last_name, email, lms_user_id``) it is ``id``;
- the LMS user id: ``lms_user_id``, ``lms id``, ``participant id``,
  ``identifier`` (Moodle's ``Participant 123`` is read as ``123``), ``user id``,
  or ``id`` when a login column is also present (Canvas's gradebook download);
- names and the rest, all optional: ``name`` / ``full name`` / ``student``,
  ``first name``, ``last name``, ``email`` / ``email address``, ``sis user id``,
  ``section``.

Every login must be unique, and so must every LMS id: a roster that names one
person twice is refused, never merged.
"""

import csv
import re

LOGIN = ("login", "username", "sisloginid", "loginid")
LMS_ID = ("lmsuserid", "lmsid", "participantid", "identifier", "userid", "canvasuserid")
FIELDS = {"name": ("name", "fullname", "student", "displayname"),
          "first_name": ("firstname", "givenname"),
          "last_name": ("lastname", "surname", "familyname"),
          "email": ("email", "emailaddress"),
          "sis_user_id": ("sisuserid",),
          "section": ("section",)}
# What a login may look like: it becomes a folder name under submitted/.
SAFE_LOGIN = re.compile(r"[^\x00-\x1f/\\]{1,128}")


class RosterError(ValueError):
    """A roster that cannot be used as it is (the message says why and where)."""


def _key(header):
    return re.sub(r"[\s_]+", "", header.strip().lower())


def safe_login(login):
    """``login`` if it can name a folder under ``submitted/`` (else None)."""
    login = login.strip()
    if not SAFE_LOGIN.fullmatch(login) or login in (".", "..") or login.startswith("."):
        return None
    return login


def name_keys(person):
    """The forms an LMS may write this person's name in, normalised (see :func:`norm`)."""
    first, last, name = person.get("first_name", ""), person.get("last_name", ""), \
        person.get("name", "")
    keys = set()
    if first or last:
        keys |= {norm(f"{first} {last}"), norm(f"{last} {first}")}
    if name:
        keys.add(norm(name))
        if "," in name:  # "Last, First" (Canvas's sortable name)
            last_part, _, first_part = name.partition(",")
            keys.add(norm(f"{first_part} {last_part}"))
        elif len(name.split()) > 1:  # "First Middle Last": Canvas sorts it "Last, First Middle"
            *rest, final = name.split()
            keys.add(norm(f"{final} {' '.join(rest)}"))
    keys.discard("")
    return keys


def norm(name):
    """A name reduced to lower-case letters and digits (how Canvas writes it in a zip)."""
    return re.sub(r"[\W_]+", "", name.casefold())


class Roster:
    """People by login, by LMS id and by name."""

    def __init__(self, people, source="roster"):
        self.people, self.source = people, source
        self.by_login, self.by_lms_id, self.by_name = {}, {}, {}
        for p in people:
            for index, value in ((self.by_login, p["login"]), (self.by_lms_id, p["lms_id"])):
                if value and value in index:
                    raise RosterError(f"{source}: {value!r} appears twice (lines "
                                      f"{index[value]['line']} and {p['line']})")
                if value:
                    index[value] = p
            for k in name_keys(p):
                self.by_name.setdefault(k, []).append(p)
        self.by_folded = {}
        for login, p in self.by_login.items():
            self.by_folded.setdefault(login.casefold(), []).append(p)

    @classmethod
    def read(cls, path):
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RosterError(f"cannot read the roster {path}: {exc}") from None
        if not rows:
            raise RosterError(f"{path}: empty (a header row is needed)")
        header = [_key(h) for h in rows[0]]

        def column(names):
            return next((header.index(n) for n in names if n in header), None)

        login = column(LOGIN)
        lms = column(LMS_ID)
        if login is None and "id" in header:  # nbgrader's student file: id is the login
            login = header.index("id")
        elif lms is None and "id" in header:  # Canvas's gradebook: ID is Canvas's user id
            lms = header.index("id")
        if login is None:
            raise RosterError(f"{path}: no login column (one of: login, username, "
                              f"SIS Login ID, or nbgrader's id)")
        fields = {f: column(names) for f, names in FIELDS.items()}
        people = []
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            row = row + [""] * (len(header) - len(row))
            if not row[login].strip():  # not a person: Canvas's "Points Possible" row
                continue
            person = {f: row[i].strip() for f, i in fields.items() if i is not None}
            person["line"] = line
            person["login"] = safe_login(row[login])
            if person["login"] is None:
                raise RosterError(f"{path}, line {line}: {row[login]!r} cannot be a login")
            lms_id = row[lms].strip() if lms is not None else ""
            person["lms_id"] = re.sub(r"^participant\s*", "", lms_id, flags=re.I)
            people.append(person)
        return cls(people, source=str(path))

    def named(self, name):
        """Roster rows whose name could be written ``name`` (none, one, or several)."""
        return self.by_name.get(norm(name), [])

    def login(self, login):
        """The row of ``login`` (exact, else the one row equal to it ignoring case)."""
        if login in self.by_login:
            return self.by_login[login]
        folded = self.by_folded.get(login.casefold(), [])
        return folded[0] if len(folded) == 1 else None
