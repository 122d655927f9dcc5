"""A chapter re-executes when the bnlib code it imports changes (``_ext/stale_chapters.py``).

myst-nb's cache keys a chapter by its own code; the extension removes a cached
chapter from jupyter-cache when the fingerprint of the ``bnlib`` files it
imports changes, and leaves the others cached.
"""

import shutil
import sys

import nbformat
import pytest
from builtsite import ROOT
from jupyter_cache import get_cache

sys.path.insert(0, str(ROOT / "_ext"))
import stale_chapters  # noqa: E402

CHAPTER = """---
jupytext:
  text_representation: {{extension: .md, format_name: myst}}
kernelspec: {{display_name: Python 3, language: python, name: python3}}
---

# A chapter

```{{code-cell}} ipython3
{code}
```
"""


def test_chapter_3_depends_on_the_symbolic_derivation_and_chapter_1_does_not():
    def deps(name):
        code = stale_chapters.chapter_code(ROOT / "chapters" / name)
        return {p.name for p in stale_chapters.dependencies(code, ROOT / "bnlib")}

    ch3 = deps("03-backward.md")
    assert {"symbolic.py", "staged.py", "book.py", "course.mplstyle", "__init__.py"} <= ch3
    assert "symbolic.py" not in deps("01-motivation.md")
    assert not any(name.startswith("ps") for name in ch3)   # checkers are not imported


def test_relative_imports_inside_the_package_are_followed(tmp_path):
    pkg = tmp_path / "bnlib"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("from ..b import g\n")
    (pkg / "b.py").write_text("import numpy\n")
    (pkg / "unused.py").write_text("")
    files = stale_chapters.dependencies("from bnlib.sub import f", pkg)
    assert {p.relative_to(pkg).as_posix() for p in files} == {
        "__init__.py", "sub/__init__.py", "sub/a.py", "b.py"}


@pytest.fixture
def course(tmp_path):
    """A tiny course: two chapters, a bnlib with two modules, both chapters cached."""
    (tmp_path / "bnlib").mkdir()
    (tmp_path / "bnlib" / "__init__.py").write_text("")
    (tmp_path / "bnlib" / "symbolic.py").write_text("X = 1\n")
    (tmp_path / "bnlib" / "other.py").write_text("Y = 2\n")
    (tmp_path / "chapters").mkdir()
    uses = tmp_path / "chapters" / "uses.md"
    uses.write_text(CHAPTER.format(code="from bnlib import symbolic\nprint(symbolic.X)"))
    plain = tmp_path / "chapters" / "plain.md"
    plain.write_text(CHAPTER.format(code="print(3)"))
    cache_dir = tmp_path / "cache"
    cache = get_cache(str(cache_dir))

    def cache_all():
        for chapter in (uses, plain):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                stale_chapters.chapter_code(chapter))])
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                         "language": "python"}
            path = chapter.with_suffix(".ipynb")
            nbformat.write(nb, path)
            # myst-nb records the source (the .md) as the uri
            cache.cache_notebook_file(path, uri=str(chapter), check_validity=False,
                                      overwrite=True)

    return tmp_path, (uses, plain), cache_dir, cache, cache_all


def cached_uris(cache):
    return {record.uri for record in cache.list_cache_records()}


def test_changing_an_imported_module_removes_only_that_chapter_from_the_cache(course):
    root, (uses, plain), cache_dir, cache, cache_all = course
    cache_all()
    first = stale_chapters.invalidate([uses, plain], root, cache_dir)
    assert set(first) == {uses.resolve(), plain.resolve()}     # never seen: re-executed
    cache_all()
    assert stale_chapters.invalidate([uses, plain], root, cache_dir) == []   # nothing changed
    assert cached_uris(cache) == {str(uses), str(plain)}

    (root / "bnlib" / "other.py").write_text("Y = 3\n")          # not imported by either
    assert stale_chapters.invalidate([uses, plain], root, cache_dir) == []
    assert cached_uris(cache) == {str(uses), str(plain)}

    (root / "bnlib" / "symbolic.py").write_text("X = -1\n")      # a sign typo in the derivation
    assert stale_chapters.invalidate([uses, plain], root, cache_dir) == [uses.resolve()]
    assert cached_uris(cache) == {str(plain)}


def test_sphinx_is_told_to_re_read_the_stale_chapters(tmp_path):
    """Sphinx re-reads only changed sources: the stale chapters are reported as outdated."""
    from types import SimpleNamespace

    connected = {}
    app = SimpleNamespace(connect=lambda event, fn: connected.setdefault(event, fn))
    stale_chapters.setup(app)
    assert set(connected) == {"builder-inited", "env-get-outdated"}
    app.bnlib_stale_docs = ["chapters/02-forward", "chapters/gone"]
    env = SimpleNamespace(found_docs={"chapters/02-forward", "chapters/03-backward"})
    assert connected["env-get-outdated"](app, env, set(), set(), set()) == ["chapters/02-forward"]


def test_the_extension_is_enabled_in_the_book():
    config = (ROOT / "_config.yml").read_text()
    assert "stale_chapters: _ext/" in config and "- stale_chapters" in config


def test_the_real_chapter_3_cache_entry_goes_when_symbolic_changes(tmp_path):
    root = tmp_path
    shutil.copytree(ROOT / "bnlib", root / "bnlib")
    (root / "chapters").mkdir()
    chapter = root / "chapters" / "03-backward.md"
    shutil.copy(ROOT / "chapters" / "03-backward.md", chapter)
    cache_dir = tmp_path / "cache"
    stale_chapters.invalidate([chapter], root, cache_dir)
    assert stale_chapters.invalidate([chapter], root, cache_dir) == []
    path = root / "bnlib" / "symbolic.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert stale_chapters.invalidate([chapter], root, cache_dir) == [chapter.resolve()]
