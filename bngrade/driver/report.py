"""The grades CSV and the summary (per student, per question, flagged submissions).

Both are written from the gradebook's ``bngrade_result`` rows, so after a resumed
or partial run they still cover every recorded student. Files:
``reports/<assignment>/grades.csv``, ``summary.json`` and ``summary.md`` (mode
0600). Student text in them (ids, flag details, messages) is one line with its
control characters escaped (``bngrade.sanitize``): Markdown-escaped in the
summary, never a formula in the CSV. Copied answers (``bngrade.copies``) are
flagged here, over every submission of the assignment. ``grades.csv``'s scores
are nbgrader's final ones (manual grades included: :func:`bngrade.export.final_scores`);
a run that collected an LMS zip adds its counts and skipped entries to the summary,
and a grading run its ``timings`` (:mod:`bngrade.timing`: wall time, the driver's
recording time, the workers' grading time, the queue).
"""

import collections
import csv
import io
import json
import os

import nbformat

from ..sanitize import csv_cell, line, markdown
from . import copies, integrity, timing
from .export import final_scores


def summarize(assignment, rows):
    """The summary as a plain dict."""
    questions, order = {}, []
    for row in rows:
        for nb in row["detail"]:
            for q in nb["questions"]:
                if q["grade_id"] not in questions:
                    order.append(q["grade_id"])
                    questions[q["grade_id"]] = {"grade_id": q["grade_id"], "points": q["points"],
                                                "scores": [], "mistakes": collections.Counter()}
                entry = questions[q["grade_id"]]
                entry["scores"].append(q["score"] or 0.0)
                if q.get("mistake"):
                    entry["mistakes"][line(q["mistake"])] += 1
    per_question = []
    for gid in order:
        e = questions[gid]
        n = len(e["scores"]) or 1
        per_question.append({"grade_id": gid, "points": e["points"],
                             "mean": sum(e["scores"]) / n,
                             "full": sum(s >= e["points"] for s in e["scores"]),
                             "zero": sum(s == 0 for s in e["scores"]),
                             "mistakes": dict(e["mistakes"].most_common())})
    return {
        "assignment": assignment, "students": len(rows),
        "mean": sum(r["score"] for r in rows) / (len(rows) or 1),
        "max_score": rows[0]["max_score"] if rows else 0.0,
        "per_student": [{"student": line(r["student"]), "score": r["score"],
                         "max_score": r["max_score"],
                         "flags": sorted({line(f["kind"]) for f in r["flags"]})} for r in rows],
        "per_question": per_question,
        "flagged": [{"student": line(r["student"]),
                     "flags": [{k: line(v) if isinstance(v, str) else v for k, v in f.items()}
                               for f in r["flags"]]} for r in rows if r["flags"]],
    }


def write_csv(path, rows, order, final=None):
    """The grades CSV; ``final`` (from :func:`bngrade.export.final_scores`) puts nbgrader's
    scores, manual grades included, over the engine's."""
    final = {f["student"]: f for f in final or ()}
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["student", "score", "max_score", *map(csv_cell, order), "flags"])
    for r in rows:
        scores = {q["grade_id"]: q["score"] for nb in r["detail"] for q in nb["questions"]}
        if r["student"] in final:
            scores.update(final[r["student"]]["grades"])
            r = dict(r, score=final[r["student"]]["score"])
        w.writerow([csv_cell(r["student"]), f"{r['score']:g}", f"{r['max_score']:g}",
                    *("" if scores.get(g) is None else f"{scores[g]:g}" for g in order),
                    csv_cell(";".join(sorted({fl["kind"] for fl in r["flags"]})))])
    integrity.write_private(path, f.getvalue())


def render(summary):
    """The summary as Markdown text (also printed by the command)."""
    s = summary
    lines = [f"# {s['assignment']}: {s['students']} submissions, mean "
             f"{s['mean']:.2f} / {s['max_score']:g}", "", "## Per question", "",
             "| question | points | mean | full marks | zero | mistakes named |",
             "| --- | --- | --- | --- | --- | --- |"]
    for q in s["per_question"]:
        named = ", ".join(f"{markdown(k)} ({v})" for k, v in q["mistakes"].items()) or "-"
        lines.append(f"| {markdown(q['grade_id'])} | {q['points']:g} | {q['mean']:.2f} | "
                     f"{q['full']} | "
                     f"{q['zero']} | {named} |")
    if s.get("time_limit"):
        t = s["time_limit"]
        how = ("set by --time-limit" if t["source"] == "option" else
               f"max({t['floor']:g} s, {t['multiple']:g} x the reference solution's slowest "
               f"step, {t['reference_seconds']:.2f} s)")
        lines += ["", f"Time limit: {t['seconds']:g} s per cell and graded call ({how})."]
    if s.get("interrupted"):
        i = s["interrupted"]
        lines += ["", f"**This run was stopped by {i['signal']}**: {i['graded']} submissions "
                  f"graded and recorded, {i['remaining']} left. Run the same command again to "
                  "grade the rest (what is recorded is kept)."]
    lines += ["", "## Per student", "", "| student | score | flags |", "| --- | --- | --- |"]
    lines += [f"| {markdown(p['student'])} | {p['score']:g} / {p['max_score']:g} | "
              f"{markdown(', '.join(p['flags'])) or '-'} |" for p in s["per_student"]]
    lines += ["", f"## Flagged submissions ({len(s['flagged'])})", ""]
    for entry in s["flagged"]:
        lines.append(f"- **{markdown(entry['student'])}**")
        lines += [f"  - {markdown(f['kind'])}: {markdown(f.get('detail', ''), limit=2000)}"
                  for f in entry["flags"]]
    if s.get("collection"):
        c = s["collection"]
        n = c["counts"]
        lines += ["", f"## From the zip: {n['entries']} entries", "",
                  f"{n['collected']} notebooks of {n['students']} students collected, "
                  f"{n['receipt']} receipts read, {n['skipped']} entries skipped (all listed "
                  f"in `collection.csv`)", ""]
        # entry names come from students
        lines += [f"- {markdown(e['entry'])}: {markdown(e['reason'])}" for e in c["skipped"]]
    if s.get("timings"):
        lines += ["", "## Timings", "", *_timing_lines(s["timings"])]
    return "\n".join(lines) + "\n"


def _timing_lines(t):
    def secs(x):
        return "-" if x is None else f"{x:.3g} s"

    w, d = t["workers"], t["driver"]
    out = [f"{t['graded']} submissions graded in {secs(t['wall'])} (wall); per submission: "
           f"worker {secs(w['submission']['median'])} median, {secs(w['submission']['p95'])} "
           f"p95, {secs(w['submission']['max'])} max; driver's recording "
           f"{secs(d['per_submission'])} ("
           + ", ".join(f"{p} {secs(d[p]['per_submission'])}" for p in timing.DRIVER_PHASES)
           + f"); queue {secs(t['queue']['median'])} median"]
    if w["question"]["n"]:
        out.append(f"per question on a worker: {secs(w['question']['median'])} median, "
                   f"{secs(w['question']['p95'])} p95, {secs(w['question']['max'])} max")
    if t.get("workers_one_driver_serves"):
        out.append(f"one driver keeps up with {t['workers_one_driver_serves']:.0f} busy workers")
    return out


def _code(text):
    """The code cells of a notebook's text (``[]`` when it does not read)."""
    try:
        nb = nbformat.reads(text, as_version=4)
        return ["".join(c.source) if isinstance(c.source, list) else str(c.source)
                for c in nb.cells if c.get("cell_type") == "code"]
    except Exception:  # a corrupt notebook is flagged by the grader, not here
        return []


def copy_flags(course, assignment, students):
    """``{student: [flag]}``: answers copied from bnlib, the source or a classmate."""
    import bnlib

    sources = course.sources(assignment)
    releases = [c for text in sources.values() for c in _release_code(course, text)]
    references = {"bnlib": copies.reference_sources(os.path.dirname(bnlib.__file__))}
    for name, text in sources.items():
        references[f"the source of {name}"] = _code(text)
    answers = {}
    for student in students:
        for name in sources:
            path = course.path("submitted", student, assignment, f"{name}.ipynb")
            if os.path.isfile(path) and os.path.getsize(path) < 50 << 20:
                with open(path, encoding="utf-8", errors="replace") as f:
                    answers.setdefault(student, {})[name] = _code(f.read())
    return copies.find(answers, references, ignore=releases)


def _release_code(course, text):
    """The code cells of the release made from a source (solutions replaced by the stub)."""
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config

    nb, _ = ClearSolutions(config=Config(course.cfg)).preprocess(
        nbformat.reads(text, as_version=4), {})
    return _code(nbformat.writes(nb))


RUN_FACTS = ("timings", "time_limit")  # what only a grading run knows


def _last_run(path):
    """The :data:`RUN_FACTS` of the summary a grading run wrote at ``path`` (empty if none)."""
    try:
        with open(path, encoding="utf-8") as f:
            last = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(last, dict):
        return {}
    return {k: last[k] for k in RUN_FACTS if isinstance(last.get(k), dict)}


def write(course, store, assignment, collection=None, clock=None, extra=None):
    """Write the CSV and summaries; return the summary dict (with ``files``).

    ``collection``: what this run collected from an LMS zip
    (:meth:`bngrade.lms.Collection.summary`), shown in the summary; ``clock``: the run's
    :class:`bngrade.timing.RunClock`, its figures the summary's ``timings``; ``extra``: the
    run's own facts (``interrupted``, ``time_limit``), added to the summary as they are."""
    rows = store.rows(assignment)
    found = copy_flags(course, assignment, [r["student"] for r in rows])
    for r in rows:
        r["flags"] = r["flags"] + found.get(r["student"], [])
    summary = dict(summarize(assignment, rows), **(extra or {}))
    if collection:  # zip entry names and reasons come from students: one line each
        summary["collection"] = dict(collection, skipped=[
            {k: line(v) for k, v in e.items()} for e in collection["skipped"]])
    folder = os.path.join(course.root, "reports", assignment)
    files = {"csv": os.path.join(folder, "grades.csv"),
             "json": os.path.join(folder, "summary.json"),
             "markdown": os.path.join(folder, "summary.md")}
    try:
        final = final_scores(store.gb, assignment)
    except ValueError:  # not in nbgrader's tables (nothing recorded yet)
        final = None
    write_csv(files["csv"], rows, [q["grade_id"] for q in summary["per_question"]], final)
    if clock is not None:
        clock.mark("report")
        summary["timings"] = clock.summary()
    else:  # `bngrade summary`: the last grading run's facts stay
        summary.update({k: v for k, v in _last_run(files["json"]).items() if k not in summary})
    integrity.write_private(files["json"], json.dumps(summary, indent=1))
    integrity.write_private(files["markdown"], render(summary))
    return dict(summary, files=files)
