"""Sphinx extension: what a student runs, published with the site.

* The students' wheel (:mod:`student_package`) is written to ``wheels/`` in the
  site, where each notebook's first cell installs it from.
* Every chapter's downloadable ``.ipynb`` opens with that install cell (under a
  line saying what it does), so it runs anywhere with nothing but Python and
  pip; :mod:`plain_notebooks` then rewrites its MyST as plain Markdown.
* ``_build/notebooks/`` collects the notebooks Colab, Binder and a JupyterHub
  open: the chapters (executed, with the install cell) and the exercise release,
  plus the students' Binder environment (``binder/``) and the wheel. The Pages
  workflow publishes that folder as the branch ``notebooks_branch`` of the
  repository (Colab opens notebooks from GitHub; Binder builds from a branch).
* The chapters' launch buttons open those ``.ipynb`` files (Binder in the
  notebook view); the JupyterHub entry appears only when ``jupyterhub_url`` is
  set in ``_config.yml``.
* The role ``{notebook}`ps1-forward``` gives an exercise's three links:
  download, Colab and Binder; ``{wheel}`pip``` the command that installs the
  course package from the site.
"""

import shutil
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxRole

sys.path.insert(0, str(Path(__file__).resolve().parent))
import student_package  # noqa: E402

ROOT = student_package.ROOT
INSTALL_ID = "install-course-package"
INTRO_ID = "install-course-package-intro"


class Launch:
    """URLs that open a notebook of the ``notebooks`` branch on Colab, Binder, a JupyterHub."""

    def __init__(self, app):
        opts = app.config.html_theme_options
        repo = opts.get("repository_url", "").rstrip("/")
        if not repo.startswith("https://github.com/"):
            raise ValueError(f"launch links need a GitHub repository, not {repo!r}")
        self.repo_url = repo
        self.org, self.repo = repo.removeprefix("https://github.com/").split("/")[:2]
        self.branch = app.config.notebooks_branch
        buttons = opts.get("launch_buttons", {})
        self.colab = buttons.get("colab_url", "").rstrip("/")
        self.binder = buttons.get("binderhub_url", "").rstrip("/")
        self.hub = buttons.get("jupyterhub_url", "").rstrip("/")

    def links(self, path):
        """``[(name, url)]`` for the notebook at ``path`` in the branch."""
        out = []
        if self.colab:
            out.append(("Colab", f"{self.colab}/github/{self.org}/{self.repo}/blob/"
                                 f"{self.branch}/{quote(path)}"))
        if self.binder:
            out.append(("Binder", f"{self.binder}/v2/gh/{self.org}/{self.repo}/{self.branch}"
                                  f"?urlpath={quote('notebooks/' + path, safe='')}"))
        if self.hub:
            query = urlencode({"repo": self.repo_url, "branch": self.branch,
                               "urlpath": f"notebooks/{self.repo}/{path}"}, safe="/")
            out.append(("JupyterHub", f"{self.hub}/hub/user-redirect/git-pull?{query}"))
        return out


ICONS = {"Colab": "_static/images/logo_colab.png", "Binder": "_static/images/logo_binder.svg",
         "JupyterHub": "_static/images/logo_jupyterhub.svg"}


def chapter_notebooks(app, pagename, templatename, context, doctree):
    """Launch buttons that open the chapter's .ipynb; the download opens with the install cell."""
    group = next((b for b in context.get("header_buttons", [])
                  if b.get("label") == "launch-buttons"), None)
    if group is None:
        return
    group["buttons"] = [
        {"type": "link", "text": name, "tooltip": f"Open this chapter as a notebook on {name}",
         "icon": ICONS[name], "url": url}
        for name, url in Launch(app).links(f"{pagename}.ipynb")]
    download = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    if download.is_file():
        nb = nbformat.read(download, as_version=4)
        if not any(c.get("id") == INSTALL_ID for c in nb.cells):
            nb.cells[0:0] = student_package.install_cells(app.config.html_baseurl,
                                                          INTRO_ID, INSTALL_ID)
            nbformat.write(nb, download)


class NotebookRole(SphinxRole):
    """``{notebook}`ID```: download link of exercises/ID/ID.ipynb, then Colab and Binder."""

    def run(self):
        ident = self.text.strip()
        release = ROOT / "exercises" / ident / f"{ident}.ipynb"
        if not release.is_file():
            msg = self.inliner.reporter.error(f"no exercise notebook {release}", line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        target = "/" + release.relative_to(ROOT).as_posix()  # "/": from the book's root
        link = addnodes.download_reference(self.rawtext, "", reftarget=target,
                                           refdoc=self.env.docname, refexplicit=True,
                                           refdomain="", reftype="download")
        link += nodes.literal(text=f"{ident}.ipynb")
        out = [nodes.Text("Exercise notebook "), link, nodes.Text(" (download)")]
        for name, url in Launch(self.env.app).links(f"exercises/{ident}/{ident}.ipynb"):
            out += [nodes.Text(" · "), nodes.reference("", f"open in {name}", refuri=url)]
        out.append(nodes.Text(". Its first cell installs the course package."))
        return out, []


class WheelRole(SphinxRole):
    """``{wheel}`pip```: the command that installs the course package from this site."""

    def run(self):
        url = student_package.wheel_url(self.config.html_baseurl)
        return [nodes.literal(text=f"pip install {url}")], []


def publish(app, exception):
    """The wheel into the site; the notebooks tree next to it."""
    if exception is not None or app.builder.name != "html":
        return
    student_package.build_wheel(Path(app.outdir) / student_package.WHEELS)
    tree = Path(app.outdir).parent / "notebooks"
    shutil.rmtree(tree, ignore_errors=True)
    for ipynb in sorted((Path(app.outdir) / "_sources").rglob("*.ipynb")):
        dest = tree / ipynb.relative_to(Path(app.outdir) / "_sources")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ipynb, dest)
    for release in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        dest = tree / release.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(release, dest)
    shutil.copytree(ROOT / "binder", tree / "binder")
    student_package.build_wheel(tree / "binder")
    (tree / "README.md").write_text(
        f"# Notebooks of *{app.config.project}*\n\nGenerated by `make book` from "
        f"{Launch(app).repo_url} (branch main) for Colab, Binder and JupyterHub; "
        f"do not edit here. The book: {app.config.html_baseurl}\n")


def setup(app):
    app.add_config_value("notebooks_branch", "notebooks", "html")
    app.add_role("notebook", NotebookRole())
    app.add_role("wheel", WheelRole())
    # After the theme's launch buttons and its copy of the .ipynb (priority 501).
    app.connect("html-page-context", chapter_notebooks, priority=502)
    app.connect("build-finished", publish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
