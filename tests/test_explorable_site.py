"""The explorable figures of the built site (bnlib/explore.py) in Chromium.

Each figure's controls are operated as a reader does, with the keyboard at
least once, and after each step the figure's data (its Bokeh data sources) and
its description must have changed. Only 127.0.0.1 is reachable (BokehJS is in
the page). Screenshots at desktop and phone width go to tests/artifacts/.
"""

import pytest
from builtsite import ARTIFACTS, DESKTOP, PHONE, Visit

pytestmark = pytest.mark.slow

# What the figures hold, read from BokehJS: every data source and the description
# of the figure named NAME (bnlib.explore names them "explore:NAME:...").
STATE = """(name) => {
  const prefix = `explore:${name}:`, out = {};
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (!m.name || !m.name.startsWith(prefix)) continue;
      if (m.data !== undefined) {
        const d = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
        out[m.name] = JSON.stringify(d, (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v);
      } else if (m.text !== undefined) {
        out.note = m.text;
      }
    }
  }
  return out;
}"""

# (page, figure name, steps): a step is (control's label, "key" to press the down
# arrow in it, or the option to choose, by its text).
FIGURES = [
    ("chapters/01-motivation.html", "batch-noise",
     [("batch size", "key"), ("batch size", "128")]),
    ("chapters/04-train-vs-inference.html", "running-averages",
     [("momentum (PyTorch convention)", "key"), ("learning rate", "0.3")]),
    ("chapters/05-placement-and-family.html", "cube",
     [("normaliser", "key"), ("normaliser", "group norm"), ("groups (group norm)", "key"),
      ("groups (group norm)", "1")]),
]


@pytest.mark.parametrize("page,name,steps", FIGURES, ids=[f[1] for f in FIGURES])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_each_control_changes_the_figure(page, name, steps, width, browser, server):
    visit = Visit(browser, server, viewport=DESKTOP if width == "desktop" else PHONE)
    try:
        visit.open(server.url + page)
        visit.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        before = visit.page.evaluate(STATE, name)
        assert before.get("note") and len(before) >= 2, before.keys()
        for label, how in steps:
            control = visit.page.get_by_role("combobox", name=label)
            if how == "key":
                control.focus()
                visit.page.keyboard.press("ArrowDown")
            else:
                control.select_option(label=how)
            visit.page.wait_for_function(
                "([name, note]) => { for (const d of Bokeh.documents) for (const m of "
                "d.all_models) if (m.name === `explore:${name}:note` && m.text !== note) "
                "return true; return false; }", arg=[name, before["note"]])
            after = visit.page.evaluate(STATE, name)
            changed = [k for k in before if k != "note" and after[k] != before[k]]
            assert changed, f"{label}: the figure's data did not change"
            before = after
        assert visit.external == [], visit.external
        assert visit.console_errors == [], visit.console_errors
        ARTIFACTS.mkdir(exist_ok=True)
        figure = visit.page.locator(".bn-explorable-live").first
        figure.scroll_into_view_if_needed()
        figure.screenshot(path=str(ARTIFACTS / f"explorable-{name}-{width}.png"))
    finally:
        visit.close()
