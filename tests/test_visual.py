"""Every page as a reader sees it: no stray scrollbar, inline math at the line's
height, no text cut off at the right edge (issue 21).

Every page of the built site (and a student's feedback page, rendered as bngrade
renders it) is opened in Debian's Chromium at 1280 and 390 px, in the theme's light
and dark mode, with *classic* scrollbars (as on Windows and most Linux desktops;
headless Chromium hides them unless told otherwise, so a stray scrollbar would pass
unseen), and measured:

* **scrollbars**: an element that shows a scrollbar (it may scroll, by its computed
  ``overflow``, and, the scrollbars being classic, a horizontal one takes room:
  ``offsetHeight - clientHeight - borders > 0``; a vertical one
  ``offsetWidth - clientWidth - borders > 0``) must be display math, a table, a
  code block or output, or an inline formula wider than its line, and its content
  must really be wider (or taller) than its box, measured on the content's own
  rendered boxes (a Range over its contents, or MathJax's ``mjx-math``), not on
  ``scrollWidth`` (which MathJax's containers overstate by a few pixels);
  vertical scrollbars are allowed on the theme's sidebars (their lists are long);
* **inline math**: a formula in a line of text is marked scrolling
  (``bn-wide-inline``, ``_static/wide-content.js``) only when its box is wider than
  the line; its wrapper adds no height to the formula; a paragraph whose formulas
  are all no taller than a line is a whole number of lines high, within 3 px (a
  superscript may lift a line by a pixel, as in TeX; a scrollbar under a formula
  adds 15);
* **clipping**: no text lies past the right edge of a box that hides its overflow
  (visually hidden text for screen readers aside), nor past the window.

Full-page screenshots of every page in every mode are kept in
``tests/artifacts/visual/`` (JPEG, named ``<page>-<mode>.jpg``).
"""

import re

import pytest
from builtsite import ARTIFACTS, DESKTOP, HTML, PHONE, Visit, all_pages

# Every test here reads the built site in Chromium: `make test`, not `make check`.
pytestmark = [pytest.mark.slow, pytest.mark.site]

SHOTS = ARTIFACTS / "visual"
# index.html only redirects; unbuilt, the pages' test fails saying so (built_site())
PAGES = ([p for p in all_pages() if p != "index.html"] if (HTML / "index.html").is_file()
         else ["chapters/intro.html"])
MODES = {"desktop": (DESKTOP, False), "desktop-dark": (DESKTOP, True),
         "phone": (PHONE, False), "phone-dark": (PHONE, True)}


@pytest.fixture(scope="module")
def browser():
    """Chromium with the classic scrollbars a reader on Windows or Linux sees
    (Playwright hides scrollbars in headless mode unless its flag is dropped)."""
    from builtsite import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                              ignore_default_args=["--hide-scrollbars"])
        yield b
        b.close()


# What the test measures on a page (module doc). Returns lists of problems, each a
# short description, and counts that show the check saw something.
MEASURE = r"""() => {
  const px = v => parseFloat(v) || 0;
  const cs = e => getComputedStyle(e);
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (typeof e.className === 'string' && e.className.trim()
       ? '.' + e.className.trim().split(/\s+/).slice(0, 3).join('.') : '');
  const text = e => (e.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 50);
  // a probe: do scrollbars take room here (classic), or overlay the content?
  const probe = document.createElement('div');
  probe.style.cssText = 'position:absolute;top:0;left:0;width:100px;height:100px;overflow:scroll';
  document.body.appendChild(probe);
  const classic = probe.offsetWidth - probe.clientWidth;
  probe.remove();
  // the content's own extent: MathJax's laid-out formula, else a Range over the contents
  const content = e => {
    const math = e.matches('mjx-container') && e.querySelector(':scope > mjx-math');
    if (math) return math.getBoundingClientRect();
    const r = document.createRange();
    r.selectNodeContents(e);
    return r.getBoundingClientRect();
  };
  const innerWidth = e => e.clientWidth - px(cs(e).paddingLeft) - px(cs(e).paddingRight);
  const innerHeight = e => e.clientHeight - px(cs(e).paddingTop) - px(cs(e).paddingBottom);
  const allowed = e => e.matches('mjx-container[display="true"]') ? 'display math'
    : e.matches('mjx-container.bn-wide-inline') ? 'inline math wider than its line'
    : e.matches('.pst-scrollable-table-container, .table-wrapper')
      || e.querySelector(':scope > table') ? 'table'
    : e.matches('pre, div.highlight, .cell_output, .output, div.cell_input') ? 'code' : null;
  const sidebar = e => e.closest('.bd-sidebar-primary, .bd-sidebar-secondary, .bd-toc-nav,'
                                 + ' .sidebar-primary-items__middle, .search-button__wrapper');
  const scrollbars = [];
  let shown = 0;
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('mjx-assistive-mml')) continue;
    const s = cs(e);
    // a box shows a scrollbar only if it may scroll (a table cell's collapsed
    // borders also make offset and client sizes differ)
    const across = /auto|scroll/.test(s.overflowX) ? e.offsetHeight - e.clientHeight
      - px(s.borderTopWidth) - px(s.borderBottomWidth) : 0;
    const down = /auto|scroll/.test(s.overflowY) ? e.offsetWidth - e.clientWidth
      - px(s.borderLeftWidth) - px(s.borderRightWidth) : 0;
    if (!(e.offsetWidth > 0) || s.display === 'inline' || (across <= 0.5 && down <= 0.5)) continue;
    shown++;
    const c = content(e);
    if (across > 0.5) {
      const kind = allowed(e);
      const wider = c.width > innerWidth(e);  // by any amount: scrollWidth rounds it up
      if (!kind || !wider)
        scrollbars.push(`${name(e)} (${kind || 'not math, table or code'}; content ${
          c.width.toFixed(1)} px in ${innerWidth(e)} px): ${text(e)}`);
    }
    if (down > 0.5 && !sidebar(e)) {
      const taller = c.height > innerHeight(e);
      if (!taller || !allowed(e))
        scrollbars.push(`${name(e)} vertical (content ${c.height.toFixed(1)} px in ${
          innerHeight(e)} px): ${text(e)}`);
    }
  }
  // inline math
  const inline = [...document.querySelectorAll('mjx-container:not([display="true"])')];
  const lineOf = m => { let b = m.parentElement;
    while (b && b !== document.body && /^(inline|contents)/.test(cs(b).display))
      b = b.parentElement;
    return b; };
  const tall = [], marked = [];
  for (const m of inline) {
    const box = m.getBoundingClientRect(), math = m.querySelector(':scope > mjx-math');
    if (!math || box.width === 0) continue;
    // the formula as laid out (a marked one's box is cut to its line)
    const line = lineOf(m), natural = math.getBoundingClientRect().width;
    const wide = natural > innerWidth(line) + 1;
    if (m.classList.contains('bn-wide-inline') !== wide)
      marked.push(`${wide ? 'not marked' : 'marked'} (${natural.toFixed(1)} px in a ${
        innerWidth(line)} px line): ${text(m)}`);
    const wrap = m.parentElement.matches('span.math') ? m.parentElement : m;
    const h = math.getBoundingClientRect().height;
    if (!wide && wrap.getBoundingClientRect().height > Math.max(h, px(cs(line).lineHeight)) + 1)
      tall.push(`${wrap.getBoundingClientRect().height.toFixed(1)} px box around a ${
        h.toFixed(1)} px formula: ${text(m)}`);
  }
  // paragraphs whose formulas all fit in a line: a whole number of lines high
  const uneven = [];
  let paragraphs = 0;
  for (const p of document.querySelectorAll('article p')) {
    const maths = [...p.querySelectorAll('mjx-container:not([display="true"])')];
    const lh = px(cs(p).lineHeight);
    if (!maths.length || !lh || p.querySelector('img, mjx-container[display="true"]'))
      continue;
    if (maths.some(m => { const r = m.querySelector(':scope > mjx-math');
                          return !r || r.getBoundingClientRect().height > lh - 4; })) continue;
    paragraphs++;
    const s = cs(p), height = p.getBoundingClientRect().height - px(s.paddingTop)
      - px(s.paddingBottom) - px(s.borderTopWidth) - px(s.borderBottomWidth);
    const lines = height / lh;
    // a superscript may lift its line by a pixel (10^{-3}), as in TeX; a scrollbar
    // or a box under a formula adds its whole height (15 px or more)
    if (Math.abs(lines - Math.round(lines)) * lh > 3)
      uneven.push(`${height.toFixed(1)} px is ${lines.toFixed(2)} lines of ${lh} px: ${text(p)}`);
  }
  // text past the right edge of a box that hides its overflow, or of the window
  const W = document.documentElement.clientWidth;
  const clipped = [], page = document.documentElement;
  const edge = c => c === page ? W
    : c.getBoundingClientRect().left + c.clientLeft + c.clientWidth;
  // a character (not a space: a line's end space hangs past its box) past x
  const visiblePast = (t, x) => {
    const one = document.createRange(), s = t.textContent;
    for (let i = 0; i < Math.min(s.length, 4000); i++) {
      if (/\s/.test(s[i])) continue;
      one.setStart(t, i);
      one.setEnd(t, i + 1);
      if (one.getBoundingClientRect().right > x + 1) return true;
    }
    return false;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const host = t.parentElement;
    if (!t.textContent.trim() || !host || host.closest('mjx-assistive-mml, script, style, '
        + 'noscript, template, .visually-hidden, .sr-only, [hidden]')) continue;
    range.selectNodeContents(t);
    const r = range.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || cs(host).visibility === 'hidden') continue;
    let cut = null, scrolls = false;
    for (let a = host; a && a !== document.documentElement; a = a.parentElement) {
      const s = cs(a);
      if (/auto|scroll/.test(s.overflowX)) { scrolls = true; break; }  // nothing is lost
      if (/hidden|clip/.test(s.overflowX) && a.clientWidth > 1 && r.right > edge(a) + 1
          && visiblePast(t, edge(a))) { cut = a; break; }
    }
    if (!cut && !scrolls && r.right > W + 1 && cs(host).position !== 'fixed'
        && visiblePast(t, W)) cut = page;
    if (cut) clipped.push(`${name(cut)}: "${t.textContent.trim().slice(0, 40)}" ends ${
      (r.right - edge(cut)).toFixed(0)} px past it`);
  }
  return {classic, shown, scrollbars: scrollbars.slice(0, 8), inline: inline.length,
          marked: marked.slice(0, 8), tall: tall.slice(0, 8), paragraphs,
          uneven: uneven.slice(0, 8), clipped: clipped.slice(0, 8)};
}"""


# Ready to measure: MathJax has typeset the page, the page's own scripts have run on
# the typeset formulas (wide-content.js; the feedback page has MathML, no MathJax),
# fonts and images have loaded.
READY = """async () => {
  if (document.querySelector('script[src*="mathjax"]')) {
    const started = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
    for (let i = 0; i < 2000 && !started(); i++) await new Promise(r => setTimeout(r, 25));
    await MathJax.startup.promise;
    for (let i = 0; i < 2000 && !document.documentElement.dataset.bnWideContent; i++)
      await new Promise(r => setTimeout(r, 25));
  }
  await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null
    : new Promise(r => { i.onload = i.onerror = r; })));
}"""


def look(browser, server, url, mode, shot, note=False):
    """Open ``url`` in ``mode`` (a desktop window, 390 px wide for the phone modes: the
    classic scrollbars a phone would overlay), measure it, keep a full-page screenshot
    as ``shot``."""
    viewport, dark = MODES[mode]
    visit = Visit(browser, server, viewport=viewport, dark=dark, mobile=False)
    visit.page.set_default_timeout(300_000)  # a busy machine; nothing here waits on time
    try:
        visit.page.goto(url, wait_until="load")
        visit.page.evaluate(READY)
        facts = visit.page.evaluate(MEASURE)
        if note:
            facts["note"] = visit.page.evaluate(NOTE_PAST)
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / shot), full_page=True, type="jpeg", quality=70)
    finally:
        visit.close()
    return facts


def shot_name(page, mode):
    return re.sub(r"[^\w-]+", "-", page.removesuffix(".html")) + f"-{mode}.jpg"


def assert_looks_right(facts):
    assert facts["classic"] > 0, "scrollbars are overlaid: the check would not see them"
    assert facts["scrollbars"] == [], "a scrollbar on content that fits its box"
    assert facts["marked"] == [], "inline math marked wide that fits its line, or the reverse"
    assert facts["tall"] == [], "inline math in a box taller than the formula and the line"
    assert facts["uneven"] == [], "a paragraph's lines grow around inline math"
    assert facts["clipped"] == [], "text cut off at the right edge"


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("page", PAGES)
def test_every_page_looks_right(page, mode, browser, server):
    facts = look(browser, server, server.url + page, mode, shot_name(page, mode))
    assert_looks_right(facts)


def test_the_chapters_have_inline_math_to_check(browser, server):
    facts = look(browser, server, server.url + "chapters/03-backward.html", "desktop",
                 "probe-03-backward.jpg")
    assert facts["inline"] > 50 and facts["paragraphs"] > 10, facts


def test_the_checks_see_the_defects_of_issue_21(browser, server):
    """The old wide-content rule (every inline formula scrolls), a line of text cut
    off by its box, and a paragraph with a scrollbar are all reported."""
    viewport, dark = MODES["desktop"]
    visit = Visit(browser, server, viewport=viewport, dark=dark)
    visit.page.set_default_timeout(300_000)
    try:
        visit.page.goto(server.url + "chapters/03-backward.html", wait_until="load")
        visit.page.evaluate(READY)
        visit.page.add_style_tag(content=(
            "span.math > mjx-container { display: inline-block; overflow-x: scroll; }"
            " article p:first-of-type { overflow: hidden; white-space: nowrap; }"))
        facts = visit.page.evaluate(MEASURE)
    finally:
        visit.close()
    assert facts["scrollbars"] and facts["tall"] and facts["uneven"], facts
    assert facts["clipped"], facts


def feedback_page(directory):
    """A student's feedback page as bngrade renders it (nbgrader's template, bngrade's
    exporter and preprocessors; the scores given as GetGrades would read them from the
    gradebook): a hidden test's note under a test cell, then the engine's verdict."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    from bngrade.worker.feedback import _exporter_config
    from bngrade.worker.feedback_page import PREPROCESSORS, FeedbackExporter

    exporter = FeedbackExporter(config=_exporter_config(Config()))
    exporter._preprocessors = []
    for pp in PREPROCESSORS:
        if pp is not GetGrades:
            exporter.register_preprocessor(pp)
    test = {"grade": True, "solution": False, "points": 2, "grade_id": "test_forward",
            "locked": True, "score": 1}
    nb = new_notebook(cells=[
        new_markdown_cell("# Problem set 1\nThe batch mean $\\mu_B = \\frac{1}{m}"
                          "\\sum_i x_i$ and its variance."),
        new_code_cell('check("ps1_train_forward", globals())\n### BEGIN HIDDEN TESTS\n'
                      'check("ps1_train_forward", globals(), hidden=True, seed=11)\n'
                      "### END HIDDEN TESTS",
                      outputs=[new_output("stream", name="stdout",
                                          text="OK - the forward pass matches\n")],
                      metadata={"nbgrader": test}),
    ])
    verdicts = {"test_forward": {"score": 1, "points": 2, "message":
                                 "MistakeFound: the variance divides by m - 1 instead of m; "
                                 "divide by the batch size m."}}
    resources = {"nbgrader": {"assignment": "ps1-forward", "notebook": "ps1-forward",
                              "student": "student", "score": 1, "max_score": 2,
                              "late_penalty": 0},
                 "bngrade": {"verdicts": verdicts, "secrets": []}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    (directory / "feedback.html").write_text(html)


# The hidden test's note (bngrade.feedback_page.NOTE): how far its text runs past its box.
NOTE_PAST = """() => {
  const pre = [...document.querySelectorAll('pre')]
    .find(p => p.textContent.includes('The output of this test cell is not shown'));
  const r = document.createRange();
  r.selectNodeContents(pre);
  return r.getBoundingClientRect().right - (pre.getBoundingClientRect().left + pre.clientWidth);
}"""


@pytest.mark.parametrize("mode", list(MODES))
def test_the_feedback_page_looks_right(mode, tmp_path, browser):
    """The note under a hidden test is a sentence: it wraps in its box (it ran past
    the box's right edge, to be scrolled to, at every width)."""
    from builtsite import LocalServer

    feedback_page(tmp_path)
    with LocalServer(tmp_path) as server:
        facts = look(browser, server, server.url + "feedback.html", mode,
                     f"feedback-{mode}.jpg", note=True)
    assert facts["note"] <= 1, f"the note runs {facts['note']:.0f} px past its box"
    assert_looks_right(facts)
