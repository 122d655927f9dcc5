"""Grading a class: stock ``nbgrader autograde`` vs the engine (bngrade), and what isolation
costs. Prints measured figures and ratios side by side; not a test.

    .venv/bin/python bench/bench_grading.py [--n 200] [--assignment ps1-forward]

Arms, all on the same synthetic class (correct, wrong and blank submissions in turn):

* stock: ONE ``nbgrader autograde <assignment>`` command for the whole class (the fair
  baseline: nbgrader's own start-up paid once);
* engine: ``bngrade autograde`` with 1 and with 2 local workers (fresh gradebook each);
* engine unisolated: 2 workers with ``--unsafe-no-isolation`` (the same work without
  bubblewrap): the difference is what isolation costs;
* sandbox alone: starting a scoring sandbox and running one cell, with and without
  bubblewrap (mean of ``--sandboxes`` starts).

Target: the engine with 2 workers at least 3x faster than stock per submission.
The projection to a whole cohort on a cluster is ``bench/bench_scale.py``.
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

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bngrade import nbg, spec  # noqa: E402
from bngrade.driver import engine  # noqa: E402

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
    """One ``nbgrader autograde`` command for the whole class; seconds per submission."""
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    run = lambda *a: subprocess.run(["nbgrader", *a], cwd=course, env=env,  # noqa: E731
                                    capture_output=True, text=True, check=True)
    run("generate_assignment", assignment, "--force")
    start = time.perf_counter()
    run("autograde", assignment, "--force")
    return (time.perf_counter() - start) / len(students)


def sandbox_start(isolated, n):
    """Seconds to start a scoring sandbox and run one cell in it (mean of ``n``)."""
    from bngrade.sandbox.box.limits import Limits
    from bngrade.worker.calls import Session

    start = time.perf_counter()
    for _ in range(n):
        session = Session(Limits(seconds=30), isolated=isolated)
        assert session.run_cell("x = 1", "<bench>") is None
        session.close()
    return (time.perf_counter() - start) / n


def engine_run(course, assignment, workers, time_limit, isolated=True):
    fresh_db(course)
    start = time.perf_counter()
    summary = engine.autograde(assignment, str(course), workers=workers, progress=False,
                               time_limit=time_limit, log=lambda m: None, isolated=isolated)
    wall = time.perf_counter() - start
    return wall, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--assignment", default="ps1-forward")
    ap.add_argument("--source-root", type=pathlib.Path, default=ROOT)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--sandboxes", type=int, default=20, help="starts for the sandbox arm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bngrade-bench-") as tmp:
        course = make_course(tmp, args.source_root, args.assignment)
        build_class(course, args.assignment, args.n)
        print(f"{args.n} submissions of {args.assignment} (correct/wrong/correct/blank), "
              f"{os.cpu_count()} cores")
        res = {}
        for key, workers, isolated in ((1, 1, True), (2, 2, True), ("unsafe", 2, False)):
            wall, summary = engine_run(course, args.assignment, workers, args.time_limit,
                                       isolated)
            assert summary["students"] == args.n
            res[key] = wall / args.n
            print(f"engine, {workers} worker(s){'' if isolated else ', UNISOLATED'}: "
                  f"{wall:.1f} s for {args.n} -> {res[key]:.3f} s per submission "
                  f"(mean score {summary['mean']:.2f})")
        fresh_db(course)
        res["stock"] = stock(course, args.assignment, range(args.n))
        print(f"stock nbgrader autograde, one command for the class: {res['stock']:.3f} s per "
              "submission")
        res["box"] = sandbox_start(True, args.sandboxes)
        res["nobox"] = sandbox_start(False, args.sandboxes)
        print(f"sandbox start + one cell: {res['box']:.3f} s with bubblewrap, "
              f"{res['nobox']:.3f} s without ({args.sandboxes} starts each)")
        print("side by side, seconds per submission: "
              f"stock {res['stock']:.3f} | engine 1 worker {res[1]:.3f} | "
              f"engine 2 workers {res[2]:.3f} | engine 2 workers unisolated {res['unsafe']:.3f}")
        print(f"speed-up, engine 2 workers vs stock: {res['stock'] / res[2]:.2f}x (target >= 3x)")
        print(f"cost of isolation, engine 2 workers: {res[2] / res['unsafe']:.2f}x "
              f"({res[2] - res['unsafe']:+.3f} s per submission)")


if __name__ == "__main__":
    main()
