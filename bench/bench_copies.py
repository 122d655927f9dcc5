"""Benchmark: copy detection (``bngrade.driver.copies``) for a small and a large class.

Every student submits the ps1-forward source's code cells with their own names
(so every text differs and every answer is a renamed copy: the worst case, all
flagged). Prints both times side by side and their ratio against the ratio of
class sizes: about equal means linear (hash buckets, no pairwise comparison).
Not a test: speed is reported, not asserted.

    make bench                      # or: .venv/bin/python bench/bench_copies.py
    .venv/bin/python bench/bench_copies.py --small 200 --large 2000
"""

import argparse
import os
import time

import nbformat

from bngrade.driver import copies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def class_of(cells, n):
    return {f"s{i}": {"ps1-forward": [c.replace("x_hat", f"xh{i}").replace("cache", f"c{i}")
                                      for c in cells]} for i in range(n)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=200)
    p.add_argument("--large", type=int, default=2000)
    args = p.parse_args()
    src = nbformat.read(os.path.join(ROOT, "solutions", "ps1-forward", "ps1-forward.ipynb"), 4)
    cells = [c.source for c in src.cells if c.cell_type == "code"]
    refs = {"bnlib": copies.reference_sources(os.path.join(ROOT, "bnlib")), "source": cells}
    times = {}
    for n in (args.small, args.large):
        answers = class_of(cells, n)
        started = time.perf_counter()
        flagged = copies.find(answers, refs)
        times[n] = time.perf_counter() - started
        print(f"{n:6d} students: {times[n]:7.2f} s  ({1000 * times[n] / n:.2f} ms per student, "
              f"{len(flagged)} flagged)")
    print(f"time ratio {times[args.large] / times[args.small]:.1f} for a class "
          f"{args.large / args.small:.0f}x larger (equal: linear)")


if __name__ == "__main__":
    main()
