"""Benchmark: copy detection (``bngrade.driver.copies``) for a small and a large class.

Every student writes the short answers the common way (shared by all: discounted) and a
longer answer of their own (statements drawn at random: every text differs); 1 in 100
copies a classmate's longer answer with every name changed and two independent
statements swapped. Prints each class's time, how many pairs were flagged and whether the
planted copies are exactly the flagged pairs, and the time ratio against the ratio of class
sizes (about equal: linear). Not a test: speed is reported, not asserted.

    make bench                      # or: .venv/bin/python bench/bench_copies.py
    .venv/bin/python bench/bench_copies.py --small 200 --large 2000
"""

import argparse
import random
import time

from bngrade.driver import copies

COMMON = '''
def rel_error(a, b):
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    if scale == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)
'''
OPS = ["+", "-", "*", "/"]
CALLS = ["np.mean({}, axis=0)", "np.sqrt({} + eps)", "np.sum({}, axis=0)", "({} ** 2)",
         "np.maximum({}, 0)", "{}.T @ {}", "np.abs({})"]


def own_answer(rng):
    """A backward pass of random statements (its text is the student's own)."""
    names = ["dy", "x", "gamma"]
    lines = []
    for k in range(10):
        a, b = rng.choice(names), rng.choice(names)
        call = rng.choice(CALLS).format(a, b)
        lines.append(f"    t{k} = {call} {rng.choice(OPS)} {b} * {rng.randint(2, 999)}")
        names.append(f"t{k}")
    return ("def backward(dy, x, gamma, eps=1e-5):\n" + "\n".join(lines)
            + f"\n    return {names[-1]}, {names[-2]}\n")


def disguised(text, i):
    """Every name changed, the first two (independent) statements swapped."""
    for k in range(9, -1, -1):
        text = text.replace(f"t{k} ", f"tmp_{i}_{k} ").replace(f"t{k},", f"tmp_{i}_{k},") \
            .replace(f"t{k}\n", f"tmp_{i}_{k}\n").replace(f"t{k})", f"tmp_{i}_{k})")
    return text


def class_of(n, rng):
    answers, planted = {}, set()
    texts = [own_answer(rng) for _ in range(n)]
    for i in range(n):
        answers[f"s{i:04d}"] = {"ps2-backward": [COMMON.replace("scale", f"sc{i}"), texts[i]]}
    for i in range(0, n, 100):
        j = (i + 37) % n
        answers[f"s{j:04d}"] = {"ps2-backward": [COMMON, disguised(texts[i], j)]}
        planted.add((f"s{i:04d}", f"s{j:04d}"))
    return answers, planted


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=200)
    p.add_argument("--large", type=int, default=2000)
    args = p.parse_args()
    times = {}
    for n in (args.small, args.large):
        answers, planted = class_of(n, random.Random(n))
        started = time.perf_counter()
        result = copies.compare(answers, {})
        times[n] = time.perf_counter() - started
        found = {tuple(sorted((q["a"], q["b"]))) for q in result.pairs}
        print(f"{n:6d} students: {times[n]:7.2f} s  ({1000 * times[n] / n:.2f} ms per student), "
              f"{len(result.pairs)} pairs flagged, the {len(planted)} planted copies "
              f"{'exactly' if found == planted else 'NOT exactly'}")
    print(f"time ratio {times[args.large] / times[args.small]:.1f} for a class "
          f"{args.large / args.small:.0f}x larger (equal: linear)")


if __name__ == "__main__":
    main()
