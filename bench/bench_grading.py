"""Grading a class: stock ``nbgrader autograde`` vs the engine (bngrade), and the engine's
overhead over bare notebook execution. Prints measured figures and ratios; not a test.

    .venv/bin/python bench/bench_grading.py [--n 200] [--stock-n N] [--assignment ps1-forward]

Arms, all on the same synthetic class (correct, wrong and blank submissions in turn):

* stock: the ``nbgrader autograde --student S`` command, one student at a time
  (``--stock-n`` of them, when the full class would take too long);
* bare: each submitted notebook executed by nbclient in a fresh kernel, nothing else;
* engine: ``bngrade autograde`` with 1 and with 2 local workers (fresh gradebook each).

Targets: engine with 2 workers >= 1.8x faster than stock per submission; engine with
1 worker <= 1.3x bare execution per submission. The per-submission cost of the
1-worker engine (one core busy) projects the wall time of a large class on Dask.
"""

import argparse
import copy
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bngrade import engine, nbg, spec  # noqa: E402

MISTAKE = ("x.var(axis=0)", "x.var(axis=0, ddof=1)")  # the unbiased-variance mistake


def build_class(course, assignment, n):
    """``n`` submissions made from the release: correct, wrong and blank in turn."""
    cfg = nbg.load_config(course)
    src = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", 4)
    rel = nbg.release(src, assignment, assignment, f"sqlite:///{course / 'rel.db'}", cfg)
    sp = spec.build(assignment, src, rel)
    correct = copy.deepcopy(rel)
    for c in sp.cells:
        if c.kind in ("answer", "manual"):
            correct.cells[c.index].source = c.source
    wrong = copy.deepcopy(correct)
    for cell in wrong.cells:
        if MISTAKE[0] in cell.source:
            cell.source = cell.source.replace(MISTAKE[0], MISTAKE[1], 1)
            break
    kinds = [("correct", correct), ("wrong", wrong), ("correct", correct), ("blank", rel)]
    students = []
    for i in range(n):
        kind, nb = kinds[i % len(kinds)]
        folder = course / "submitted" / f"s{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
        students.append(f"s{i:03d}")
    return students


def make_course(tmp, source_root, assignment):
    course = pathlib.Path(tmp) / "course"
    if course.exists():
        return course
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(source_root / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copy(source_root / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def fresh_db(course):
    for name in ("gradebook.db", "autograded", "feedback", "reports"):
        path = course / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def stock(course, assignment, students):
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    run = lambda *a: subprocess.run(["nbgrader", *a], cwd=course, env=env,  # noqa: E731
                                    capture_output=True, text=True, check=True)
    run("generate_assignment", assignment, "--force")
    start = time.perf_counter()
    for s in students:
        run("autograde", assignment, "--student", s, "--force")
    return (time.perf_counter() - start) / len(students)


def bare(course, assignment, students):
    start = time.perf_counter()
    for s in students:
        path = course / "submitted" / s / assignment / f"{assignment}.ipynb"
        nb = nbformat.read(path, 4)
        NotebookClient(nb, timeout=60, allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return (time.perf_counter() - start) / len(students)


def engine_run(course, assignment, workers, time_limit):
    fresh_db(course)
    start = time.perf_counter()
    summary = engine.autograde(assignment, str(course), workers=workers, progress=False,
                               time_limit=time_limit, log=lambda m: None)
    wall = time.perf_counter() - start
    return wall, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--stock-n", type=int, help="students for the stock arm (default: n)")
    ap.add_argument("--bare-n", type=int, default=40, help="notebooks for the bare arm")
    ap.add_argument("--assignment", default="ps1-forward")
    ap.add_argument("--source-root", type=pathlib.Path, default=ROOT)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--projection-n", type=int, default=20,
                    help="submissions per assignment for the projection")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bngrade-bench-") as tmp:
        course = make_course(tmp, args.source_root, args.assignment)
        students = build_class(course, args.assignment, args.n)
        print(f"{args.n} submissions of {args.assignment} (correct/wrong/correct/blank), "
              f"{os.cpu_count()} cores")
        res = {}
        for workers in (1, 2):
            wall, summary = engine_run(course, args.assignment, workers, args.time_limit)
            assert summary["students"] == args.n
            res[workers] = wall / args.n
            res["driver"] = summary["driver_seconds"] / args.n
            print(f"engine, {workers} worker(s): {wall:.1f} s for {args.n} -> "
                  f"{res[workers]:.3f} s per submission (mean score {summary['mean']:.2f}; "
                  f"the driver spent {res['driver']:.3f} s per submission recording)")
        res["bare"] = bare(course, args.assignment, students[:args.bare_n])
        print(f"bare nbclient execution: {res['bare']:.3f} s per notebook "
              f"({min(args.bare_n, args.n)} notebooks)")
        stock_n = min(args.stock_n or args.n, args.n)
        fresh_db(course)
        res["stock"] = stock(course, args.assignment, students[:stock_n])
        print(f"stock nbgrader autograde CLI: {res['stock']:.3f} s per submission "
              f"({stock_n} students, one command each)")
        speedup, overhead = res["stock"] / res[2], res[1] / res["bare"]
        print(f"speed-up, engine 2 workers vs stock: {speedup:.2f}x (target >= 1.8x)")
        print(f"overhead, engine 1 worker vs bare execution: {overhead:.2f}x (target <= 1.3x)")
        costs = {}
        for a in sorted(p.name for p in (args.source_root / "solutions").iterdir()
                        if (p / f"{p.name}.ipynb").exists()):
            other = make_course(pathlib.Path(tmp) / a, args.source_root, a)
            build_class(other, a, args.projection_n)
            wall, _ = engine_run(other, a, 1, args.time_limit)
            costs[a] = wall / args.projection_n
        print("engine, 1 worker, per submission of each assignment "
              f"({args.projection_n} each, start-up included): "
              + ", ".join(f"{a} {c:.3f} s" for a, c in costs.items()))
        per_student = sum(costs.values()) * 5 / len(costs)  # five assignments per student
        workers_bound = 2000 * per_student / 32
        driver_bound = 2000 * 5 * res["driver"]
        print(f"projection: 2,000 students x 5 assignments on 32 single-core Dask workers: "
              f"workers {workers_bound / 60:.1f} min ({per_student:.2f} core-s per student), "
              f"driver {driver_bound / 60:.1f} min (10,000 x {res['driver']:.3f} s of "
              f"recording); wall ~ {max(workers_bound, driver_bound) / 60:.1f} min, set by the "
              f"{'driver' if driver_bound > workers_bound else 'workers'}")


if __name__ == "__main__":
    main()
