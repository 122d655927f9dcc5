"""Sphinx extension: accessibility fixes at their source (axe-core finds each).

1. The bibliography is a list that assistive technology accepts.

docutils' HTML5 writer (0.21, used by Sphinx for the citations that
sphinxcontrib-bibtex creates on the references page) wraps the entries in
``<div role="list">`` and gives each entry ``role="doc-biblioentry"``. That
role was deprecated by DPUB-ARIA 1.1, and a ``list`` whose children are not
``listitem`` is broken for a screen reader: the axe-core audit reports both
(``aria-deprecated-role``, ``aria-required-children``, critical). Here each
entry is a ``listitem`` instead, so the page reads as a list of references.

The change is made in the HTML translator, wrapping whichever one is in use
(the theme's Bootstrap mixin included), after the theme installed it.

2. A region that scrolls (a wide table or code block on a phone) can be reached
from the keyboard: ``static/bn-scroll-focus.js`` gives it a tab stop while it
scrolls (``scrollable-region-focusable``, serious; pydata-sphinx-theme does this
itself from 0.16 on, older versions do not).

3. Text has 4.5:1 contrast on every surface (``static/bn-contrast.css``): the
theme's link blue falls short on tinted backgrounds such as a table's striped
rows, in light and dark mode, and its dark-mode caption grey on the light
background it gives cell outputs, where show_figure's captions sit
(``color-contrast``, serious).

tests/test_accessibility.py audits every page.
"""

import types
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

DEPRECATED_ROLE = 'role="doc-biblioentry"'
LIST_ITEM_ROLE = 'role="listitem"'


class CitationAsListItem:
    """Translator mixin: a citation entry is a ``listitem`` of the citation list."""

    def visit_citation(self, node):
        super().visit_citation(node)
        self.body[-1] = self.body[-1].replace(DEPRECATED_ROLE, LIST_ITEM_ROLE)


def use_list_items(app):
    if app.builder.format != "html":
        return
    try:
        translator = app.builder.get_translator_class()
    except AttributeError:  # a builder without a translator (linkcheck)
        return
    if translator is None or not hasattr(translator, "visit_citation"):
        return
    accessible = types.new_class(f"Accessible{translator.__name__}",
                                 (CitationAsListItem, translator), {})
    app.set_translator(app.builder.name, accessible, override=True)


def add_static(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    # After pydata-sphinx-theme wraps the translator (builder-inited, priority 500).
    app.connect("builder-inited", use_list_items, priority=900)
    app.connect("builder-inited", add_static)
    app.add_js_file("bn-scroll-focus.js", loading_method="defer")
    app.add_css_file("bn-contrast.css", priority=900)  # after the theme's own
    return {"parallel_read_safe": True, "parallel_write_safe": True}
