"""Helpers for the tests of the built site (``_build/html``, made by ``make book``).

The site tests read the book as built; they do not build it. ``make test``
builds the book first, then runs pytest. The browser tests (test_browser.py,
test_accessibility.py) open pages through :class:`Visit`; their fixtures
(``server``, ``browser``, ``visit``) are in conftest.py.
"""

import functools
import http.server
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Flags that work as root in a container: no sandbox, no GPU, and no
# background traffic of the browser's own (updates, sync, field trials).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def built_site():
    """The html output directory; fails (does not skip) when the book is not built."""
    if not (HTML / "index.html").is_file():
        raise AssertionError(f"{HTML} has no index.html: run `make book` first "
                             "(`make test` does)")
    return HTML


def toc_pages():
    """Document names in reading order (root first), from ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for entry in toc["chapters"]]


def all_pages(site=None):
    """Every HTML page of the built site (or of ``site``), relative to its root."""
    site = Path(site) if site else built_site()
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class LocalServer:
    """Serve a directory on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, directory):
        handler = functools.partial(QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


# Wait for MathJax to finish typesetting (the page loads it deferred).
MATHJAX_DONE = """async () => {
  if (!document.querySelector('script[src*="mathjax"]')) return false;
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 25));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  return Boolean(window.MathJax && MathJax.startup);
}"""

PAGE_FACTS = """() => {
  const maths = [...document.querySelectorAll('.math')];
  const imgs = [...document.images];
  return {
    math: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                    .map(m => m.textContent.slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    mjxErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    images: imgs.length,
    figures: document.querySelectorAll('article .cell_output img').length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    text: document.body.innerText,
  };
}"""

# The theme (pydata-sphinx-theme) keeps the reader's choice of light or dark in
# localStorage ("mode", "theme") and applies it before the page paints; this is
# what its switcher button stores.
DARK_MODE = """() => {
  localStorage.setItem("mode", "dark");
  localStorage.setItem("theme", "dark");
}"""

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def launch_browser(playwright):
    """Debian's Chromium (never a downloaded one), with the flags above."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class Visit:
    """A page with every request off 127.0.0.1 aborted and every problem recorded.

    ``viewport`` is :data:`DESKTOP` unless given (:data:`PHONE` for a phone);
    ``dark`` opens every page in the theme's dark mode, as a reader who chose it;
    ``mobile=False`` keeps a narrow window a desktop one (classic scrollbars, no touch).
    """

    def __init__(self, browser, server, viewport=None, dark=False, mobile=None):
        phone = viewport is not None and viewport["width"] < 600 if mobile is None else mobile
        self.context = browser.new_context(viewport=viewport or DESKTOP,
                                           is_mobile=phone, has_touch=phone,
                                           color_scheme="dark" if dark else "light")
        if dark:
            self.context.add_init_script(f"({DARK_MODE})()")
        self.page = self.context.new_page()
        self.external, self.console_errors, self.bad_responses = [], [], []
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        self.page.on("response", self._response)

    def _route(self, route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def _response(self, response):
        if response.status >= 400:
            self.bad_responses.append(f"{response.status} {response.url}")

    def open(self, url):
        self.page.goto(url, wait_until="load")
        self.page.evaluate(MATHJAX_DONE)
        self.page.wait_for_load_state("networkidle")
        return self.page.evaluate(PAGE_FACTS)

    def close(self):
        self.context.close()


class _Figures(HTMLParser):
    """The ``<img>`` elements of a page's article (not the theme's logos), with
    the caption of the ``<figure>`` around each, if any."""

    def __init__(self):
        super().__init__()
        self.depth, self.figures, self.caption = 0, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.depth += 1
        elif tag == "img" and self.depth:
            src = attrs.get("src") or ""
            self.figures.append({"alt": attrs.get("alt"),
                                 "src": src if not src.startswith("data:") else "data:…",
                                 "caption": None})
        elif tag == "figcaption" and self.depth and self.figures:
            self.caption = []

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1
        elif tag == "figcaption" and self.caption is not None:
            self.figures[-1]["caption"] = " ".join("".join(self.caption).split())
            self.caption = None

    def handle_data(self, data):
        if self.caption is not None:
            self.caption.append(data)


def site_figures(site=None):
    """Every figure of the built site (or of another built ``site`` directory), page
    by page: ``[(page, figure), ...]``, a figure a dict with its ``alt``, ``src``
    and ``caption``."""
    site = Path(site) if site else built_site()
    found = []
    for page in all_pages(site):
        parser = _Figures()
        parser.feed((site / page).read_text(encoding="utf-8"))
        found += [(page, fig) for fig in parser.figures]
    return found
