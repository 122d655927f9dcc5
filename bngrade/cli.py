"""``bngrade``: the instructor's command.

    bngrade autograde ps1-forward [--course-dir .] [--workers N | --scheduler tcp://host:port]
                                  [--db URL] [--student ID ...] [--zip submissions.zip]
    bngrade summary ps1-forward [--course-dir .] [--db URL]
"""

import argparse
import sys

from . import __version__


def _parser():
    p = argparse.ArgumentParser(prog="bngrade", description=(
        "Grade nbgrader submissions for a whole class in parallel, with scores computed "
        "outside the students' processes."))
    p.add_argument("--version", action="version", version=f"bngrade {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("autograde", help="grade an assignment (resumes; idempotent)")
    a.add_argument("assignment")
    a.add_argument("--course-dir", default=".", help="the nbgrader course root (default: .)")
    a.add_argument("--db", help="gradebook SQLAlchemy URL (default: nbgrader's, "
                   "sqlite:///<course>/gradebook.db); e.g. postgresql://user@host/db")
    a.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    a.add_argument("--scheduler", help="a Dask scheduler address, e.g. tcp://10.0.0.5:8786; "
                   "its workers must have this package installed")
    a.add_argument("--student", action="append", help="grade (again) only this student; "
                   "repeat for several")
    a.add_argument("--zip", help="an LMS zip of notebooks to collect into submitted/ first")
    a.add_argument("--zip-regexp", help="file-name pattern with (?P<student_id>...) and "
                   "(?P<file_id>...) groups, as nbgrader zip_collect's")
    a.add_argument("--force", action="store_true", help="regrade everything")
    a.add_argument("--time-limit", type=float, help="seconds per question (default: the "
                   "course's Execute.timeout, else 30)")
    a.add_argument("--memory-mb", type=int, default=1024, help="memory an answer may use")
    a.add_argument("--unsafe-no-isolation", action="store_true", help="run student code "
                   "WITHOUT a sandbox (when bubblewrap cannot be used); every row is flagged "
                   "'unisolated'")
    a.add_argument("--no-progress", action="store_true")
    s = sub.add_parser("summary", help="print the summary of an assignment's recorded grades")
    s.add_argument("assignment")
    s.add_argument("--course-dir", default=".")
    s.add_argument("--db")
    return p


def _log(message):
    print(message, file=sys.stderr)


def main(argv=None):
    args = _parser().parse_args(argv)
    from . import engine, report
    from .course import Course
    from .store import Store

    if args.command == "summary":
        course = Course(args.course_dir, args.db)
        store = Store(course.db_url, course.course_id)
        try:
            summary = report.write(course, store, args.assignment)
        finally:
            store.close()
    else:
        from .isolation import IsolationUnavailable

        try:
            summary = engine.autograde(
                args.assignment, args.course_dir, workers=args.workers,
                scheduler=args.scheduler, db_url=args.db, students=args.student,
                zip_path=args.zip, zip_regexp=args.zip_regexp, force=args.force,
                time_limit=args.time_limit, memory_mb=args.memory_mb,
                isolated=not args.unsafe_no_isolation, progress=not args.no_progress, log=_log)
        except IsolationUnavailable as exc:
            _log(f"bngrade: refusing to grade: {exc}")
            return 2
    print(report.render(summary))
    for kind, path in summary["files"].items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
