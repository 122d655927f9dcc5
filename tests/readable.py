"""What every page and notebook of the course must be for every reader: headings
in order, a description for every image, words (not only colour) for a verdict.

Shared by tests/test_accessibility.py (the site, the exercise notebooks) and
tests/test_nbgrader.py (the feedback HTML). The rule for a figure description
itself lives in :func:`bnlib.book.description_problems`.
"""

import re
from html.parser import HTMLParser

# The axe-core rules for WCAG 2.0 and 2.1, levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
GRAVE = ("serious", "critical")


def skipped_levels(levels):
    """The places where a heading goes more than one level deeper than the one before
    (an ``h2`` followed by an ``h4``), as ``(previous, level)`` pairs."""
    return [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]


class _Outline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.images = [], []

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "img":
            self.images.append(dict(attrs))


def html_outline(page):
    """``(heading levels, img attribute dicts)`` of an HTML page, in document order."""
    outline = _Outline()
    outline.feed(page)
    return outline.headings, outline.images


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")


def notebook_outline(nb):
    """``(heading levels, [(alt, src), ...])`` of a notebook's markdown cells (fenced
    code skipped; HTML ``<h1>``..``<h6>`` and ``<img>`` in markdown counted too), and
    the descriptions of its image outputs (their ``text/plain``) as images too."""
    levels, images = [], []
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown":
            fenced = False
            for line in source.splitlines():
                if _FENCE.match(line):
                    fenced = not fenced
                elif not fenced and (m := _HEADING.match(line)):
                    levels.append(len(m.group(1)))
            images += _MD_IMAGE.findall(source)
            tags, imgs = html_outline(source)
            levels += tags
            images += [(img.get("alt"), img.get("src")) for img in imgs]
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if any(kind.startswith("image/") for kind in data):
                images.append((data.get("text/plain"), "an image output"))
    return levels, images


def colour_styles(text):
    """Inline colour styling in a notebook's prose (a signal a reader may not see)."""
    return re.findall(r"color\s*[:=][^;\"'>]*|<font[^>]*>", text, re.I)
