"""The whole course as one PDF, and a button to it on every page (issue 21).

``make pdf`` builds the book on one page (jupyter-book's ``singlehtml`` builder,
the chapters' executed outputs from the build's cache) and prints that page with
Chromium (``python _ext/course_pdf.py``): once MathJax has typeset every formula
and the page's fonts and images have loaded (no fixed wait), Chromium's own PDF
printer (the DevTools protocol's ``Page.printToPDF``, through Playwright) writes
A4 pages with the headings as the PDF's outline and the page's anchors as
working internal links. What a printed page has no use for (the launch and
download buttons, the sidebars, the copy buttons) is hidden by
``_static/print.css``. The PDF goes next to the site's pages,
``_build/html/`` :data:`PDF_NAME`.

As a Sphinx extension (``_config.yml``), it adds to the header of every page of
the html site a button that opens that PDF.
"""

import argparse
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

PDF_NAME = "batchnorm-from-first-principles.pdf"
TOOLTIP = "The whole course as one PDF"

# Ready to print: MathJax has typeset the page (it loads deferred), the page's
# scripts have run on the typeset formulas (_static/wide-content.js), the fonts
# (MathJax's among them) and every image have loaded.
READY = """async () => {
  for (let i = 0; i < 400 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 25));
  if (!(window.MathJax && MathJax.startup)) throw new Error('MathJax did not start');
  await MathJax.startup.promise;
  await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null
    : new Promise(r => { i.onload = i.onerror = r; })));
  for (let i = 0; i < 400 && !document.documentElement.dataset.bnWideContent; i++)
    await new Promise(r => setTimeout(r, 25));
  return {formulas: document.querySelectorAll('mjx-container').length,
          untypeset: [...document.querySelectorAll('.math')]
                       .filter(m => !m.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length,
          broken: [...document.images].filter(i => !i.naturalWidth).length};
}"""

# A link (not a stylesheet) to a file of the site: neither within the page nor absolute.
LOCAL_LINK = re.compile(r"""(<a\b[^>]*?\bhref=")(?!#|[A-Za-z][\w+.-]*:)""")


def site_url():
    """Where the site is published (``html.baseurl`` of _config.yml), ending in /."""
    import yaml

    url = yaml.safe_load(Path("_config.yml").read_text())["html"]["baseurl"]
    return url if url.endswith("/") else url + "/"


# The page's footer: the page number (Chromium fills the spans).
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def chromium():
    """Debian's Chromium (as the tests use), or the one named by $CHROMIUM."""
    import os

    for name in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium",
                 "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    sys.exit("course_pdf: no Chromium found (install Debian's chromium: `make sysdeps`, "
             "or set CHROMIUM to a Chromium or Chrome executable)")


def print_pdf(page, out):
    """Print the single-page book ``page`` (an html file) to ``out``; the page's facts."""
    from playwright.sync_api import sync_playwright

    url = Path(page).resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update"])
        try:
            tab = browser.new_page(viewport={"width": 1000, "height": 1400})
            # the book needs nothing from another host: nothing else is fetched
            tab.route("**/*", lambda route: route.continue_()
                      if urlparse(route.request.url).scheme in ("file", "data")
                      else route.abort())
            tab.goto(url, wait_until="load", timeout=120_000)
            tab.emulate_media(media="print")
            facts = tab.evaluate(READY)
            if facts["untypeset"] or facts["errors"] or facts["broken"]:
                sys.exit(f"course_pdf: the page is not ready to print: {facts}")
            out.parent.mkdir(parents=True, exist_ok=True)
            tab.pdf(path=str(out), format="A4", print_background=True, outline=True,
                    tagged=True, display_header_footer=True, header_template="<span></span>",
                    footer_template=FOOTER,
                    margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
        finally:
            browser.close()
    return facts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path, help="the singlehtml build (_build/singlehtml)")
    parser.add_argument("out", type=Path, help="the PDF to write")
    args = parser.parse_args(argv)
    # The book's one page is its root document's (index.html only redirects to it),
    # chapters/intro.html; its links to _static/ and _images/ are written as if it
    # were at the build's top (Sphinx's single-page builder), and its links to a
    # section as links to chapters/intro.html#section: print a copy at the top,
    # those links made links within the page, and its links to files of the site
    # (the exercise notebooks) links to the published site.
    root = re.search(r"^root:\s*(\S+)", Path("_toc.yml").read_text(), re.M).group(1)
    page = args.build / f"{root}.html"
    if not page.is_file():
        sys.exit(f"course_pdf: {page} is missing: build the single-page book first")
    top = args.build / "course.html"
    text = page.read_text(encoding="utf-8").replace(f'href="{root}.html#', 'href="#')
    # a link to a file of the site (an exercise notebook) opens the published site's
    text = LOCAL_LINK.sub(lambda m: m.group(1) + site_url(), text)
    top.write_text(text, encoding="utf-8")
    start = time.monotonic()
    facts = print_pdf(top, args.out)
    print(f"course_pdf: {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, "
          f"{facts['formulas']} formulas) printed in {time.monotonic() - start:.0f} s")


# ---------------------------------------------------------------- the button


def add_pdf_button(app, pagename, templatename, context, doctree):
    """A header button (sphinx-book-theme's list) that opens the course's PDF."""
    buttons = context.get("header_buttons")
    if app.builder.name != "html" or buttons is None:
        return
    buttons.append({"type": "link", "url": context["pathto"](PDF_NAME, 1),
                    "tooltip": TOOLTIP, "icon": "fas fa-file-pdf", "label": "course-pdf"})


def share_html_handlers(app):
    """The single-page builder renders every node the html builder does.

    Sphinx looks up the visitors extensions register for a builder by its name,
    and falls back on those for its format ("html") only when none is registered
    for the name: once one extension registers a node for "singlehtml", the nodes
    registered for "html" alone (myst-nb's folded code cells) are unknown there."""
    handlers = app.registry.translation_handlers
    if app.builder.name == "singlehtml" and "singlehtml" in handlers:
        for node, visitors in handlers.get("html", {}).items():
            handlers["singlehtml"].setdefault(node, visitors)


def setup(app):
    app.connect("builder-inited", share_html_handlers)
    # after the theme's own buttons (priority 501)
    app.connect("html-page-context", add_pdf_button, priority=503)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    main()
