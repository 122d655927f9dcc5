"""The course's PDF (``make pdf``, _ext/course_pdf.py), read as a reader's PDF viewer
would, with poppler-utils (``pdfinfo``, ``pdftotext``): every chapter in order,
formulas as typeset formulas (not TeX), numbered figures with their captions,
internal links that land in the document, no button of the site, and a button to it
on every page of the site.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from builtsite import HTML, ROOT, all_pages, site_figures

sys.path.insert(0, str(ROOT / "_ext"))
from course_pdf import PDF_NAME, TOOLTIP  # noqa: E402

# Every test here reads the built site's PDF: `make test` (which makes it), not `make check`.
pytestmark = [pytest.mark.slow, pytest.mark.site]

PDF = HTML / PDF_NAME
CHAPTERS = sorted((ROOT / "chapters").glob("0*.md"))


def title(md):
    return next(line[2:].strip() for line in md.read_text().splitlines()
                if line.startswith("# "))


@pytest.fixture(scope="module")
def pdf():
    if not PDF.is_file():
        raise AssertionError(f"{PDF} is missing: run `make pdf` (`make test` does)")
    return PDF


@pytest.fixture(scope="module")
def info(pdf):
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return dict(re.findall(r"^([^:]+):\s*(.*)$", out.stdout, re.M))


@pytest.fixture(scope="module")
def text(pdf):
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True)
    return out.stdout


def test_the_pdf_is_a_book_of_a4_pages(info):
    assert info["Page size"].startswith("595") and "A4" in info["Page size"], info
    assert int(info["Pages"]) >= 60, info["Pages"]
    assert "Batch Normalization" in info.get("Title", ""), info


def test_every_chapter_is_there_in_order(text):
    flat = " ".join(text.split())
    places = [flat.find(title(md)) for md in CHAPTERS]
    assert all(p >= 0 for p in places), [title(md) for md, p in zip(CHAPTERS, places) if p < 0]
    assert places == sorted(places), "the chapters are out of order"
    assert "Santurkar" in flat and "References" in flat


def test_formulas_are_typeset_not_tex(text):
    assert "\\frac" not in text and "\\hat" not in text and "$$" not in text
    assert "\\(" not in text and "\\[" not in text
    # MathJax's glyphs come out as text: the batch statistics' Greek letters, and
    # the normalised value's formula (chapter 2) with its minus sign and subscripts
    assert text.count("μ") > 50 and text.count("σ") > 50
    assert re.search(r"xi − μB", text), "the normalisation formula is not in the text"


def test_figures_are_numbered_with_their_captions(text):
    flat = " ".join(text.split())
    captions = [fig["caption"] for _, fig in site_figures() if fig["caption"]]
    assert len(captions) >= 10
    for caption in captions:
        assert " ".join(caption.split()[:6]) in flat, caption
    numbers = re.findall(r"Figure (\d+)\.(\d+)\.", flat)
    assert len(numbers) == len(captions), (len(numbers), len(captions))
    assert ("1", "1") in numbers and ("1", "2") in numbers


def test_no_button_of_the_site_is_printed(text):
    lines = {line.strip() for line in text.splitlines()}
    for label in (".ipynb", ".md", ".pdf", "Binder", "Colab", "repository", "open issue",
                  "Search", "Ctrl+K"):
        assert label not in lines, label


def test_internal_links_land_in_the_document(pdf):
    """Every link to a place in the book names a destination the PDF defines; no
    link leads to a file of the machine that printed it."""
    data = pdf.read_bytes()  # Chromium (Skia) writes link annotations uncompressed
    links = re.findall(rb"/Subtype\s*/Link", data)
    used = {m.decode() for m in re.findall(rb"/Dest\s*/([^\s/\]>]+)", data)}
    out = subprocess.run(["pdfinfo", "-dests", str(pdf)], capture_output=True, text=True,
                         check=True).stdout
    defined = {line.split()[-1].strip('"') for line in out.splitlines()[1:] if line.strip()}
    assert len(links) > 100 and len(used) > 30, (len(links), len(used))
    names = {re.sub("#([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), u) for u in used}
    assert names <= defined, sorted(names - defined)[:5]
    assert b"file:" not in data and b"_build" not in data
    # a link to a file of the site (an exercise notebook) is to the published copy
    base = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"].encode()
    files = [u[len(base):].decode() for u in re.findall(rb"/URI\s*\(([^)]*)\)", data)
             if u.startswith(base)]
    assert files and all((HTML / f).is_file() for f in files), files


def test_every_page_of_the_site_links_to_the_pdf():
    for page in all_pages():
        if page == "index.html":  # only redirects
            continue
        html = (HTML / page).read_text()
        hrefs = re.findall(r'<a href="([^"]*' + re.escape(PDF_NAME) + r')"[^>]*title="'
                           + re.escape(TOOLTIP), html)
        assert hrefs, f"{page} has no button to the PDF"
        assert (HTML / Path(page).parent / hrefs[0]).resolve() == PDF.resolve(), hrefs
