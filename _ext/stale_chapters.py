"""Sphinx extension: a chapter re-executes when the ``bnlib`` code it imports changes.

myst-nb's execution cache (jupyter-cache) keys a chapter by its own code only,
so a change to ``bnlib/symbolic.py`` would leave chapter 3's cached outputs
(and its SymPy check) standing until the cache is cleared. When the builder
starts, this reads each chapter's imports of ``bnlib`` (and, inside ``bnlib``,
their imports in turn), fingerprints those files, and removes from the cache
the chapters whose fingerprint changed since the last build, so myst-nb runs
them again; it also tells Sphinx those pages are outdated (``env-get-outdated``),
since Sphinx re-reads only pages whose own source changed. Fingerprints are kept
next to the cache (``bnlib-fingerprints.json``). A chapter seen for the first
time is treated as changed.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

PACKAGE = "bnlib"
STATE = "bnlib-fingerprints.json"
# Data files a module reads at run time (not visible as imports).
DATA = {"book.py": ["course.mplstyle"]}


def _module_file(package_dir: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` (``bnlib.x.y``) under ``package_dir``, if it exists."""
    parts = dotted.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(tree: ast.AST, current: str | None = None) -> set[str]:
    """Dotted names of the ``bnlib`` modules imported by ``tree``.

    ``current`` is the dotted name of the package the code lives in (for
    relative imports inside ``bnlib``). ``from bnlib import x`` counts both
    ``bnlib`` and ``bnlib.x`` (x may be a submodule).
    """
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    names.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                base = current.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def dependencies(code: str, package_dir: Path) -> list[Path]:
    """The files of ``package_dir`` (the ``bnlib`` package) that ``code`` uses.

    Follows imports inside the package transitively; importing a submodule
    imports its parent packages (their ``__init__.py``) too.
    """
    todo = _imported_modules(ast.parse(code))
    seen: dict[str, Path] = {}
    while todo:
        dotted = todo.pop()
        parts = dotted.split(".")
        parents = {".".join(parts[:k]) for k in range(1, len(parts))}
        todo |= parents - set(seen)
        path = _module_file(package_dir, dotted)
        if path is None or dotted in seen:
            continue
        seen[dotted] = path
        package = dotted if path.name == "__init__.py" else ".".join(parts[:-1])
        todo |= _imported_modules(ast.parse(path.read_text()), package) - set(seen)
    files = set(seen.values())
    for path in list(files):
        files.update(path.parent / name for name in DATA.get(path.name, ()))
    return sorted(f for f in files if f.is_file())


def chapter_code(path: Path) -> str:
    """The code cells of a MyST notebook (or a notebook), joined, IPython magics dropped."""
    import jupytext

    nb = jupytext.read(path)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += [line for line in cell.source.splitlines()
                      if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def fingerprint(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def invalidate(chapters: list[Path], root: Path, cache_dir: Path) -> list[Path]:
    """Remove the cached executions of ``chapters`` whose ``bnlib`` files changed.

    Returns the chapters invalidated. ``root`` holds the ``bnlib`` package.
    """
    from jupyter_cache import get_cache

    state_file = cache_dir / STATE
    old = json.loads(state_file.read_text()) if state_file.is_file() else {}
    new, stale = {}, []
    for chapter in chapters:
        key = chapter.resolve().relative_to(root.resolve()).as_posix()
        new[key] = fingerprint(dependencies(chapter_code(chapter), root / PACKAGE), root)
        if old.get(key) != new[key]:
            stale.append(chapter.resolve())
    if cache_dir.is_dir() and stale:
        cache = get_cache(str(cache_dir))
        for record in cache.list_cache_records():
            if Path(record.uri).resolve() in stale:
                cache.remove_cache(record.pk)
    cache_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({**old, **new}, indent=1, sort_keys=True))
    return stale


def on_builder_inited(app):
    from sphinx.util import logging

    root = Path(app.srcdir)
    cache_dir = Path(app.config.nb_execution_cache_path
                     or Path(app.outdir).parent / ".jupyter_cache")
    chapters = sorted((root / "chapters").glob("*.md"))
    chapters = [c for c in chapters if "code-cell" in c.read_text()]
    stale = invalidate(chapters, root, cache_dir)
    app.bnlib_stale_docs = [p.relative_to(root.resolve()).with_suffix("").as_posix()
                            for p in stale]
    if stale:
        logging.getLogger(__name__).info(
            "bnlib changed: re-executing " + ", ".join(p.name for p in stale))


def outdated_docs(app, env, added, changed, removed):
    """The pages to re-read although their source is unchanged: the stale chapters."""
    return [doc for doc in getattr(app, "bnlib_stale_docs", []) if doc in env.found_docs]


def setup(app):
    app.connect("builder-inited", on_builder_inited)
    app.connect("env-get-outdated", outdated_docs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
