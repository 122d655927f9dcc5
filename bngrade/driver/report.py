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

from ..sanitize import csv_cell, line, markdown
from . import copies, integrity, review, timing
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


def grades_csv(rows, order):
    """The grades CSV's text (``rows`` from :func:`with_final`: nbgrader's final scores)."""
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["student", "score", "max_score", *map(csv_cell, order), "flags"])
    for r in rows:
        scores = {q["grade_id"]: q["score"] for nb in r["detail"] for q in nb["questions"]}
        w.writerow([csv_cell(r["student"]), f"{r['score']:g}", f"{r['max_score']:g}",
                    *("" if scores.get(g) is None else f"{scores[g]:g}" for g in order),
                    csv_cell(";".join(sorted({fl["kind"] for fl in r["flags"]})))])
    return f.getvalue()


def render(summary):
    """The summary as Markdown text (also printed by the command)."""
    s = summary
    lines = [f"# {s['assignment']}: {s['students']} submissions, mean "
             f"{s['mean']:.2f} / {s['max_score']:g}", ""]
    if s.get("gradebook"):
        lines += [f"Gradebook: `{markdown(s['gradebook'])}` (scores are nbgrader's final ones: "
                  "manual grades and late penalties included)", ""]
    if s.get("unchanged"):
        lines += ["**Nothing was recorded by this run: the reports on disk are the last "
                  "run's, unchanged.**", ""]
    lines += ["## Per question", "",
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
    if s.get("missing") is not None:
        lines += ["", f"## Missing ({len(s['missing'])})", "",
                  ", ".join(markdown(m) for m in s["missing"]) or "-"]
    if s.get("late") is not None:
        lines += ["", f"## Late ({len(s['late'])})", ""]
        for entry in s["late"]:
            how = (f"{entry['seconds_late'] / 3600:.1f} h late" if entry["seconds_late"]
                   else "late") + (" (marked by the LMS)" if entry["marked_by_lms"] else "")
            lines.append(f"- {markdown(entry['student'])}: {how}, penalty "
                         f"{entry['penalty']:g}")
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
    if s.get("class_timings") and s["class_timings"]["timed"]:
        c = s["class_timings"]
        w = c["submission"]

        def secs(x):
            return "-" if x is None else f"{x:.3g} s"

        lines += ["", "## Grading time, the whole class as graded", "",
                  f"{c['timed']} of {c['graded']} recorded submissions timed (every run): "
                  f"{secs(w['median'])} median, {secs(w['p95'])} p95, {secs(w['max'])} max "
                  "on a worker; slowest: " + ", ".join(
                      f"{markdown(e['student'])} {secs(e['seconds'])}" for e in c["slowest"][:5])]
    if s.get("timings"):
        lines += ["", "## Timings (this run)", "", *_timing_lines(s["timings"])]
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


def copy_flags(course, assignment, students):
    """``{student: [flag]}``: answers copied from bnlib, the solution or a classmate, over
    every notebook each student handed in (:func:`bngrade.driver.copies.class_copies`)."""
    return copies.class_copies(course, assignment, students).flags


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


def with_final(rows, final):
    """``rows`` with nbgrader's final scores (manual grades and late penalty included) over
    the engine's: the score, and each question's score in ``detail``."""
    final = {f["student"]: f for f in final or ()}
    out = []
    for r in rows:
        f = final.get(r["student"])
        if f is None:
            out.append(r)
            continue
        grades = f["grades"]
        detail = [dict(nb, questions=[dict(q, score=grades.get(q["grade_id"], q["score"]),
                                           manual=q["grade_id"] in f.get("manual", {}))
                                      for q in nb["questions"]]) for nb in r["detail"]]
        out.append(dict(r, score=f["score"], detail=detail,
                        late_penalty=f["late_submission_penalty"]))
    return out


def class_timings(rows):
    """Seconds a worker spent on each recorded submission (the whole class as graded, over
    every run, from the gradebook): statistics and the slowest students. A row recorded
    before the gradebook kept a notebook's whole time counts its graded calls' time."""
    seconds = {}
    for r in rows:
        times = [nb.get("seconds") if isinstance(nb.get("seconds"), (int, float)) else
                 sum(q.get("seconds") or 0.0 for q in nb["questions"]) for nb in r["detail"]]
        if any(times):
            seconds[r["student"]] = sum(times)
    slowest = sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {"graded": len(rows), "timed": len(seconds),
            "submission": timing.stats(seconds.values()),
            "slowest": [{"student": line(s), "seconds": t} for s, t in slowest]}


def attendance(course, assignment, rows, final, folder):
    """Who sent nothing (``missing``: on the gradebook or in a zip without a notebook) and
    who was late (the LMS's marker, or nbgrader's submission time after the due date), with
    the penalty applied (:func:`bngrade.driver.late.apply`)."""
    from .lms import read_lms_ids

    flagged = {r["student"] for r in rows
               if any(f["kind"] == "missing" for f in r["flags"])
               and all(q["score"] in (None, 0) for nb in r["detail"] for q in nb["questions"])}
    recorded = {r["student"] for r in rows}
    final = {f["student"]: f for f in final or ()}
    missing = sorted(flagged | {s for s, f in final.items()
                                if f["timestamp"] is None and s not in recorded})
    ids = read_lms_ids(folder)
    late = []
    for student in sorted(set(ids) | set(final)):
        f = final.get(student, {})
        marked = ids.get(student, {}).get("late", False)
        if marked or f.get("late_by"):
            late.append({"student": line(student), "marked_by_lms": marked,
                         "seconds_late": f.get("late_by") or None,
                         "penalty": f.get("late_submission_penalty", 0.0)})
    return [line(s) for s in missing], late


def write_reports(folder, texts):
    """Write the reports (``{file name: text}``) into ``folder``, each atomically (a
    temporary file, then ``os.replace``): a reader, or a run stopped half way, sees the old
    file or the new one, never a part. The one place a run's report files are written."""
    paths = {}
    for name, text in texts.items():
        paths[name] = os.path.join(folder, name)
        integrity.write_private(paths[name], text)
    return paths


def write(course, store, assignment, collection=None, clock=None, extra=None):
    """Write the CSV and summaries; return the summary dict (with ``files``).

    ``collection``: what this run collected from an LMS zip
    (:meth:`bngrade.lms.Collection.summary`), shown in the summary; ``clock``: the run's
    :class:`bngrade.timing.RunClock`, its figures the summary's ``timings``; ``extra``: the
    run's own facts (``interrupted``, ``time_limit``), added to the summary as they are.

    A run stopped before it recorded anything changes no report: the summary it returns
    (and prints) says so, and the files of the last run that recorded stay as they were.
    Scores everywhere are nbgrader's final ones (manual grades, late penalty)."""
    extra = extra or {}
    folder = course.reports(assignment)
    files = {"csv": os.path.join(folder, "grades.csv"),
             "json": os.path.join(folder, "summary.json"),
             "markdown": os.path.join(folder, "summary.md")}
    interrupted = extra.get("interrupted")
    keep = bool(interrupted) and not interrupted.get("graded")
    rows = store.rows(assignment)
    try:
        final = final_scores(store.gb, assignment)
    except ValueError:  # not in nbgrader's tables (nothing recorded yet)
        final = None
    if final and not keep:
        from . import late
        from .lms import read_lms_ids

        final = late.apply(store.gb, assignment, final, lms_late=[
            s for s, v in read_lms_ids(folder).items() if v["late"]])
    rows = with_final(rows, final)
    found = copy_flags(course, assignment, [r["student"] for r in rows])
    for r in rows:
        r["flags"] = r["flags"] + found.get(r["student"], [])
    summary = dict(summarize(assignment, rows), **extra)
    summary["gradebook"] = course.gradebook()
    summary["missing"], summary["late"] = attendance(course, assignment, rows, final, folder)
    summary["class_timings"] = class_timings(rows)
    if collection:  # zip entry names and reasons come from students: one line each
        summary["collection"] = dict(collection, skipped=[
            {k: line(v) for k, v in e.items()} for e in collection["skipped"]])
    if clock is not None:
        clock.mark("report")
        summary["timings"] = clock.summary()
    else:  # `bngrade summary`: the last grading run's facts stay
        summary.update({k: v for k, v in _last_run(files["json"]).items() if k not in summary})
    if keep:  # nothing recorded: the last good reports stay byte for byte
        summary["unchanged"] = True
        return dict(summary, files={k: p for k, p in files.items() if os.path.exists(p)})
    order = [q["grade_id"] for q in summary["per_question"]]
    written = write_reports(folder, {"grades.csv": grades_csv(rows, order),
                                     "summary.json": json.dumps(summary, indent=1),
                                     "summary.md": render(summary)})
    files = {"csv": written["grades.csv"], "json": written["summary.json"],
             "markdown": written["summary.md"]}
    files.update(review.write(course, store, assignment, folder))
    return dict(summary, files=files)
