"""The built site at phone and desktop width, in Debian's Chromium (Playwright).

Menus are opened by tapping, as on a phone; every page is checked for content
that runs past the page instead of scrolling in its own box. Screenshots of the
open menus go to ``tests/artifacts/``.
"""

from urllib.parse import unquote, urlparse

import pytest
from builtsite import ARTIFACTS, all_pages, built_site

# Every test here reads the built site in Chromium: `make test`, not `make check`.
pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PAGES = [p for p in all_pages() if p.startswith("chapters/")]

# Elements that run past the right edge of the window without a scrolling box
# to hold them, and boxes that cut their content off (overflow hidden or clip).
OVERFLOW = """() => {
  const W = document.documentElement.clientWidth;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const inScrollBox = e => { for (let a = e; a && a !== document.body; a = a.parentElement)
                               if (scrolls(a) && a.getBoundingClientRect().right <= W + 1)
                                 return true;
                             return false; };
  const name = e => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
                     ? '.' + String(e.className).split(' ').join('.') : '');
  const past = [], clipped = [];
  for (const e of document.querySelectorAll('article *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || getComputedStyle(e).visibility === 'hidden'
        || e.closest('mjx-assistive-mml')) continue;  // MathJax's copy for screen readers
    if (r.right > W + 1 && !inScrollBox(e)) past.push(name(e) + ': ' + e.textContent.slice(0, 40));
  }
  for (const e of document.querySelectorAll('mjx-container[display="true"], article table')) {
    for (let a = e; a && a.tagName !== 'ARTICLE'; a = a.parentElement) {
      if (scrolls(a)) break;
      const cut = ['hidden', 'clip'].includes(getComputedStyle(a).overflowX);
      if (cut && (e.scrollWidth > a.clientWidth + 1
                  || e.getBoundingClientRect().right > a.getBoundingClientRect().right + 1)) {
        clipped.push(name(a) + ': ' + e.textContent.slice(0, 40));
        break;
      }
    }
  }
  return {page: document.documentElement.scrollWidth - W, past: past.slice(0, 5),
          clipped: clipped.slice(0, 5)};
}"""


def open_page(browser, server, page, device):
    context = browser.new_context(**device)
    context.route("**/*", lambda route: route.continue_()
                  if urlparse(route.request.url).hostname == "127.0.0.1" else route.abort())
    tab = context.new_page()
    tab.goto(server.url + page, wait_until="load")
    tab.evaluate("async () => { if (window.MathJax && MathJax.startup) "
                 "await MathJax.startup.promise; }")
    tab.wait_for_timeout(100)  # the page's own scripts run after typesetting
    return context, tab


def in_view(tab, selector):
    """Whether the first visible element matching ``selector`` lies inside the window."""
    return tab.evaluate("""s => { const e = [...document.querySelectorAll(s)]
        .find(e => e.getBoundingClientRect().width > 0);
      if (!e) return false;
      const r = e.getBoundingClientRect(), cs = getComputedStyle(e);
      return cs.visibility !== 'hidden' && r.left >= 0 && r.right <= innerWidth
             && r.top >= 0 && r.top < innerHeight; }""", selector)


@pytest.mark.slow
def test_tapping_the_menu_button_opens_the_navigation_on_a_phone(browser, server):
    context, tab = open_page(browser, server, "chapters/02-forward.html", PHONE)
    link = '.bd-sidebar-primary a[href*="03-backward"]'
    assert not in_view(tab, link), "the navigation is open before any tap"
    buttons = tab.locator(".primary-toggle:visible")
    assert buttons.count() == 1, "one visible menu button"
    buttons.first.tap()
    tab.wait_for_timeout(500)  # the slide-in transition
    assert in_view(tab, link), "tapping the menu button did not open the navigation"
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "phone-menu-open.png"))
    with tab.expect_navigation():
        tab.locator(link).first.tap()
    assert tab.url.endswith("chapters/03-backward.html")
    context.close()


@pytest.mark.slow
def test_tapping_the_contents_button_opens_the_page_contents_on_a_phone(browser, server):
    context, tab = open_page(browser, server, "chapters/03-backward.html", PHONE)
    entry = ".bd-sidebar-secondary nav.page-toc a"
    assert not in_view(tab, entry)
    tab.locator(".secondary-toggle:visible").first.tap()
    tab.wait_for_timeout(500)
    assert in_view(tab, entry), "tapping the contents button did not open the contents"
    tab.screenshot(path=str(ARTIFACTS / "phone-contents-open.png"))
    context.close()


@pytest.mark.slow
@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["390px", "1280px"])
@pytest.mark.parametrize("page", PAGES)
def test_nothing_runs_past_the_page_and_nothing_is_clipped(page, device, browser, server):
    context, tab = open_page(browser, server, page, device)
    facts = tab.evaluate(OVERFLOW)
    context.close()
    assert facts["page"] <= 0, "the page scrolls sideways"
    assert facts["past"] == [], "content past the right edge, not in a scrolling box"
    assert facts["clipped"] == [], "math or a table cut off instead of scrolling"


def test_the_overflow_check_sees_clipped_math_and_content_past_the_edge(browser, server):
    context, tab = open_page(browser, server, "chapters/02-forward.html", PHONE)
    tab.add_style_tag(content="mjx-container[display='true'] { overflow-x: hidden !important }"
                              " article p { min-width: 800px }")
    facts = tab.evaluate(OVERFLOW)
    context.close()
    assert facts["clipped"] and facts["past"]


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_one_search_entry_and_no_band_in_the_header(device, browser, server):
    context, tab = open_page(browser, server, "chapters/02-forward.html", device)
    facts = tab.evaluate("""() => {
      const shown = e => { const r = e.getBoundingClientRect();
                           return r.width > 0 && r.height > 0
                                  && getComputedStyle(e).visibility !== 'hidden'; };
      const entries = [...document.querySelectorAll('.search-button-field, .search-button')]
                        .filter(shown);
      return {entries: entries.length,
              inHeader: entries.filter(e => e.closest('.bd-header')).length,
              header: [...document.querySelectorAll('.bd-header')].filter(shown).length};
    }""")
    context.close()
    assert facts == {"entries": 1, "inHeader": 0, "header": 0}, facts


def test_every_launch_link_is_a_notebook_url_and_no_placeholder(browser, server):
    context, tab = open_page(browser, server, "chapters/04-train-vs-inference.html", DESKTOP)
    hrefs = tab.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)"
                         ".filter(h => /colab|binder|git-pull/.test(h))")
    context.close()
    assert len(hrefs) >= 4  # the chapter's two and its exercise's two
    for href in hrefs:
        url = urlparse(href)
        assert url.hostname in ("colab.research.google.com", "mybinder.org"), href
        assert unquote(href).endswith(".ipynb"), href
        if url.hostname == "mybinder.org":
            assert "urlpath=notebooks/" in unquote(href), "Binder opens the notebook view"
    text = "".join(p.read_text() for p in built_site().rglob("*.html"))
    assert "example.org" not in text and "example.com" not in text


def test_citations_read_author_year(browser, server):
    context, tab = open_page(browser, server, "chapters/references.html", DESKTOP)
    text = tab.inner_text("article")
    context.close()
    assert "Santurkar et al. 2018" in text and "Ioffe and Szegedy 2015" in text
    assert "STIM" not in text
