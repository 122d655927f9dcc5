"""Benchmark: how long the class review (``bngrade.driver.review``) takes for a large class.

Synthetic gradebook rows (what ``Store.rows`` returns) for ``--students`` students on
ps1-forward and ps2-backward (their real parts, points and named mistakes from
``bnlib.checks``), with every verdict the page tells apart (full, part marks, named
mistakes, not attempted, syntax error, crashed, timed out, missing), ps1 as the earlier
assignment of ps2, and 20 copy pairs. Times :func:`bngrade.driver.review.build` (the data),
:func:`bngrade.driver.review.render` (the page with its matplotlib plots; the first render
includes importing matplotlib) and the JSON, for ps2. ``--out DIR`` also writes both
pages and the page joining them there, to look at. Not a test: speed is reported, not
asserted.

    .venv/bin/python bench/bench_review.py                 # 2,000 students
    .venv/bin/python bench/bench_review.py --students 45 --out /tmp/review-demo
"""

import argparse
import json
import os
import random
import time

from bngrade.driver import review
from bnlib.checks import REGISTRY

OTHER = [("not_attempted", "not attempted: it is still the released stub"),
         ("syntax_error", "answer cell has a syntax error at line 3: `return (x`"),
         ("raised", "raised IndexError: index 3 is out of bounds"),
         ("timeout", "did not finish within 5 s"), ("missing", "the notebook was not sent")]


def rows(assignment, n, rng, skill):
    parts = [p for gid, p in REGISTRY.items() if gid.startswith(assignment[:4].replace("-", "_"))]
    out = []
    for i in range(n):
        student = f"s{i:04d}"
        qs = []
        for p in parts:
            r = rng.random() / skill[i]
            if r < 0.6:
                score, mistake, message = float(p.points), None, "OK"
            elif r < 0.7:
                score, mistake, message = p.points / 2, None, "part of the cases right"
            elif r < 0.9 and p.mistakes:
                m = rng.choice(p.mistakes)
                score, mistake, message = 0.0, m.id, m.message
            else:
                mistake, message = rng.choice(OTHER)
                score = 0.0
            qs.append({"grade_id": p.grade_id, "points": float(p.points), "score": score,
                       "mistake": mistake, "message": message, "verified": True,
                       "seconds": rng.lognormvariate(-2.5, 0.8)})
        out.append({"student": student, "score": sum(q["score"] for q in qs),
                    "max_score": float(sum(p.points for p in parts)), "flags": [],
                    "detail": [{"name": assignment, "questions": qs}]})
    return out


CODE = '''def batchnorm_backward(dy, cache):
    x, mu, var, eps, gamma = cache["x"], cache["mu"], cache["var"], cache["eps"], cache["gamma"]
    n = x.shape[0]
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    dbeta = np.sum(dy, axis=0)
    dgamma = np.sum(dy * x_hat, axis=0)
    dxh = dy * gamma
    dvar = np.sum(dxh * (x - mu), axis=0) * -0.5 * std ** -3
    dmu = np.sum(-dxh / std, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    return dxh / std + dvar * 2.0 * (x - mu) / n + dmu / n, dgamma, dbeta'''


def pairs(n, rng, k=20):
    other = CODE.replace("dgamma", "g_gamma").replace("dbeta", "g_beta").replace("dxh", "gn")
    return [{"a": f"s{rng.randrange(n):04d}", "b": f"s{rng.randrange(n):04d}",
             "kind": "copies_classmate", "similarity": round(1.0 - j / 40, 4), "tokens": 150,
             "fragments": [{"a_notebook": "ps2-backward", "a_name": "batchnorm_backward",
                            "a_code": CODE, "b_notebook": "Copy of ps2-backward",
                            "b_name": "batchnorm_backward", "b_code": other, "shared": 1.0}]}
            for j in range(k)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=2000)
    p.add_argument("--out", help="write the pages into this folder too")
    args = p.parse_args()
    rng = random.Random(0)
    n = args.students
    skill = [rng.uniform(0.6, 1.6) for _ in range(n)]
    ps1 = rows("ps1-forward", n, rng, skill)
    ps2 = [r for r in rows("ps2-backward", n, rng, skill) if rng.random() > 0.04]
    final2 = [{"student": r["student"], "score": r["score"], "grades": {}, "max_score":
               r["max_score"], "timestamp": None} for r in ps2]
    final2 += [{"student": f"s{i:04d}", "score": 0.0, "grades": {}, "max_score": 13.0,
                "timestamp": None} for i in range(n) if f"s{i:04d}" not in
               {r["student"] for r in ps2}]
    earlier = {"ps1-forward": {r["student"]: r["score"] / r["max_score"] for r in ps1}}
    t0 = time.perf_counter()
    data = review.build("ps2-backward", ps2, final2, None, earlier, pairs(n, rng, min(20, n // 4)))
    t1 = time.perf_counter()
    page = review.render(data)
    t2 = time.perf_counter()
    page = review.render(data)
    t3 = time.perf_counter()
    text = json.dumps(data, indent=1)
    t4 = time.perf_counter()
    print(f"{n} students, ps2-backward ({len(data['questions'])} parts): data {t1 - t0:.2f} s, "
          f"page {t3 - t2:.2f} s ({t2 - t1:.2f} s the first time, importing matplotlib; "
          f"{len(page) / 1e6:.1f} MB with its plots), json {t4 - t3:.2f} s "
          f"({len(text) / 1e6:.1f} MB); total {t1 - t0 + t3 - t2 + t4 - t3:.2f} s")
    if args.out:
        d1 = review.build("ps1-forward", ps1, None, None, {}, [])
        for name, d in (("ps1-forward", d1), ("ps2-backward", data)):
            os.makedirs(os.path.join(args.out, name), exist_ok=True)
            with open(os.path.join(args.out, name, "review.html"), "w") as f:
                f.write(review.render(d))
        both = review.build_all({"ps1-forward": d1, "ps2-backward": data},
                                [f"s{i:04d}" for i in range(n)])
        with open(os.path.join(args.out, "review.html"), "w") as f:
            f.write(review.render_all(both))
        print(f"pages written to {args.out}")


if __name__ == "__main__":
    main()
