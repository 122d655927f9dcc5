"""Sphinx extension: a chapter's downloadable .ipynb keeps its outputs on warm builds.

With ``execute_notebooks: cache``, myst-nb (1.4) renders a page from the cached
outputs, but on a cache hit it writes the *unexecuted* notebook to
``_build/jupyter_execute/``, and sphinx-book-theme offers that file as the
page's ".ipynb" download. Before the theme copies it, this fills the file from
the same execution cache. A cold build is unaffected (nothing is missing).
"""

from pathlib import Path

import nbformat
from jupyter_cache import get_cache


def has_outputs(nb):
    return any(c.cell_type == "code" and c.get("outputs") for c in nb.cells)


def fill_from_cache(app, pagename, templatename, context, doctree):
    written = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not written.is_file():
        return
    nb = nbformat.read(written, as_version=4)
    if has_outputs(nb):
        return
    cache_dir = app.config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache"
    try:
        _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(nb)
    except KeyError:  # not executed (no code) or not cached: nothing to fill
        return
    nbformat.write(merged, written)


def setup(app):
    # Priority below the default 500, so this runs before the theme copies the file.
    app.connect("html-page-context", fill_from_cache, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
