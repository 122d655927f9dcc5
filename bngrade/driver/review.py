"""The instructor's class review: one offline HTML page per assignment, and its data.

``bngrade review <id>`` (and every grading run, through :func:`bngrade.driver.report.write`)
writes ``review.html`` and ``review.json`` beside the summary; ``bngrade review --all``
writes the same for every assignment in the gradebook, plus one page joining them
(``reports/review.html``). A page is self-contained: its plots (matplotlib, the course's
style) are PNG data URIs, its style is inline, it loads nothing and runs no script.
Every plot has a table under it with the same numbers. Sections:

* **Questions**: per question, how many students scored full marks, part marks, made a
  named mistake, scored zero otherwise, or did not get that far: not attempted (the
  released stub), syntax error, crashed (raised, the sandbox stopped, memory), timed
  out, missing notebook (:data:`STATES`, told apart by the grader's codes, never by
  the student's words);
* **Named mistakes**, ranked by how many students made them, each linking to those
  students' rows of the grid and with one example of its feedback line (the student's
  id taken out);
* **Grid**: student x question, each cell its score or what went wrong, in words;
* **Students who need help**: below :data:`HELP_BELOW` of the points on this assignment,
  and on how many earlier ones (by due date, then name); missing; late;
* **Slowest submissions**: the slowest single step of each submission;
* **Copies for review**: the pairs :mod:`bngrade.driver.copies` flags, ranked, with the shared
  code side by side.

Scores are the final ones (manual grades included: :func:`bngrade.driver.export.final_scores`).
Every piece of student text (ids, messages, code) is HTML-escaped on the page and made one
line (:func:`bngrade.sanitize.line`) where it is one line.

Public functions
----------------
``build(assignment, rows, final=None, due=None, earlier=None, pairs=()) -> dict``
    The page's data from the engine's rows (pure; what ``review.json`` holds).
``render(data) -> str``
    The HTML page.
``write(course, store, assignment, folder) -> {"review_html": path, "review_json": path}``
``write_all(course, store, folder) -> {...}``
"""

import base64
import collections
import datetime
import html
import io
import json
import os

from ..sanitize import line
from . import integrity

HELP_BELOW = 0.5  # of an assignment's points
SLOWEST = 10
WHO = 40  # students named per mistake on the page (review.json has them all)
STATES = {  # state -> (label, grid cell class)
    "full": ("full marks", "ok"),
    "partial": ("part marks", "part"),
    "mistake": ("named mistake", "bad"),
    "zero": ("zero, no mistake named", "bad"),
    "not_attempted": ("not attempted", "none"),
    "syntax_error": ("syntax error", "err"),
    "crashed": ("crashed", "err"),
    "timeout": ("timed out", "err"),
    "missing": ("notebook missing", "none"),
}
_CRASHED = {"raised", "crashed", "memory", "tampered", "malformed", "grader_error",
            "worker_died", "corrupt", "undefined"}
_MISSING = {"missing"}


def state(q):
    """What a question's verdict says, as one of :data:`STATES`."""
    score, points = q.get("score") or 0.0, q.get("points") or 0.0
    code = q.get("mistake") or ""
    message = q.get("message") or ""
    if points and score >= points:
        return "full"
    if code == "not_attempted" or "NotImplementedError" in message and code in ("raised", ""):
        return "not_attempted"
    if code == "syntax_error":
        return "syntax_error"
    if code == "timeout":
        return "timeout"
    if code in _MISSING:
        return "missing"
    if code in _CRASHED:
        return "crashed"
    if code:
        return "mistake"
    return "partial" if score > 0 else "zero"


def _anonymous(text, student):
    text = line(text or "", limit=300)
    return text.replace(student, "a student") if student else text


def build(assignment, rows, final=None, due=None, earlier=None, pairs=()):
    """The review's data (see the module doc).

    ``rows``: the engine's rows (:meth:`bngrade.driver.store.Store.rows`); ``final``:
    :func:`bngrade.driver.export.final_scores`'s list (students without a submission are
    *missing*; its scores replace the engine's); ``due``: the due date (naive UTC);
    ``earlier``: ``{assignment: {student: fraction of its points}}`` of earlier
    assignments; ``pairs``: :attr:`bngrade.driver.copies.Comparison.pairs`."""
    final = {f["student"]: f for f in final or ()}
    earlier = earlier or {}
    order, questions = [], {}
    for r in rows:
        for nb in r["detail"]:
            for q in nb["questions"]:
                if q["grade_id"] not in questions:
                    order.append(q["grade_id"])
                    questions[q["grade_id"]] = {
                        "grade_id": q["grade_id"], "notebook": nb["name"], "points": q["points"],
                        "states": dict.fromkeys(STATES, 0), "scores": collections.Counter()}
    mistakes = {}
    grid, slow = [], []
    for r in rows:
        student = r["student"]
        manual = final.get(student, {}).get("grades", {})
        cells, slowest = {}, None
        for nb in r["detail"]:
            for q in nb["questions"]:
                gid = q["grade_id"]
                score = manual.get(gid, q["score"])
                st = state(dict(q, score=score))
                cells[gid] = {"state": st, "score": score, "mistake": q.get("mistake")
                              if st == "mistake" else None}
                entry = questions[gid]
                entry["states"][st] += 1
                entry["scores"][float(score or 0.0)] += 1
                if st == "mistake":
                    m = mistakes.setdefault((gid, q["mistake"]), {
                        "question": gid, "mistake": line(q["mistake"], limit=80),
                        "students": [], "example": _anonymous(q.get("message"), student)})
                    m["students"].append(student)
                s = q.get("seconds")
                if s is not None and (slowest is None or s > slowest[0]):
                    slowest = (s, gid)
            if isinstance(nb.get("slowest"), (int, float)) and (
                    slowest is None or nb["slowest"] > slowest[0]):
                slowest = (nb["slowest"], None)
        score = final[student]["score"] if student in final else r["score"]
        grid.append({"student": line(student, limit=120), "score": score,
                     "max_score": r["max_score"], "cells": cells,
                     "flags": sorted({line(f["kind"]) for f in r["flags"]})})
        if slowest is not None:
            slow.append({"student": line(student, limit=120), "seconds": slowest[0],
                         "question": slowest[1]})
    max_score = rows[0]["max_score"] if rows else max(
        (f.get("max_score") or 0.0 for f in final.values()), default=0.0)
    recorded = {r["student"] for r in rows}
    help_list = []
    for g in grid:
        reasons = []
        frac = g["score"] / g["max_score"] if g["max_score"] else 0.0
        if frac < HELP_BELOW:
            low = sorted(a for a, scores in earlier.items()
                         if g["student"] in scores and scores[g["student"]] < HELP_BELOW)
            missed = sorted(a for a, scores in earlier.items() if g["student"] not in scores)
            reasons.append(f"{100 * frac:.0f}% of the points"
                           + (f"; also below {100 * HELP_BELOW:.0f}% on " + ", ".join(low)
                              if low else "")
                           + ("; no submission of " + ", ".join(missed) if missed else ""))
        late = _late(final.get(g["student"], {}).get("timestamp"), due)
        if late:
            reasons.append(f"late by {late}")
        if reasons:
            help_list.append({"student": g["student"], "score": g["score"],
                              "reasons": reasons, "kind": "low" if frac < HELP_BELOW
                              else "late"})
    for student in sorted(set(final) - recorded):
        help_list.append({"student": line(student, limit=120), "score": 0.0,
                          "reasons": ["no submission"], "kind": "missing"})
    for entry in questions.values():
        entry["mean"] = (sum(k * v for k, v in entry["scores"].items())
                         / (sum(entry["scores"].values()) or 1))
        entry["scores"] = {f"{k:g}": v for k, v in sorted(entry["scores"].items())}
    ranked = sorted(mistakes.values(), key=lambda m: (-len(m["students"]), m["question"],
                                                      m["mistake"]))
    for m in ranked:
        m["count"] = len(m["students"])
        m["students"] = [line(s, limit=120) for s in m["students"]]
    slow.sort(key=lambda s: (-s["seconds"], s["student"]))
    return {
        "assignment": line(assignment, limit=120), "students": len(rows),
        "max_score": max_score, "help_below": HELP_BELOW,
        "mean": sum(g["score"] for g in grid) / (len(grid) or 1),
        "questions": [questions[g] for g in order],
        "mistakes": ranked, "grid": grid, "help": help_list, "slowest": slow[:SLOWEST],
        "copies": [_pair(p) for p in pairs],
        "earlier": sorted(earlier),
    }


def _pair(p):
    return {"a": line(p["a"], limit=120), "b": line(p["b"], limit=120), "kind": p["kind"],
            "similarity": p["similarity"], "tokens": p["tokens"],
            "fragments": [{k: (line(v, limit=200) if k.endswith(("_name", "_notebook"))
                               else v[:6000] if isinstance(v, str) else v)
                           for k, v in f.items()} for f in p["fragments"][:6]]}


def _late(stamp, due):
    if stamp is None or due is None:
        return None
    if isinstance(stamp, str):
        try:
            stamp = datetime.datetime.fromisoformat(stamp)
        except ValueError:
            return None
    if getattr(stamp, "tzinfo", None) is not None:
        stamp = stamp.astimezone(datetime.UTC).replace(tzinfo=None)
    if getattr(due, "tzinfo", None) is not None:
        due = due.astimezone(datetime.UTC).replace(tzinfo=None)
    seconds = (stamp - due).total_seconds()
    if seconds <= 0:
        return None
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- plots -----------------------------------------------------------------------------------
def _style():
    import bnlib

    return os.path.join(os.path.dirname(bnlib.__file__), "course.mplstyle")


def _figure(width, height):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use(_style())
    return plt, plt.figure(figsize=(width, height), layout="constrained")


def _png(plt, fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# Okabe-Ito, by state; each bar is also labelled with its count (never colour alone)
_COLOURS = {"full": "#009E73", "partial": "#56B4E9", "mistake": "#D55E00", "zero": "#CC79A7",
            "not_attempted": "#BBBBBB", "syntax_error": "#E69F00", "crashed": "#000000",
            "timeout": "#0072B2", "missing": "#FFFFFF"}
_HATCH = {"zero": "//", "not_attempted": "..", "syntax_error": "xx", "timeout": "\\\\",
          "missing": "--"}


def _states_plot(data):
    qs = data["questions"]
    plt, fig = _figure(7.5, 0.45 * len(qs) + 2.0)
    ax = fig.add_subplot()
    names = [q["grade_id"] for q in qs][::-1]
    left = [0] * len(qs)
    for st, (label, _) in STATES.items():
        counts = [q["states"][st] for q in qs][::-1]
        if not any(counts):
            continue
        bars = ax.barh(names, counts, left=left, color=_COLOURS[st], edgecolor="#333333",
                       hatch=_HATCH.get(st), label=label, linewidth=0.6)
        for b, c in zip(bars, counts, strict=True):
            if c and b.get_width() >= max(1, data["students"]) * 0.04:
                dark = st in ("crashed", "timeout", "mistake")
                ax.text(b.get_x() + b.get_width() / 2, b.get_y() + b.get_height() / 2, str(c),
                        ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        left = [a + c for a, c in zip(left, counts, strict=True)]
    ax.set_xlabel("students")
    ax.grid(axis="y", visible=False)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    ax.set_title(f"{data['assignment']}: what each question's verdicts were")
    return _png(plt, fig)


def _mistakes_plot(data):
    top = data["mistakes"][:12]
    plt, fig = _figure(7.5, 0.35 * len(top) + 1.2)
    ax = fig.add_subplot()
    labels = [f"{m['question']}: {m['mistake']}" for m in top][::-1]
    counts = [m["count"] for m in top][::-1]
    bars = ax.barh(labels, counts, color="#D55E00", edgecolor="#333333", linewidth=0.6)
    for b, c in zip(bars, counts, strict=True):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {c}", va="center", fontsize=8)
    ax.set_xlabel("students who made it")
    ax.grid(axis="y", visible=False)
    ax.set_title("named mistakes, most made first")
    return _png(plt, fig)


def _totals_plot(values, maximum, title, xlabel):
    plt, fig = _figure(7.5, 2.6)
    ax = fig.add_subplot()
    bins = _bins(maximum)
    ax.hist(values, bins=bins, color="#0072B2", edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("students")
    ax.set_title(title)
    return _png(plt, fig)


def _bins(maximum):
    maximum = maximum or 1.0
    step = maximum / 10
    return [i * step for i in range(11)]


def _histogram(values, maximum):
    edges = _bins(maximum)
    counts = [0] * 10
    for v in values:
        i = min(9, max(0, int((v / (maximum or 1.0)) * 10)))
        counts[i] += 1
    return [(edges[i], edges[i + 1], counts[i]) for i in range(10)]


# -- the page --------------------------------------------------------------------------------
_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1a1a1a; background: #fff; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid #ccc; padding-top: .5rem; }
h1 { font-size: 1.5rem; margin: .6rem 0; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
a { color: #0b57a4; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #bbb; padding: .2rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
td.wide { min-width: 16em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.grid td { white-space: nowrap; }
.ok { background: #dff3e8; } .part { background: #e3f1fb; } .bad { background: #fbe3d6; }
.err { background: #fff0c2; } .none { background: #eeeeee; }
tr:target td, tr:target th { outline: 3px solid #0b57a4; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; }
.pair pre { margin: 0; padding: .5rem; background: #f6f8fa; border: 1px solid #ccc;
  overflow-x: auto; font-size: .8rem; white-space: pre; }
.pair h4 { margin: .2rem 0; font-size: .9rem; }
.pair > div { min-width: 0; }
.note { color: #444; }
@media (max-width: 700px) {
  .pair { grid-template-columns: 1fr; }
  body { font-size: 14px; }
}
"""


def _e(x):
    return html.escape(str(x), quote=True)


def _num(x):
    return f"{x:g}" if isinstance(x, (int, float)) else ""


def _table(caption, head, rows, cls=""):
    out = [f'<div class="scroll" tabindex="0" role="region" aria-label="{_e(caption)}">'
           f'<table{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>'
           f"<caption>{caption}</caption><thead><tr>"]
    out += [f'<th scope="col">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    out += rows
    out.append("</tbody></table></div>")
    return "".join(out)


def _row(cells, header=None, attrs=""):
    th = f'<th scope="row">{header}</th>' if header is not None else ""
    return f"<tr{attrs}>{th}" + "".join(
        f'<td class="{c[0] or "n"}">{c[1]}</td>' if isinstance(c, tuple) else f"<td>{c}</td>"
        for c in cells) + "</tr>"


def _anchor(student, ids):
    return f"s-{ids[student]}"


def _page(title, body):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n")


def render(data, plots=True):
    """The page (see the module doc) as HTML text; ``plots=False`` leaves the images out
    (the tables stay)."""
    d = data
    ids = {g["student"]: i for i, g in enumerate(d["grid"])}
    ids.update({h["student"]: f"m{i}" for i, h in enumerate(d["help"]) if h["student"] not in ids})
    qids = [q["grade_id"] for q in d["questions"]]
    sections = [("questions", "Questions"), ("mistakes", "Named mistakes"),
                ("grid", "Student × question grid"), ("help", "Students who need help"),
                ("slowest", "Slowest submissions"), ("copies", "Copies for review")]
    b = [f"<header><h1>Class review: {_e(d['assignment'])}</h1>"
         f"<p>{d['students']} submissions, mean {d['mean']:.2f} of {_num(d['max_score'])} "
         "points (final scores, manual grades included).</p>"
         '<nav aria-label="Sections"><ul>'
         + "".join(f'<li><a href="#{k}">{v}</a></li>' for k, v in sections)
         + "</ul></nav></header><main>"]
    # questions
    b.append('<section aria-labelledby="questions"><h2 id="questions">Questions</h2>')
    if plots and d["questions"]:
        b.append(f'<img src="{_states_plot(d)}" alt="Stacked bars, one per question: how many '
                 'students scored full marks, part marks, made a named mistake, or did not get '
                 'that far. The table below gives the same counts.">')
    used = [s for s in STATES if any(q["states"][s] for q in d["questions"])] or ["full"]
    b.append(_table("Verdicts per question (students)", ["question", "points", "mean",
                    *(_e(STATES[s][0]) for s in used)],
                    [_row([_num(q["points"]), f"{q['mean']:.2f}",
                           *((None, q["states"][s]) for s in used)], _e(q["grade_id"]))
                     for q in d["questions"]]))
    totals = [g["score"] for g in d["grid"]]
    if plots and totals:
        b.append(f'<img src="{_totals_plot(totals, d["max_score"], "total scores", "points")}"'
                 ' alt="Histogram of the students\' total scores; the table below gives the '
                 'counts per range.">')
    b.append(_table("Total scores (students per range of points)", ["points", "students"],
                    [_row([(None, c)], f"{lo:.3g} to {hi:.3g}{' (incl.)' if i == 9 else ''}")
                     for i, (lo, hi, c) in enumerate(_histogram(totals, d["max_score"]))]))
    b.append("</section>")
    # mistakes
    b.append('<section aria-labelledby="mistakes"><h2 id="mistakes">Named mistakes</h2>')
    if d["mistakes"]:
        if plots:
            b.append(f'<img src="{_mistakes_plot(d)}" alt="Bars: how many students made each '
                     'named mistake, most made first; the table below lists them with the '
                     'students.">')
        b.append(_table("Named mistakes, most made first", [
            "question", "mistake", "students", "who", "an example of its feedback line"],
            [_row([_e(m["mistake"]), (None, m["count"]),
                   ", ".join(f'<a href="#{_anchor(s, ids)}">{_e(s)}</a>'
                             for s in m["students"][:WHO]) + (
                       f" and {m['count'] - WHO} more (all in review.json)"
                       if m["count"] > WHO else ""), ("wide", _e(m["example"]))],
                  _e(m["question"]))
             for m in d["mistakes"]]))
    else:
        b.append("<p>No named mistake was made.</p>")
    b.append("</section>")
    # grid
    b.append('<section aria-labelledby="grid"><h2 id="grid">Student × question grid</h2>'
             '<p class="note">Each cell: the score, or what went wrong, in words.</p>')
    rows = []
    for g in d["grid"]:
        cells = []
        for gid in qids:
            c = g["cells"].get(gid)
            if c is None:
                cells.append(("none", "-"))
                continue
            label = STATES[c["state"]][0]
            text = (f"{_num(c['score'] or 0.0)}" if c["state"] in ("full", "partial", "zero")
                    else f"{_num(c['score'] or 0.0)} {_e(c['mistake'])}"
                    if c["state"] == "mistake" else f"{_num(c['score'] or 0.0)} {_e(label)}")
            cells.append((STATES[c["state"]][1], text))
        rows.append(_row([(None, _num(g["score"])), *cells, _e(", ".join(g["flags"]))],
                         _e(g["student"]), f' id="{_anchor(g["student"], ids)}"'))
    b.append(_table("Scores per student and question", [
        "student", "total", *(_e(q) for q in qids), "flags"], rows, "grid"))
    b.append("</section>")
    # help
    b.append('<section aria-labelledby="help"><h2 id="help">Students who need help</h2>'
             f'<p class="note">Below {100 * d["help_below"]:.0f}% of the points, missing or '
             "late" + (f"; earlier assignments: {_e(', '.join(d['earlier']))}"
                       if d["earlier"] else "") + ".</p>")
    if d["help"]:
        b.append(_table("Students who need help", ["student", "score", "why"], [
            _row([(None, _num(h["score"])), _e("; ".join(h["reasons"]))],
                 f'<a href="#{_anchor(h["student"], ids)}">{_e(h["student"])}</a>'
                 if isinstance(ids.get(h["student"]), int) else _e(h["student"]),
                 f' id="{_anchor(h["student"], ids)}"'
                 if not isinstance(ids.get(h["student"]), int) else "")
            for h in d["help"]]))
    else:
        b.append("<p>No one.</p>")
    b.append("</section>")
    # slowest
    b.append('<section aria-labelledby="slowest"><h2 id="slowest">Slowest submissions</h2>')
    if d["slowest"]:
        b.append(_table("The slowest single step of each submission", [
            "student", "seconds", "question"],
            [_row([(None, f"{s['seconds']:.3g}"), _e(s["question"] or "a cell")],
                  f'<a href="#{_anchor(s["student"], ids)}">{_e(s["student"])}</a>')
             for s in d["slowest"]]))
    else:
        b.append("<p>No timings recorded.</p>")
    b.append("</section>")
    # copies
    b.append('<section aria-labelledby="copies"><h2 id="copies">Copies for review</h2>')
    if d["copies"]:
        b.append(_table("Pairs, most similar first", ["pair", "kind", "similarity",
                                                      "tokens shared"],
                        [_row([_e(p["kind"].replace("copies_", "")),
                               (None, f"{100 * p['similarity']:.0f}%"), (None, p["tokens"])],
                              f'<a href="#pair-{i}">{_e(p["a"])} and {_e(p["b"])}</a>')
                         for i, p in enumerate(d["copies"])]))
        for i, p in enumerate(d["copies"]):
            b.append(f'<h3 id="pair-{i}">{_e(p["a"])} and {_e(p["b"])}: '
                     f"{100 * p['similarity']:.0f}% similar</h3>")
            for f in p["fragments"]:
                b.append('<div class="pair">'
                         f'<div><h4>{_e(p["a"])}: {_e(f["a_name"])} ({_e(f["a_notebook"])})</h4>'
                         f'<pre tabindex="0">{_e(f["a_code"])}</pre></div>'
                         f'<div><h4>{_e(p["b"])}: {_e(f["b_name"])} ({_e(f["b_notebook"])})</h4>'
                         f'<pre tabindex="0">{_e(f["b_code"])}</pre></div></div>')
    else:
        b.append("<p>No pair was flagged.</p>")
    b.append("</section></main>")
    return _page(f"Class review: {d['assignment']}", "".join(b))


# -- the whole gradebook ---------------------------------------------------------------------
def build_all(per_assignment, students=()):
    """The cross-assignment view: ``per_assignment`` is ``{assignment: build()'s data}``
    in assignment order; ``students``: every student of the gradebook."""
    names = list(per_assignment)
    table = {}
    for a, d in per_assignment.items():
        for g in d["grid"]:
            table.setdefault(g["student"], {})[a] = g["score"] / (g["max_score"] or 1.0)
    everyone = sorted(set(table) | {line(s, limit=120) for s in students})
    rows, need = [], []
    for s in everyone:
        got = table.get(s, {})
        rows.append({"student": s, "fractions": {a: got.get(a) for a in names}})
        low = [a for a in names if got.get(a) is not None and got[a] < HELP_BELOW]
        missing = [a for a in names if got.get(a) is None]
        if low or missing:
            need.append({"student": s, "low": low, "missing": missing})
    need.sort(key=lambda h: (-(len(h["low"]) + len(h["missing"])), h["student"]))
    return {"assignments": [{"assignment": a, "students": d["students"], "mean": d["mean"],
                             "max_score": d["max_score"],
                             "mistakes": d["mistakes"][:5]} for a, d in per_assignment.items()],
            "grid": rows, "help": need, "help_below": HELP_BELOW}


def render_all(data, plots=True):
    d = data
    names = [a["assignment"] for a in d["assignments"]]
    b = ["<header><h1>Class review: every assignment</h1>"
         f"<p>{len(names)} assignments, {len(d['grid'])} students.</p>"
         '<nav aria-label="Sections"><ul><li><a href="#means">Means</a></li>'
         '<li><a href="#help">Students who need help</a></li>'
         '<li><a href="#grid">Student × assignment grid</a></li>'
         + "".join(f'<li><a href="{_e(a)}/review.html">{_e(a)}</a></li>' for a in names)
         + "</ul></nav></header><main>"]
    b.append('<section aria-labelledby="means"><h2 id="means">Means</h2>')
    if plots and names:
        plt, fig = _figure(7.5, 0.4 * len(names) + 1.2)
        ax = fig.add_subplot()
        bars = ax.barh(names[::-1], [100 * a["mean"] / (a["max_score"] or 1)
                                     for a in d["assignments"]][::-1], color="#0072B2")
        ax.bar_label(bars, fmt=" %.0f%%", fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("mean score (% of the points)")
        ax.grid(axis="y", visible=False)
        b.append(f'<img src="{_png(plt, fig)}" alt="Bars: each assignment\'s mean score as a '
                 'percentage of its points; the table below gives the numbers.">')
    b.append(_table("Each assignment", ["assignment", "submissions", "mean", "points",
                                        "most made mistakes"],
                    [_row([(None, a["students"]), (None, f"{a['mean']:.2f}"),
                           (None, _num(a["max_score"])),
                           _e("; ".join(f"{m['question']}: {m['mistake']} ({m['count']})"
                                        for m in a["mistakes"]) or "-")],
                          f'<a href="{_e(a["assignment"])}/review.html">{_e(a["assignment"])}</a>')
                     for a in d["assignments"]]))
    b.append("</section>")
    b.append('<section aria-labelledby="help"><h2 id="help">Students who need help</h2>'
             f'<p class="note">Below {100 * d["help_below"]:.0f}% of the points on an '
             "assignment, or missing it; most assignments first.</p>")
    b.append(_table("Students who need help", ["student", "below the line on", "missing"], [
        _row([_e(", ".join(h["low"]) or "-"), _e(", ".join(h["missing"]) or "-")],
             _e(h["student"])) for h in d["help"]]) if d["help"] else "<p>No one.</p>")
    b.append("</section>")
    b.append('<section aria-labelledby="grid"><h2 id="grid">Student × assignment grid</h2>')
    rows = []
    for r in d["grid"]:
        cells = []
        for a in names:
            f = r["fractions"][a]
            cells.append(("none", "missing") if f is None else
                         ("ok" if f >= HELP_BELOW else "bad", f"{100 * f:.0f}%"))
        rows.append(_row(cells, _e(r["student"])))
    b.append(_table("Score per student and assignment (% of its points)",
                    ["student", *(_e(a) for a in names)], rows, "grid"))
    b.append("</section></main>")
    return _page("Class review: every assignment", "".join(b))


# -- from the gradebook ----------------------------------------------------------------------
def _assignments(gb):
    """The gradebook's assignments, by due date (none last), then name."""
    far = datetime.datetime.max
    return [a.name for a in sorted(gb.assignments, key=lambda a: (a.duedate or far, a.name))]


def gather(course, store, assignment, copies_pairs=None):
    """:func:`build`'s data for one assignment of the gradebook."""
    from . import copies
    from .export import final_scores

    rows = store.rows(assignment)
    try:
        final = final_scores(store.gb, assignment)
        due = store.gb.find_assignment(assignment).duedate
    except (ValueError, Exception):  # nothing of it in nbgrader's tables yet
        final, due = None, None
    names = _assignments(store.gb)
    earlier = {}
    for other in names[:names.index(assignment)] if assignment in names else []:
        earlier[other] = {r["student"]: (r["score"] / r["max_score"] if r["max_score"] else 0.0)
                          for r in store.rows(other)}
    if copies_pairs is None:
        try:
            copies_pairs = copies.class_copies(course, assignment,
                                               [r["student"] for r in rows]).pairs
        except FileNotFoundError:  # no source for it in this course folder
            copies_pairs = []
    return build(assignment, rows, final, due, earlier, copies_pairs)


def _save(folder, data, page):
    os.makedirs(folder, exist_ok=True)
    files = {"review_html": os.path.join(folder, "review.html"),
             "review_json": os.path.join(folder, "review.json")}
    integrity.write_private(files["review_json"], json.dumps(data, indent=1, default=str))
    integrity.write_private(files["review_html"], page)
    return files


def write(course, store, assignment, folder=None):
    """Write ``review.html`` and ``review.json`` of one assignment into ``folder`` (default:
    ``reports/<assignment>/``); return their paths."""
    data = gather(course, store, assignment)
    folder = folder or course.reports(assignment)
    return _save(folder, data, render(data))


def write_all(course, store, folder=None):
    """Every assignment's review and the page joining them (``review.html`` in the
    gradebook's reports folder, e.g. ``reports/review.html``)."""
    folder = folder or os.path.dirname(course.reports("_"))
    per = {}
    files = {}
    for a in _assignments(store.gb):
        if not store.rows(a):
            continue
        per[a] = gather(course, store, a)
        files[a] = _save(os.path.join(folder, a), per[a], render(per[a]))["review_html"]
    students = [s.id for s in store.gb.students]
    data = build_all(per, students)
    files.update(_save(folder, data, render_all(data)))
    return files


def command(args):
    """``bngrade review <id>`` / ``bngrade review --all``."""
    from .course import Course
    from .store import Store

    if bool(args.all) == bool(args.assignment):
        raise ValueError("name one assignment, or --all")
    course = Course(args.course_dir, args.db)
    store = Store(course.db_url, course.course_id)
    try:
        if args.all:
            files = write_all(course, store)
        else:
            if not store.rows(args.assignment):
                raise ValueError(f"nothing of {args.assignment!r} is recorded in the gradebook "
                                 f"(grade it first: bngrade autograde {args.assignment})")
            files = write(course, store, args.assignment)
    finally:
        store.close()
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0
