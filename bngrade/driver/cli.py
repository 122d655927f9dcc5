"""``bngrade``: the instructor's command.

    bngrade autograde ps1-forward [--course-dir .] [--workers N |
                                  --scheduler tls://host:port --certs DIR]
                                  [--db URL] [--student ID ...]
                                  [--zip submissions.zip [--roster roster.csv]]
    bngrade summary ps1-forward [--course-dir .] [--db URL]
    bngrade export ps1-forward --format canvas|moodle|blackboard|csv [--out FILE]
    bngrade bundle ps1-forward --lms canvas|moodle [--out FILE] [--roster FILE]
    bngrade verify ps1-forward [--course-dir .] [--db URL]
    bngrade feedback ps1-forward [--course-dir .] [--db URL] [--student ID ...]
    bngrade review ps1-forward | --all [--course-dir .] [--db URL]
    bngrade certs DIR [--host NAME ...] [--days N] [--force]
"""

import argparse
import os
import sys

from .. import __version__


def _parser():
    p = argparse.ArgumentParser(prog="bngrade", description=(
        "Grade nbgrader submissions for a whole class in parallel, with scores computed "
        "outside the students' processes."))
    p.add_argument("--version", action="version", version=f"bngrade {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    # what every command on an assignment's grades takes
    one = argparse.ArgumentParser(add_help=False)
    one.add_argument("assignment")
    one.add_argument("--course-dir", default=".", help="the nbgrader course root (default: .)")
    one.add_argument("--db", help="gradebook SQLAlchemy URL (default: nbgrader's, "
                     "sqlite:///<course>/gradebook.db); e.g. postgresql://user@host/db")
    a = sub.add_parser("autograde", parents=[one],
                       help="grade an assignment (resumes; idempotent)")
    a.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    a.add_argument("--scheduler", help="a Dask scheduler's TLS address, e.g. "
                   "tls://10.0.0.5:8786 (plain tcp:// is refused); its workers must have this "
                   "package installed")
    a.add_argument("--certs", help="the folder of the cluster's TLS certificates (made by "
                   "`bngrade certs DIR`); required with --scheduler")
    a.add_argument("--student", action="append", help="grade (again) only this student; "
                   "repeat for several")
    a.add_argument("--zip", help="an LMS download (Canvas, Moodle or Blackboard zip) to "
                   "collect into submitted/ first")
    a.add_argument("--roster", help="a CSV mapping LMS ids and names to logins (see README)")
    a.add_argument("--zip-regexp", help="file-name pattern with (?P<student_id>...) and "
                   "(?P<file_id>...) groups, as nbgrader zip_collect's (replaces the LMS "
                   "layouts)")
    a.add_argument("--force", action="store_true", help="regrade everything")
    a.add_argument("--time-limit", type=float, help="seconds per answer cell and graded "
                   "call, in the sandbox and the kernel (default: derived from the reference "
                   "solution's own time: max(5, 10 x its slowest step), measured once)")
    a.add_argument("--memory-mb", type=int, default=1024, help="memory an answer may use")
    a.add_argument("--unsafe-no-isolation", action="store_true", help="run student code "
                   "WITHOUT a sandbox (when bubblewrap cannot be used); every row is flagged "
                   "'unisolated'")
    a.add_argument("--no-progress", action="store_true")
    a.add_argument("--due", help="the due date, e.g. '2026-03-02 23:59:00 UTC' (default: "
                   "nbgrader's, `nbgrader db assignment add ID --duedate ...`)")
    a.add_argument("--late-penalty", type=float, help="percent of the points taken per day "
                   "late (each started day counts whole); kept for later runs and exports")
    a.add_argument("--late-max-days", type=float, help="with --late-penalty: later than "
                   "this many days scores 0")
    sub.add_parser("summary", parents=[one],
                   help="print the summary of an assignment's recorded grades")
    e = sub.add_parser("export", parents=[one], help="write the grades (manual ones "
                       "included) in an LMS's import format")
    e.add_argument("--format", required=True, choices=("canvas", "moodle", "blackboard", "csv"))
    e.add_argument("--out", help="the file to write (default: reports/<id>/<id>-<format>.csv)")
    e.add_argument("--roster", help="a CSV of logins with names and LMS ids (see README)")
    e.add_argument("--title", help="the grade column's title (default: the assignment id)")
    e.add_argument("--column-id", help="the LMS's id of the grade column (Canvas's "
                   "assignment id, Blackboard's column id), to fill an existing column")
    e.add_argument("--include-unverified", action="store_true", help="write the rows that "
                   "fail `bngrade verify` too, flagged (default: refuse, naming them)")
    b = sub.add_parser("bundle", parents=[one], help="zip the feedback pages as the LMS's "
                       "feedback upload expects (Canvas: Re-Upload Submissions; Moodle: "
                       "Upload multiple feedback files in a zip)")
    b.add_argument("--lms", required=True, choices=("canvas", "moodle"))
    b.add_argument("--out", help="the zip to write (default: in the assignment's reports)")
    b.add_argument("--roster", help="a CSV with LMS ids (for Moodle: its grading worksheet)")
    sub.add_parser("verify", parents=[one], help="report every gradebook row of an "
                   "assignment that does not match the seal bngrade wrote (exit status 1 if any)")
    f = sub.add_parser("feedback", parents=[one], help="write the feedback pages again from "
                       "the gradebook and the autograded notebooks (no grading)")
    f.add_argument("--student", action="append", help="only this student; repeat for several")
    r = sub.add_parser("review", help="write the class review page (review.html, "
                       "review.json) of an assignment, or with --all of every assignment and "
                       "one page joining them")
    r.add_argument("assignment", nargs="?")
    for action in one._actions[1:]:  # --course-dir, --db as every command on grades has them
        r._add_action(action)
    r.add_argument("--all", action="store_true", help="every assignment in the gradebook")
    c = sub.add_parser("certs", help="make the TLS certificates of a Dask cluster (an "
                       "authority and scheduler, worker, client certificates)")
    c.add_argument("folder")
    c.add_argument("--host", action="append", help="a host name or address of the scheduler "
                   "or a worker, written in the certificates; repeat for several "
                   "(default: 127.0.0.1 and localhost)")
    c.add_argument("--days", type=int, default=365, help="validity (default 365)")
    c.add_argument("--force", action="store_true", help="replace existing certificates")
    return p


def _verify(args):
    from .. import sanitize
    from . import integrity
    from .course import Course
    from .store import Store

    course = Course(args.course_dir, args.db)
    key = integrity.load_key(course_root=course.root)
    store = Store(course.db_url, course.course_id)
    try:
        rows = store.rows(args.assignment)
        bad = integrity.check(store.gb, key, course.course_id, args.assignment, rows)
        overrides = _manual_grades(store.gb, args.assignment)
    finally:
        store.close()
    for m in bad:
        print(f"{sanitize.line(m.student)}: {m.reason}")
    mismatched = {m.student for m in bad}
    ok = sum(r["student"] not in mismatched for r in rows)
    print(f"{args.assignment}: {ok} of {len(rows)} rows match their seal; {len(bad)} do not"
          + (f" (`bngrade autograde {args.assignment}` regrades them)" if bad else ""))
    print(f"manual grades ({len(overrides)}; nbgrader's formgrader, kept over the automatic "
          "score and not sealed):")
    for student, cell, auto, manual in overrides:
        auto = "-" if auto is None else f"{auto:g}"
        print(f"  {sanitize.line(student)} {sanitize.line(cell)}: {auto} -> {manual:g}")
    return 1 if bad else 0


def _manual_grades(gb, assignment):
    """``[(student, grade cell, automatic score, manual score)]`` of every manual grade."""
    from .export import final_scores

    try:
        rows = final_scores(gb, assignment)
    except ValueError:
        return []
    return [(r["student"], cell, auto, manual) for r in rows
            for cell, (auto, manual) in sorted(r["manual"].items())]


def _late_rule(args):
    """Keep the late rule of ``--due``/``--late-penalty`` in the gradebook (bngrade.driver.late)."""
    from . import late
    from .course import Course
    from .store import Store

    course = Course(args.course_dir, args.db)
    the_rule = late.rule(args.due, args.late_penalty if args.late_penalty is not None else 0.0,
                         args.late_max_days)
    store = Store(course.db_url, course.course_id)
    try:
        store.set_setting(late.setting_name(args.assignment), the_rule)
    finally:
        store.close()


def _certs(args):
    from . import tls

    hosts = tuple(args.host or ("127.0.0.1", "localhost"))
    try:
        out = tls.make_certs(args.folder, hosts=hosts, days=args.days, force=args.force)
    except FileExistsError as exc:
        _log(f"bngrade certs: {exc}")
        return 2
    print(f"made in {args.folder}: {', '.join(sorted(os.path.basename(p) for p in out.values()))}")
    print("copy ca.pem and the role's two files to each machine (never ca-key.pem); then:")
    for line in tls.commands(args.folder, hosts[0]):
        print(f"  {line}")
    return 0


def _log(message):
    from ..sanitize import line

    print(line(message, limit=None), file=sys.stderr)  # one line: may quote a student's text


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: say what, lose nothing
        _log(f"bngrade {args.command}: {exc}")
        return 2


def _start_early(args):
    """Start what does not need the driver's modules while they import (about 1.5 s): the
    local pool's fork server (it imports the grading code) and the sandbox check (a few
    sandboxes). Returns the check's future: its result (or its refusal) is awaited before
    anything is graded."""
    import concurrent.futures

    from ..sandbox import isolation
    from . import backends

    if not args.scheduler:
        backends.start_fork_server()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bngrade-check")
    future = pool.submit(isolation.check if not args.unsafe_no_isolation else lambda: None)
    pool.shutdown(wait=False)
    return future


def _run(args):
    from . import integrity

    integrity.private_files()
    if args.command == "verify":
        return _verify(args)
    if args.command == "certs":
        return _certs(args)
    if args.command == "review":
        from .review import command

        return command(args)
    early = _start_early(args) if args.command == "autograde" else None
    from . import engine, export, report
    from .course import Course
    from .lms import CollectionError
    from .store import Store

    if args.command == "feedback":
        from . import regenerate

        n = regenerate.regenerate(args.assignment, args.course_dir, args.db, args.student)
        print(f"{args.assignment}: {n} feedback pages written (feedback/<student>/"
              f"{args.assignment}/)")
        return 0
    if args.command == "export":  # a bad roster or assignment: main says so, exit 2
        path, n, skipped = export.export(args.assignment, args.format, args.course_dir,
                                         args.db, args.out, args.roster, args.title,
                                         args.column_id, args.include_unverified)
        for student, why in skipped:  # one line per student the LMS will not import
            _log(f"warning: {student}: {why}")
        print(f"{args.format}: {n} students written to {path}"
              + (f"; {len(skipped)} of them the LMS will skip (above)" if skipped else ""))
        return 0
    if args.command == "bundle":
        path, n, skipped = export.feedback_bundle(args.assignment, args.lms, args.course_dir,
                                                  args.db, args.out, args.roster)
        for student, why in skipped:
            _log(f"not in the bundle: {student}: {why}")
        print(f"{args.lms}: {n} feedback pages in {path}")
        return 0
    if args.command == "summary":
        course = Course(args.course_dir, args.db)
        store = Store(course.db_url, course.course_id)
        try:
            summary = report.write(course, store, args.assignment)
        finally:
            store.close()
    else:
        from ..build import WorkerRefused
        from ..sandbox.isolation import IsolationUnavailable
        from . import backends, tls

        if args.late_penalty is not None or args.due is not None:
            _late_rule(args)
        try:
            if early is not None:
                early.result()  # the sandbox check started before the imports
            summary = engine.autograde(
                args.assignment, args.course_dir, workers=args.workers,
                scheduler=args.scheduler, db_url=args.db, students=args.student,
                zip_path=args.zip, zip_regexp=args.zip_regexp, roster=args.roster,
                force=args.force, time_limit=args.time_limit, memory_mb=args.memory_mb,
                isolated=not args.unsafe_no_isolation, progress=not args.no_progress, log=_log,
                security=tls.for_scheduler(args.scheduler, args.certs))
        except IsolationUnavailable as exc:
            _log(f"bngrade: refusing to grade: {exc}")
            return 2
        except WorkerRefused as exc:  # another grader on a worker: nothing of it recorded
            _log(f"bngrade autograde: stopped: {exc}")
            return 2
        except CollectionError as exc:  # a line per ambiguous entry (names quoted with repr)
            for i, text in enumerate(str(exc).split("\n")):
                _log(text if i else f"bngrade autograde: {text}")
            return 2
        finally:
            if not args.scheduler:
                backends.stop_fork_server()
    print(report.render(summary))
    for kind, path in summary["files"].items():
        print(f"{kind}: {path}")
    if summary.get("interrupted"):  # as a shell reports a signal: 128 + its number
        import signal

        return 128 + signal.Signals[summary["interrupted"]["signal"]]
    return 0


if __name__ == "__main__":
    sys.exit(main())
