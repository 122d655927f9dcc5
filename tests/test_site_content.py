"""What the built site may not contain: solutions, hidden tests, third-party resources.

Reads ``_build/html`` as ``make book`` left it (``make test`` builds first).
"""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builtsite import ROOT, built_site
from exercise_tools import model_answers

# nbgrader's markers in solution and test cells, and its cell metadata (as JSON,
# raw or HTML-escaped, in a page or in a downloadable .ipynb).
MARKERS = [
    re.compile(r"#{3}\s*(BEGIN|END)\s+SOLUTION"),
    re.compile(r"#{3}\s*(BEGIN|END)\s+HIDDEN\s+TESTS"),
    re.compile(r"(\"|&quot;|&#34;)nbgrader(\"|&quot;|&#34;)\s*:\s*\{"),
    re.compile(r"(\"|&quot;|&#34;)grade_id(\"|&quot;|&#34;)\s*:\s*(\"|&quot;|&#34;)"),
]
TEXT_SUFFIXES = {".html", ".ipynb", ".md", ".txt", ".js", ".json"}


def solution_lines(notebooks):
    """Code lines written between nbgrader's solution markers in ``notebooks``.

    Only lines long enough to be distinctive (25 characters or more once
    stripped) count: a bare ``return y`` may well appear in the book.
    """
    lines = set()
    for path in notebooks:
        for cell in json.loads(Path(path).read_text())["cells"]:
            inside = False
            source = cell["source"]
            for line in (source if isinstance(source, list) else source.splitlines()):
                text = line.strip()
                if MARKERS[0].search(text):
                    inside = "BEGIN" in text
                    continue
                if inside and len(text) >= 25:
                    lines.add(text)
    return lines


def leaks(text, secret_lines=()):
    """The nbgrader markers and solution lines found in ``text``."""
    found = [m.group(0) for pattern in MARKERS for m in pattern.finditer(text)]
    return found + [line for line in secret_lines if line in text]


def site_files():
    return [p for p in built_site().rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
            and "mathjax" not in p.parts]


def test_the_leak_detector_finds_planted_markers_and_solution_code(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
                     "source": ["def f(x):\n", "    ### BEGIN SOLUTION\n",
                                "    return (x - x.mean(axis=0)) / x.std(axis=0)\n",
                                "    ### END SOLUTION\n"]}]}
    (tmp_path / "sol.ipynb").write_text(json.dumps(nb))
    secret = solution_lines([tmp_path / "sol.ipynb"])
    assert secret == {"return (x - x.mean(axis=0)) / x.std(axis=0)"}
    assert leaks(json.dumps(nb), secret)
    assert leaks("<p>### BEGIN HIDDEN TESTS</p>") == ["### BEGIN HIDDEN TESTS"]
    assert leaks('{&quot;nbgrader&quot;: {&quot;grade&quot;: true}}')
    assert leaks('"grade_id": "ps1_train_forward"')
    assert leaks('{"nbgrader":[3,7],"normal":[1]}') == []  # a search-index entry
    assert leaks("<p>the exercises are graded with nbgrader</p>") == []


RELEASES = sorted((ROOT / "exercises").glob("*/*.ipynb"))


def is_release_copy(path):
    """A downloadable student notebook: the release, byte for byte."""
    return path.suffix == ".ipynb" and any(path.read_bytes() == r.read_bytes() for r in RELEASES)


def test_no_solution_or_hidden_test_reaches_the_site():
    notebooks = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    given = "".join(r.read_text() for r in RELEASES)  # what students see anyway
    secret = {line for line in solution_lines(notebooks) if json.dumps(line)[1:-1] not in given}
    assert len(notebooks) == 6 and len(secret) > 50, "the solution notebooks were not read"
    files = site_files()
    assert len(files) > 10, "the built site looks empty"
    found = {}
    for p in files:
        hits = leaks(p.read_text(errors="replace"), secret)
        if is_release_copy(p):  # nbgrader needs its metadata in the student's copy
            hits = [h for h in hits if "nbgrader" not in h and "grade_id" not in h]
        if hits:
            found[str(p.relative_to(built_site()))] = hits
    assert found == {}


def test_every_release_notebook_is_downloadable_from_its_chapter():
    assert len(RELEASES) == 6
    pages = {p: p.read_text() for p in built_site().joinpath("chapters").glob("*.html")}
    for release in RELEASES:
        links = {m for text in pages.values()
                 for m in re.findall(r'href="(\.\./_downloads/[0-9a-f]+/' + release.name + ')"',
                                     text)}
        assert len(links) == 1, f"{release.name} is linked {len(links)} times"
        served = built_site() / "chapters" / links.pop()
        assert served.read_bytes() == release.read_bytes(), f"{release.name} is not the release"


class Resources(HTMLParser):
    """Collect the URLs a page loads by itself (not the links a reader may click)."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and "canonical" not in (a.get("rel") or ""):
            self.urls.append(a["href"])
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            self.urls.append((a.get("content") or "").partition("url=")[2])


def external(url):
    return bool(re.match(r"^(https?:)?//", url.strip()))


@pytest.mark.parametrize("page", sorted(p.relative_to(built_site()).as_posix()
                                        for p in built_site().rglob("*.html")
                                        if "_static" not in p.parts))
def test_pages_load_nothing_from_other_hosts(page):
    parser = Resources()
    parser.feed((built_site() / page).read_text())
    assert parser.urls, "no resources found: the parser is not reading the page"
    assert [u for u in parser.urls if external(u)] == []


def test_stylesheets_import_nothing_from_other_hosts():
    sheets = list((built_site() / "_static").rglob("*.css"))
    assert sheets
    bad = {}
    for css in sheets:
        urls = re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])([^'\")\s]+)", css.read_text())
        if hits := [u for u in urls if external(u)]:
            bad[str(css.relative_to(built_site()))] = hits
    assert bad == {}


LAUNCHERS = ("https://colab.research.google.com/github/", "https://mybinder.org/v2/gh/",
             "/hub/user-redirect/git-pull?")


def launch_links(html):
    return [u.replace("&amp;", "&") for u in re.findall(r'href="(https://[^"]+)"', html)
            if any(s in u for s in LAUNCHERS)]


@pytest.mark.parametrize("n", ["01", "02", "03", "04", "05"])
def test_chapters_link_launchers_and_the_repository(n):
    page = next(built_site().glob(f"chapters/{n}-*.html"))
    html = page.read_text()
    repo = "github.com/bn-course/batchnorm-from-first-principles"
    assert f"https://{repo}" in html
    links = launch_links(html)
    own = f"chapters/{page.stem}.ipynb"
    assert f"https://colab.research.google.com/{repo.replace('.com', '', 1)}/blob/notebooks/{own}" \
        in links
    assert f"https://mybinder.org/v2/gh/{repo.split('/', 1)[1]}/notebooks?urlpath=notebooks%2F" \
        + own.replace("/", "%2F") in links
    # No hub is configured in _config.yml, so no hub button (never a placeholder host).
    assert not any("git-pull" in u for u in links)


def test_every_launch_link_opens_a_published_notebook():
    """Each Colab/Binder link names an .ipynb that `make book` put in _build/notebooks."""
    from urllib.parse import unquote

    tree = built_site().parent / "notebooks"
    seen = set()
    for page in built_site().rglob("*.html"):
        for url in launch_links(page.read_text()):
            path = unquote(url).split("/blob/notebooks/")[-1].split("urlpath=notebooks/")[-1]
            assert path.endswith(".ipynb"), url
            assert (tree / path).is_file(), url
            seen.add(path)
    exercises = {f"exercises/{r.parent.name}/{r.name}" for r in RELEASES}
    chapters = {f"chapters/{p.stem}.ipynb" for p in (ROOT / "chapters").glob("0*.md")}
    assert exercises | chapters <= seen
    for release in RELEASES:  # the release, byte for byte
        assert (tree / "exercises" / release.parent.name / release.name).read_bytes() \
            == release.read_bytes()


def test_the_published_notebooks_hold_no_solution_or_hidden_test():
    """_build/notebooks (the branch Colab and Binder open) is as public as the site."""
    tree = built_site().parent / "notebooks"
    secret = solution_lines(sorted((ROOT / "solutions").glob("*/*.ipynb")))
    given = "".join(r.read_text() for r in RELEASES)
    secret = {line for line in secret if json.dumps(line)[1:-1] not in given}
    found = {}
    for nb in sorted(tree.rglob("*.ipynb")):
        hits = leaks(nb.read_text(), secret)
        if is_release_copy(nb):
            hits = [h for h in hits if "nbgrader" not in h and "grade_id" not in h]
        if hits:
            found[str(nb.relative_to(tree))] = hits
    published = len(list((ROOT / "chapters").glob("0*.md"))) + len(RELEASES)
    assert len(list(tree.rglob("*.ipynb"))) == published and found == {}
    assert not [p for p in tree.rglob("*") if "solutions" in p.parts or p.name == "bngrade"]


# ---------------------------------------------------------------------------
# Graded questions are not given away: ps5's and ps6's quiz questions, answers
# and the feedback that explains them appear nowhere on the site's pages, and they
# differ from every question the book answers (self-checks, practice problems).
# ---------------------------------------------------------------------------

class _Text(HTMLParser):
    """The visible text of an HTML page (scripts and styles left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def normalised(text):
    """Lower case, one space between words, one kind of minus and quote."""
    text = text.replace("\u2212", "-").replace("\u2019", "'").replace("`", "")
    return " ".join(text.lower().split())


def page_text(html):
    parser = _Text()
    parser.feed(html)
    return normalised(" ".join(parser.parts))


def graded_questions():
    """Every graded multiple-choice question: ps5's and the quiz that closes ps6."""
    from bnlib.checks import ps5_questions, ps6_questions

    return ps5_questions.QUESTIONS + ps6_questions.QUESTIONS


def graded_secrets():
    """(label, text) pairs that must not be published: ps5's and ps6's graded material."""
    from bngrade.worker.keys import CHOICES
    from bnlib.checks import ps5

    secrets = []
    for grade_id, question, choices in graded_questions():
        right, explain = CHOICES[grade_id]
        secrets.append((f"{grade_id} question", question))
        secrets.append((f"{grade_id} answer", choices[right]))
        secrets += [(f"{grade_id} feedback {letter}", why) for letter, why in explain.items()]
    x = ", ".join(f"{v:g}" for v in ps5.P1_X)
    dy = ", ".join(f"{v:g}" for v in ps5.P1_DY)
    secrets += [("P1 input", f"[{x}]"), ("P1 upstream gradient", f"[{dy}]"),
                ("P2", "conv_inference_ops"), ("P3", "steps_to_cover")]
    secrets += [(f"{gid} model answer", sentence) for gid, sentence in model_answers()]
    # A short option ("exactly zero") says nothing without its question.
    return [(label, normalised(text)) for label, text in secrets if len(text) >= 25]


def test_the_secret_finder_reads_page_text_through_markup():
    html = ("<p>After training, one feature of a <code>batch-norm</code>\n layer has "
            "gamma = &#8722;3</p><script>var q = 'steps_to_cover';</script>")
    text = page_text(html)
    assert "after training, one feature of a batch-norm layer has gamma = -3" in text
    assert "steps_to_cover" not in text


def test_the_secrets_hold_the_ps6_quiz_and_its_model_answers():
    """A page quoting the quiz's right option, its feedback or a model answer is caught."""
    from bngrade.worker.keys import CHOICES
    from bnlib.checks.ps6_questions import QUESTIONS

    secrets = graded_secrets()
    grade_id, _, choices = QUESTIONS[0]
    right, explain = CHOICES[grade_id]
    for planted in (choices[right], next(iter(explain.values())),
                    next(s for g, s in model_answers() if g == "ps6_read_adabn")):
        html = f"<p>{planted.replace(' ', chr(10), 3)}</p>"
        assert [label for label, secret in secrets if secret in page_text(html)], planted


def test_no_graded_question_answer_or_feedback_appears_on_the_site():
    pages = [p for p in built_site().rglob("*.html")
             if "_static" not in p.parts and "_sources" not in p.parts]
    assert len(pages) > 5, "the built site looks empty"
    secrets = graded_secrets()
    assert len(secrets) > 40 and any(label.startswith("ps6_q_") for label, _ in secrets)
    found = {}
    for page in pages:
        text = page_text(page.read_text(errors="replace"))
        if hits := [label for label, secret in secrets if secret in text]:
            found[str(page.relative_to(built_site()))] = hits
    # Downloads other than the release (which students get anyway) carry no feedback.
    for path in site_files():
        if path.suffix == ".ipynb" and not is_release_copy(path):
            text = normalised(path.read_text(errors="replace"))
            if hits := [label for label, secret in secrets
                        if "feedback" in label and secret in text]:
                found[str(path.relative_to(built_site()))] = hits
    # The notebooks Colab and Binder open: a chapter holds no graded question at all.
    tree = built_site().parent / "notebooks"
    for nb in sorted(tree.rglob("*.ipynb")):
        if not is_release_copy(nb):
            text = normalised(nb.read_text(errors="replace"))
            if hits := [label for label, secret in secrets if secret in text]:
                found[str(nb.relative_to(tree))] = hits
    assert found == {}


def book_questions():
    """The text of every exercise, self-check and worked example heading in the chapters."""
    blocks = []
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        text = chapter.read_text()
        blocks += re.findall(r"````\{exercise\}(.*?)````", text, flags=re.S)
        blocks += re.findall(r"## Worked example.*?(?=\n## )", text, flags=re.S)
    return [normalised(b) for b in blocks]


def test_graded_questions_differ_from_what_the_book_answers():
    """Each graded question (ps5, ps6's quiz) and right answer is far from every question
    the book solves."""
    from difflib import SequenceMatcher

    from bngrade.worker.keys import CHOICES

    book = book_questions()
    assert len(book) >= 10, "the chapters' exercises were not read"
    close = []
    for grade_id, question, choices in graded_questions():
        right = choices[CHOICES[grade_id][0]]
        for text in (question, right):
            text = normalised(text)
            for block in book:
                match = SequenceMatcher(None, text, block, autojunk=False)
                longest = match.find_longest_match(0, len(text), 0, len(block)).size
                if longest > 0.5 * len(text) and longest > 30:
                    close.append((grade_id, text[:60], block[:60]))
    assert close == []
