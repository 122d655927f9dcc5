"""Helpers for the tests of the built site (``_build/html``, made by ``make book``).

The site tests read the book as built; they do not build it. ``make test``
builds the book first, then runs pytest.
"""

import functools
import http.server
import threading
from pathlib import Path

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


def all_pages():
    """Every HTML page of the built site, relative to the site root."""
    return sorted(p.relative_to(built_site()).as_posix() for p in built_site().rglob("*.html")
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
