"""The grades CSV and the summary (per student, per question, flagged submissions).

Both are written from the gradebook's ``bngrade_result`` rows, so after a resumed
or partial run they still cover every recorded student. Files:
``reports/<assignment>/grades.csv``, ``summary.json`` and ``summary.md``.
"""

import collections
import csv
import html
import json
import os
import re

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
                    entry["mistakes"][q["mistake"]] += 1
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
        "per_student": [{"student": r["student"], "score": r["score"],
                         "max_score": r["max_score"],
                         "flags": sorted({f["kind"] for f in r["flags"]})} for r in rows],
        "per_question": per_question,
        "flagged": [{"student": r["student"], "flags": r["flags"]} for r in rows if r["flags"]],
    }


def write_csv(path, rows, order, final=None):
    """The grades CSV; ``final`` (from :func:`bngrade.export.final_scores`) puts nbgrader's
    scores, manual grades included, over the engine's."""
    final = {f["student"]: f for f in final or ()}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score", *order, "flags"])
        for r in rows:
            scores = {q["grade_id"]: q["score"] for nb in r["detail"] for q in nb["questions"]}
            if r["student"] in final:
                scores.update(final[r["student"]]["grades"])
                r = dict(r, score=final[r["student"]]["score"])
            w.writerow([r["student"], f"{r['score']:g}", f"{r['max_score']:g}",
                        *("" if scores.get(g) is None else f"{scores[g]:g}" for g in order),
                        ";".join(sorted({fl["kind"] for fl in r["flags"]}))])


def _plain(text):
    """``text`` on one line, control characters shown as ``?``."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


def render(summary):
    """The summary as Markdown text (also printed by the command)."""
    s = summary
    lines = [f"# {s['assignment']}: {s['students']} submissions, mean "
             f"{s['mean']:.2f} / {s['max_score']:g}", "", "## Per question", "",
             "| question | points | mean | full marks | zero | mistakes named |",
             "| --- | --- | --- | --- | --- | --- |"]
    for q in s["per_question"]:
        named = ", ".join(f"{k} ({v})" for k, v in q["mistakes"].items()) or "-"
        lines.append(f"| {q['grade_id']} | {q['points']:g} | {q['mean']:.2f} | {q['full']} | "
                     f"{q['zero']} | {named} |")
    lines += ["", "## Per student", "", "| student | score | flags |", "| --- | --- | --- |"]
    lines += [f"| {p['student']} | {p['score']:g} / {p['max_score']:g} | "
              f"{', '.join(p['flags']) or '-'} |" for p in s["per_student"]]
    lines += ["", f"## Flagged submissions ({len(s['flagged'])})", ""]
    for entry in s["flagged"]:
        lines.append(f"- **{entry['student']}**")
        lines += [f"  - {f['kind']}: {f['detail']}" for f in entry["flags"]]
    if s.get("collection"):
        c = s["collection"]
        n = c["counts"]
        lines += ["", f"## From the zip: {n['entries']} entries", "",
                  f"{n['collected']} notebooks of {n['students']} students collected, "
                  f"{n['receipt']} receipts read, {n['skipped']} entries skipped (all listed "
                  f"in `collection.csv`)", ""]
        # entry names come from students: shown as code, which Markdown never renders
        lines += [f"- `{_plain(e['entry']).replace('`', chr(39))}`: "
                  f"{html.escape(_plain(e['reason']), quote=False)}" for e in c["skipped"]]
    return "\n".join(lines) + "\n"


def write(course, store, assignment, collection=None):
    """Write the CSV and summaries; return the summary dict (with ``files``).

    ``collection``: what this run collected from an LMS zip
    (:meth:`bngrade.lms.Collection.summary`), shown in the summary."""
    rows = store.rows(assignment)
    summary = summarize(assignment, rows)
    if collection:
        summary["collection"] = collection
    folder = os.path.join(course.root, "reports", assignment)
    os.makedirs(folder, exist_ok=True)
    files = {"csv": os.path.join(folder, "grades.csv"),
             "json": os.path.join(folder, "summary.json"),
             "markdown": os.path.join(folder, "summary.md")}
    try:
        final = final_scores(store.gb, assignment)
    except ValueError:  # not in nbgrader's tables (nothing recorded yet)
        final = None
    write_csv(files["csv"], rows, [q["grade_id"] for q in summary["per_question"]], final)
    with open(files["json"], "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    with open(files["markdown"], "w", encoding="utf-8") as f:
        f.write(render(summary))
    return dict(summary, files=files)
