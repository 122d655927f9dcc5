"""The built site in a real browser: Debian's Chromium, driven by Playwright.

Every page is opened from a server on 127.0.0.1 with all other hosts blocked,
so a page that needs the internet (a CDN script, a web font) fails here, as it
would in an air-gapped lab. No browser is downloaded: Playwright drives
``/usr/bin/chromium`` (``make sysdeps`` installs it).
"""

from urllib.parse import urljoin, urlparse

import pytest
from builtsite import ARTIFACTS, all_pages, toc_pages

CHAPTERS = toc_pages()
# index.html only redirects to the first page (tested on its own below).
PAGES = [p for p in all_pages() if p != "index.html"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(page, visit, server):
    facts = visit.open(server.url + page)
    assert visit.external == [], f"requests to other hosts: {visit.external}"
    assert visit.bad_responses == [], f"failed requests: {visit.bad_responses}"
    assert visit.console_errors == [], f"console errors: {visit.console_errors}"
    assert facts["broken"] == [], f"images that did not load: {facts['broken']}"
    if facts["math"]:
        assert facts["mjx"] > 0, "the page has math but MathJax typeset none of it"
    assert facts["untypeset"] == [], f"math left as raw TeX: {facts['untypeset']}"
    assert facts["mjxErrors"] == [], f"MathJax errors: {facts['mjxErrors']}"
    assert "$$" not in facts["text"], "raw $$ in the visible text"
    stem = page.removesuffix(".html").replace("/", "_")
    if page.removesuffix(".html") in CHAPTERS:
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)


def test_index_redirects_to_the_first_page(visit, server):
    visit.page.goto(server.url + "index.html")
    visit.page.wait_for_url(f"{server.url}{CHAPTERS[0]}.html")
    visit.page.wait_for_load_state("load")
    assert visit.external == [] and visit.console_errors == []


def test_every_chapter_has_math_and_figures_where_expected(visit, server):
    counts = {}
    for doc in CHAPTERS:
        facts = visit.open(f"{server.url}{doc}.html")
        counts[doc] = (facts["mjx"], facts["figures"])
    # Chapters 1 to 5 all typeset equations; 1, 3, 4 and 5 have plots.
    for doc in CHAPTERS[1:6]:
        assert counts[doc][0] > 0, (doc, counts)
    for n in ("01", "03", "04", "05"):
        doc = next(d for d in CHAPTERS if d.startswith(f"chapters/{n}-"))
        assert counts[doc][1] > 0, (doc, counts)


@pytest.mark.slow
@pytest.mark.parametrize("here,there", list(zip(CHAPTERS[:-1], CHAPTERS[1:])))
def test_next_button_goes_to_the_next_chapter(here, there, visit, server):
    visit.open(f"{server.url}{here}.html")
    with visit.page.expect_navigation():
        visit.page.click("a.right-next")
    assert urlparse(visit.page.url).path == f"/{there}.html"
    assert visit.external == []


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in CHAPTERS if d.startswith("chapters/0")])
def test_chapter_offers_its_notebook_for_download(doc, visit, server):
    visit.open(f"{server.url}{doc}.html")
    # The chapter's own notebook (the launch and exercise links are other .ipynb).
    name = doc.rsplit("/", 1)[-1]
    href = visit.page.get_attribute(f'a[href$="_sources/chapters/{name}.ipynb"]', "href")
    response = visit.context.request.get(urljoin(visit.page.url, href))
    assert response.status == 200
    nb = response.json()
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert any(c["cell_type"] == "code" and c.get("outputs") for c in nb["cells"])
