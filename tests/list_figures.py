"""Print every figure of the built site with its description (for the release note).

Run after ``make book``, from the repository root::

    .venv/bin/python tests/list_figures.py            # Markdown, one item per figure
    .venv/bin/python tests/list_figures.py --check    # also exit 1 if one is not a sentence
    .venv/bin/python tests/list_figures.py --site OTHER/_build/html   # another built site

The figures and the rule are those of tests/test_accessibility.py
(``builtsite.site_figures``, ``bnlib.book.description_problems``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builtsite import site_figures  # noqa: E402

from bnlib.book import description_problems  # noqa: E402


def main(argv):
    site = argv[argv.index("--site") + 1] if "--site" in argv else None
    figures, failing, page_before, n = site_figures(site), 0, None, 0
    for page, fig in figures:
        if page != page_before:
            print(f"\n### {page}\n")
            page_before, n = page, 0
        n += 1
        problems = description_problems(fig["alt"] or "")
        failing += bool(problems)
        note = f" **(not a description: {', '.join(problems)})**" if problems else ""
        caption = f" *Caption:* {fig['caption']}" if fig["caption"] else ""
        print(f"{n}. {fig['alt']}{note}{caption}")
    print(f"\n{len(figures)} figures, {len(figures) - failing} described by a sentence.")
    return 1 if failing and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
