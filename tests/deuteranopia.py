"""Screenshot one figure of the built site as a reader with deuteranopia sees it.

Chromium simulates the colour-vision deficiency itself (the DevTools protocol's
``Emulation.setEmulatedVisionDeficiency``); the page is served from 127.0.0.1
like in the browser tests. Run after ``make book``, from the repository root::

    .venv/bin/python tests/deuteranopia.py chapters/01-motivation.html 3 \\
        tests/artifacts/lr-sweep-after.png
    .venv/bin/python tests/deuteranopia.py chapters/01-motivation.html "learning rate" \\
        tests/artifacts/lr-sweep-after.png

The figure is the n-th image of the page's article (1 is the first) or the first
whose description contains the given words. Two files are written: the figure
as it is (``...-normal.png``) and under simulated deuteranopia (the given name).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builtsite import LocalServer, Visit, built_site, launch_browser  # noqa: E402


def figure_locator(page, which):
    images = page.locator("article img")
    if which.isdigit():
        return images.nth(int(which) - 1)
    return page.locator(f"article img[alt*={which!r}]").first


def screenshot(page_path, which, out, deficiency="deuteranopia"):
    from playwright.sync_api import sync_playwright

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    normal = out.with_name(f"{out.stem}-normal{out.suffix}")
    with LocalServer(built_site()) as server, sync_playwright() as p:
        browser = launch_browser(p)
        visit = Visit(browser, server)
        try:
            visit.open(server.url + page_path)
            figure = figure_locator(visit.page, which)
            figure.scroll_into_view_if_needed()
            figure.screenshot(path=str(normal))
            cdp = visit.context.new_cdp_session(visit.page)
            cdp.send("Emulation.setEmulatedVisionDeficiency", {"type": deficiency})
            figure.screenshot(path=str(out))
            alt = figure.get_attribute("alt")
        finally:
            visit.close()
            browser.close()
    return normal, out, alt


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    normal, simulated, alt = screenshot(*sys.argv[1:])
    print(f"{normal}\n{simulated}\nalt: {alt}")
