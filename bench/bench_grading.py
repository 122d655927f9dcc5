"""Grading a class: stock ``nbgrader autograde`` vs the engine (bngrade), and what isolation
costs. Prints measured figures and ratios side by side; not a test.

    .venv/bin/python bench/bench_grading.py [--n 24] [--assignments ps1-forward,...]

Per assignment (default ps1, ps4 and ps6), arms on the same synthetic class (correct,
wrong and blank submissions in turn), in one run:

* stock: ONE ``nbgrader autograde <assignment>`` command for the whole class (the fair
  baseline: nbgrader's own start-up paid once);
* engine: ONE ``bngrade autograde`` command for the class, as the README runs it, with 1
  and with 2 local workers (fresh gradebook each; the command's start, its sandbox check
  and its workers' imports are in its time, as nbgrader's start is in stock's);
* engine unisolated: 2 workers with ``--unsafe-no-isolation`` (the same work without
  bubblewrap): the difference is what isolation costs;
* sandbox alone: starting a scoring sandbox and running one cell, with and without
  bubblewrap (mean of ``--sandboxes`` starts).

The engine runs each notebook once (the scoring sandbox captures the outputs; no
in-kernel run). Each command pays its own start once per class (the engine: about 2 s
of imports, the sandbox check and the fork server, then about 1 s of reports: copy
detection and the review page; nbgrader: its start), so the ratio depends on the
class's size: report ``--n 24`` and a larger class (``--n 96``) side by side.
Target: the engine with 2 workers on 2 cores at least 5x faster than stock per
submission. The machine's load (``/proc/loadavg``) is printed before and after
each arm: the figures are only as good as the machine was quiet.
The projection to a whole cohort on a cluster is ``bench/bench_scale.py``.
"""

import argparse
import copy
import json
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

MISTAKES = (("x.var(axis=0)", "x.var(axis=0, ddof=1)"),  # the unbiased-variance mistake
            ("var = ", "var = 1.0 + "))  # any notebook that computes a variance


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
    done = False
    for old, new in MISTAKES:
        for c in sp.cells:
            cell = wrong.cells[c.index]
            if not done and c.kind == "answer" and old in cell.source:
                cell.source = cell.source.replace(old, new, 1)
                done = True
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
    """One ``bngrade autograde`` command for the whole class, as the README runs it (its
    start, the sandbox check and the fork server's imports included); wall seconds and
    the run's ``summary.json``."""
    fresh_db(course)
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "bngrade", "autograde", assignment, "--course-dir",
           str(course), "--workers", str(workers), "--time-limit", str(time_limit),
           "--no-progress"] + ([] if isolated else ["--unsafe-no-isolation"])
    start = time.perf_counter()
    subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = json.loads((course / "reports" / assignment / "summary.json").read_text())
    return wall, summary


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench(args, assignment, tmp):
    """Every arm on one assignment; seconds per submission by arm."""
    course = make_course(pathlib.Path(tmp) / assignment, args.source_root, assignment)
    build_class(course, assignment, args.n)
    print(f"\n{assignment}: {args.n} submissions (correct/wrong/correct/blank)", flush=True)
    res = {}
    fresh_db(course)
    before = load()
    res["stock"] = stock(course, assignment, range(args.n))
    print(f"  stock nbgrader autograde, one command for the class: {res['stock']:.3f} s per "
          f"submission  [load {before} -> {load()}]", flush=True)
    for key, workers, isolated in ((1, 1, True), (2, 2, True), ("unsafe", 2, False)):
        before = load()
        wall, summary = engine_run(course, assignment, workers, args.time_limit, isolated)
        assert summary["students"] == args.n
        res[key] = wall / args.n
        print(f"  engine, {workers} worker(s){'' if isolated else ', UNISOLATED'}: "
              f"{wall:.1f} s -> {res[key]:.3f} s per submission (mean score "
              f"{summary['mean']:.2f})  [load {before} -> {load()}]", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--assignments",
                    default="ps1-forward,ps4-conv-and-folding,ps6-in-practice")
    ap.add_argument("--source-root", type=pathlib.Path, default=ROOT)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--sandboxes", type=int, default=20, help="starts for the sandbox arm")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; load {load()}")
    table = {}
    with tempfile.TemporaryDirectory(prefix="bngrade-bench-") as tmp:
        for assignment in args.assignments.split(","):
            table[assignment] = bench(args, assignment, tmp)
    box, nobox = sandbox_start(True, args.sandboxes), sandbox_start(False, args.sandboxes)
    print(f"\nsandbox start + one cell: {box:.3f} s with bubblewrap, {nobox:.3f} s without "
          f"({args.sandboxes} starts each): isolation alone costs {box - nobox:+.3f} s per "
          f"notebook  [load {load()}]")
    print("\nseconds per submission, side by side (ratio: stock / arm)")
    print(f"{'assignment':24} {'stock':>8} {'1 worker':>16} {'2 workers':>16} "
          f"{'2 unisolated':>16} {'isolation':>10}")
    for assignment, r in table.items():
        one, two, bare = (f"{r[k]:.3f} ({r['stock'] / r[k]:.1f}x)" for k in (1, 2, "unsafe"))
        print(f"{assignment:24} {r['stock']:>8.3f} {one:>16} {two:>16} {bare:>16} "
              f"{r[2] / r['unsafe']:>9.2f}x")
    print("target: 2 workers >= 5x stock on 2 cores; 'isolation' = 2 workers isolated / "
          "unisolated")


if __name__ == "__main__":
    main()
