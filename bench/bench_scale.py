"""Grading 2,000 students: a projection from measured costs, and a real loopback Dask run.
Prints measured figures; not a test.

    .venv/bin/python bench/bench_scale.py project [--n 10] [--students 2000]
    .venv/bin/python bench/bench_scale.py loopback [--n 1000] [--assignment ps1-forward]
                                                   [--workers 2]

``project`` grades ``--n`` submissions of every assignment of the course (the folders of
``solutions/``) with one local worker and reads each run's ``timings`` (``summary.json``):
a worker's seconds per submission, the driver's recording seconds per submission. From
them: the worker-core-hours of ``--students`` students times every assignment, the wall
time for W single-core workers, and how many workers one driver keeps up with (a worker's
seconds per submission over the driver's).

``loopback`` is the real thing at size: ``dask scheduler`` and ``--workers`` ``dask worker``
processes on 127.0.0.1 with mutual TLS (certificates from ``bngrade certs``), ``--n``
submissions graded in sandboxes, the driver recording every result. Target: the driver's
recording time per submission under 1/50 of a worker's grading time per submission (one
driver serves 50 workers).

Classes are made from the solution: correct, mistaken (the first named mistake of two
questions, from ``tests/injections.py``), correct, mistaken, blank (the release), in turn.
"""

import argparse
import copy
import os
import pathlib
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_grading import fresh_db, make_course  # noqa: E402
from exercise_tools import inject  # noqa: E402
from injections import ALL  # noqa: E402

from bngrade import nbg, spec  # noqa: E402
from bngrade.driver import engine, tls  # noqa: E402

TARGET = 50  # workers one driver must keep up with


def assignments(source_root):
    """The course's assignments: every ``solutions/<id>/<id>.ipynb``."""
    return sorted(p.name for p in (source_root / "solutions").iterdir()
                  if (p / f"{p.name}.ipynb").exists())


def variants(course, assignment, source_root):
    """``[(kind, notebook)]``: correct, mistaken, correct, mistaken, blank."""
    cfg = nbg.load_config(course)
    path = source_root / "solutions" / assignment / f"{assignment}.ipynb"
    solution = nbformat.read(path, 4)
    rel = nbg.release(copy.deepcopy(solution), assignment, assignment,
                      f"sqlite:///{course / 'rel.db'}", cfg)
    answers = [c.index for c in spec.build(assignment, solution, rel).cells
               if c.kind in ("answer", "manual")]

    def typed(answer_nb):
        nb = copy.deepcopy(rel)
        for i in answers:
            nb.cells[i].source = answer_nb.cells[i].source
        return nb

    mistakes, seen = [], set()
    for inj in ALL:
        if inj.assignment == assignment and inj.grade_id not in seen and len(mistakes) < 2:
            seen.add(inj.grade_id)
            mistakes.append((f"mistaken ({inj.name})", typed(inject(solution, inj.edits))))
    correct = ("correct", typed(solution))
    mistakes = mistakes or [correct, correct]  # an assignment without named mistakes yet
    return [correct, mistakes[0], correct, mistakes[-1], ("blank", rel)]


def build_class(course, assignment, n, source_root):
    kinds = variants(course, assignment, source_root)
    texts = [(kind, nbformat.writes(nb)) for kind, nb in kinds]
    for i in range(n):
        folder = course / "submitted" / f"s{i:04d}" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{assignment}.ipynb").write_text(texts[i % len(texts)][1])
    return [k for k, _ in kinds]


def grade(course, assignment, **kw):
    fresh_db(course)
    return engine.autograde(assignment, str(course), progress=False, log=lambda m: None,
                            time_limit=kw.pop("time_limit", 30), **kw)


def costs(timings):
    """(a worker's mean seconds per submission, the driver's seconds per submission)."""
    w, d = timings["workers"]["submission"], timings["driver"]
    return w["total"] / w["n"], d["per_submission"]


def fmt_phases(d):
    return ", ".join(f"{p} {1000 * d[p]['per_submission']:.1f}"
                     for p in ("decode", "validate", "outputs", "seal", "write"))


def project(args):
    measured = {}
    with tempfile.TemporaryDirectory(prefix="bngrade-scale-") as tmp:
        for a in assignments(args.source_root):
            course = make_course(pathlib.Path(tmp) / a, args.source_root, a)
            kinds = build_class(course, a, args.n, args.source_root)
            t = grade(course, a, workers=1)["timings"]
            measured[a] = costs(t)
            print(f"{a}: {args.n} submissions ({', '.join(kinds)} in turn), 1 worker: "
                  f"worker {measured[a][0]:.2f} s per submission (median "
                  f"{t['workers']['submission']['median']:.2f}, p95 "
                  f"{t['workers']['submission']['p95']:.2f}), driver "
                  f"{1000 * measured[a][1]:.1f} ms ({fmt_phases(t['driver'])} ms)", flush=True)
    report(measured, args.students, args.scale_workers)


def report(measured, students, workers):
    n_a = len(measured)
    worker_s = sum(w for w, _ in measured.values())  # one student, every assignment
    driver_s = sum(d for _, d in measured.values())
    core_h = students * worker_s / 3600
    driver_h = students * driver_s / 3600
    serve = worker_s / driver_s
    print(f"\nprojection: {students:,} students x {n_a} assignments = "
          f"{students * n_a:,} submissions")
    print(f"  worker time: {core_h:.1f} core-hours ({worker_s:.1f} s per student); "
          f"driver's recording: {driver_h * 60:.1f} min ({1000 * driver_s / n_a:.1f} ms per "
          "submission)")
    print(f"  one driver keeps up with {serve:.0f} single-core workers "
          f"(target >= {TARGET}: {'met' if serve >= TARGET else 'NOT met'})")
    print("  wall time (grading only; workers beyond what the driver serves do not help):")
    for w in workers:
        wall = max(students * worker_s / w, students * driver_s)
        bound = "driver" if students * driver_s > students * worker_s / w else "workers"
        print(f"    {w:4d} workers: {wall / 3600:6.2f} h  (set by the {bound})")


def loopback(args):
    from servers import dask_processes

    a = args.assignment
    with tempfile.TemporaryDirectory(prefix="bngrade-loopback-") as tmp:
        tmp = pathlib.Path(tmp)
        course = make_course(tmp / "course", args.source_root, a)
        kinds = build_class(course, a, args.n, args.source_root)
        certs = str(tmp / "certs")
        tls.make_certs(certs)
        (tmp / "logs").mkdir()
        with dask_processes(tmp / "logs", args.workers, certs) as address:
            start = time.perf_counter()
            summary = grade(course, a, scheduler=address,
                            security=tls.security(certs, "client"))
            wall = time.perf_counter() - start
    t = summary["timings"]
    worker, driver = costs(t)
    ws, q = t["workers"]["submission"], t["queue"]
    print(f"loopback Dask cluster: scheduler + {args.workers} single-thread workers on "
          f"127.0.0.1, mutual TLS; {os.cpu_count()} cores")
    print(f"{args.n} submissions of {a} ({', '.join(kinds)} in turn): graded and recorded "
          f"{t['graded']} in {wall:.0f} s wall ({t['graded'] / wall:.2f} per s); mean score "
          f"{summary['mean']:.2f} / {summary['max_score']:g}")
    print(f"worker per submission: mean {worker:.2f} s, median {ws['median']:.2f}, p95 "
          f"{ws['p95']:.2f}, max {ws['max']:.2f}; queue median {q['median']:.2f} s")
    print(f"driver per submission: {1000 * driver:.1f} ms recording ({fmt_phases(t['driver'])}"
          f" ms); total {t['driver']['total']:.1f} s of {t['phases']['grading']:.0f} s grading")
    print(f"driver / worker per submission: 1/{worker / driver:.0f} (target under 1/{TARGET}: "
          f"{'met' if worker / driver >= TARGET else 'NOT met'})")
    if args.projection:
        report({a: (worker, driver)}, args.students, args.scale_workers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-root", type=pathlib.Path, default=ROOT)
    ap.add_argument("--students", type=int, default=2000)
    ap.add_argument("--scale-workers", type=int, nargs="+", default=[8, 32, 64, 128, 256],
                    help="worker counts for the wall-time projection")
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("project", help="measure every assignment, project to --students")
    p.add_argument("--n", type=int, default=10, help="submissions per assignment")
    lb = sub.add_parser("loopback", help="a real run through a loopback TLS Dask cluster")
    lb.add_argument("--n", type=int, default=1000)
    lb.add_argument("--assignment", default="ps1-forward")
    lb.add_argument("--workers", type=int, default=2)
    lb.add_argument("--projection", action="store_true",
                    help="also project from this assignment's figures")
    args = ap.parse_args()
    (project if args.mode == "project" else loopback)(args)


if __name__ == "__main__":
    main()
