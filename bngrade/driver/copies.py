"""Copied answers: a normalised syntax tree per answer function, compared by hash.

Each function a student defines (top-level functions and class methods) is
reduced to a fingerprint that survives the usual disguises and nothing more:

* docstrings, comments, bare string statements, ``pass`` and ``print(...)``
  calls are dropped;
* arguments and local names are renamed by order of first use (``x, gamma``
  and ``inp, g`` are the same), and the function's own name is dropped;
* a call of a helper defined alongside (same notebook, or for the reference the
  same package) is replaced by the helper's own fingerprint, recursively, so
  helper names and the order in which helpers are defined do not matter;
* import aliases are resolved (``import numpy as xp; xp.mean`` is ``numpy.mean``).

Two functions are the same when their fingerprints are equal; independent
implementations that compute the same thing differently (another formula, a
loop, ``einsum``) are not. Functions smaller than ``min_nodes`` syntax nodes
(after normalisation, helpers included) are never flagged: short code converges
on its own. A student's function identical to a stub of the release (the
``raise NotImplementedError`` every blank notebook carries) is ignored.

Cost: one parse and one tree walk per function, then a dict keyed by
fingerprint; a class of 2,000 is linear, with no pairwise comparison.

Public functions
----------------
``fingerprints(sources, *, min_nodes=0) -> {qualname: Fingerprint}``
    The fingerprints of every function in ``sources`` (one text or a list of
    cell texts, one unit: helpers resolve across them; IPython ``%``/``!``
    lines are skipped; a cell that does not parse is skipped).
``reference_sources(package_dir) -> [text, ...]``
    The ``.py`` files of a package (bnlib), for one reference unit.
``find(answers, references, ignore=(), min_nodes=MIN_NODES) -> {student: [flag, ...]}``
    ``answers``: ``{student: {notebook: sources}}``; ``references``:
    ``{label: sources}`` (e.g. ``{"bnlib": reference_sources(...),
    "the solution of ps1-forward": [...]}``); ``ignore``: sources whose
    functions are never flagged (the release). A flag is
    ``{"kind": "copies_reference" | "copies_classmate", "notebook": name,
    "detail": text}``; the detail names the function and the other side (the
    reference's function, or the classmates and their functions).
"""

import ast
import builtins
import collections
import hashlib
import os
from dataclasses import dataclass

MIN_NODES = 40
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Fingerprint:
    """One function's normalised form: its hash and its size in syntax nodes."""

    qualname: str
    digest: str
    nodes: int


def _cells(sources):
    if isinstance(sources, str):
        sources = [sources]
    for text in sources:
        if isinstance(text, list):
            text = "".join(text)
        lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in str(text).split("\n")]
        try:
            yield ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue


def _aliases(tree, table):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                table[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for a in node.names:
                if a.name != "*":
                    table[a.asname or a.name] = f"{module}.{a.name}"


def _is_noise(stmt):
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Constant):
            return True
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "print":
            return True
    return False


def _strip(tree):
    """Drop docstrings, bare strings, ``pass`` and ``print`` statements (bodies stay
    non-empty), in place."""
    for node in ast.walk(tree):
        for fld in ("body", "orelse", "finalbody"):
            body = getattr(node, fld, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [s for s in body if not _is_noise(s)]
                if len(kept) != len(body):
                    setattr(node, fld, kept or [ast.Pass()])
    return tree


def _locals(fn):
    """Names bound in ``fn`` (arguments first), in order of first appearance."""
    order = []

    def add(name):
        if name not in order:
            order.append(name)

    a = fn.args
    for arg in [*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg]:
        if arg is not None:
            add(arg.arg)
    declared_global = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
    for node in _source_order(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id)
        elif isinstance(node, ast.arg):
            add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node is not fn:
            add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for al in node.names:
                add(al.asname or al.name.split(".")[0])
    return [n for n in order if n not in declared_global]


def _source_order(node):
    """Every node under ``node`` (itself first), depth first in source order."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        children = []
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                children.append(value)
            elif isinstance(value, list):
                children.extend(v for v in value if isinstance(v, ast.AST))
        stack.extend(reversed(children))


class _Token(str):
    """Structure in :func:`_dump`'s output (not a value of the tree)."""


def _dump(tree):
    """The tree as text (types, fields in order, values), iteratively: a deeply nested
    expression that parsed is fingerprinted, never a ``RecursionError``."""
    out, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item)
        elif isinstance(item, ast.AST):
            out.append("(" + type(item).__name__)
            parts = []
            for name in item._fields:
                value = getattr(item, name, None)
                if isinstance(value, list):
                    parts += [_Token("["), *value, _Token("]")]
                else:
                    parts.append(value)
            parts.append(_Token(")"))
            stack.extend(reversed(parts))
        else:
            out.append(repr(item))
    return " ".join(out)


class _Unit:
    """The functions of one unit (a student's notebook, bnlib, a solution) and their imports."""

    def __init__(self, sources):
        self.defs, self.aliases, self.memo = {}, {}, {}
        for tree in _cells(sources):
            _aliases(tree, self.aliases)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.defs.setdefault(node.name, node)
                elif isinstance(node, ast.ClassDef):
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            self.defs.setdefault(f"{node.name}.{item.name}", item)

    def helper(self, name):
        """The unit's function a free name refers to, directly or through a relative import."""
        if name in self.defs:
            return name
        target = self.aliases.get(name, "")
        short = target.rsplit(".", 1)[-1]
        if target.startswith(".") and short in self.defs:
            return short
        return None

    def fingerprint(self, qualname, active=()):
        if qualname in self.memo:
            return self.memo[qualname]
        if qualname in active:
            return None
        # In place: each definition is normalised once (memoised), and helpers are found by
        # the names in the *calling* function, which are resolved before they are rewritten.
        fn = _strip(self.defs[qualname])
        rename = {n: f"_{i}" for i, n in enumerate(_locals(fn))}
        nodes = 0
        active = (*active, qualname)
        for node in _source_order(fn):
            nodes += 1
            if isinstance(node, ast.Name):
                if node.id in rename:
                    node.id = rename[node.id]
                elif isinstance(node.ctx, ast.Load):
                    helper = self.helper(node.id)
                    if helper == qualname or (helper and helper in active):
                        node.id = "<recursion>"
                    elif helper:
                        inner = self.fingerprint(helper, active)
                        node.id = f"<fn {inner.digest}>"
                        nodes += inner.nodes
                    elif node.id in self.aliases and not self.aliases[node.id].startswith("."):
                        node.id = self.aliases[node.id]
            elif isinstance(node, ast.arg):
                node.arg = rename.get(node.arg, node.arg)
                node.annotation = None
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                node.name = rename.get(node.name, "_f")
                if hasattr(node, "returns"):
                    node.returns = None
            elif isinstance(node, ast.ExceptHandler) and node.name:
                node.name = rename.get(node.name, node.name)
            elif isinstance(node, ast.alias):
                node.asname = None
        text = _dump(fn)
        fp = Fingerprint(qualname, hashlib.sha256(text.encode()).hexdigest(), nodes)
        self.memo[qualname] = fp
        return fp

    def all(self):
        return {q: self.fingerprint(q) for q in self.defs}


def fingerprints(sources, *, min_nodes=0):
    """``{qualname: Fingerprint}`` of every function in one unit of sources."""
    return {q: fp for q, fp in _Unit(sources).all().items() if fp.nodes >= min_nodes}


def reference_sources(package_dir):
    """The text of every ``.py`` file under ``package_dir`` (sorted), as one unit's sources."""
    texts = []
    for root, dirs, files in os.walk(package_dir):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    texts.append(f.read())
    return texts


def _names(entries, limit=5):
    shown = [f"{student}'s {qualname}" for student, qualname in entries[:limit]]
    more = len(entries) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def find(answers, references, ignore=(), min_nodes=MIN_NODES):
    """Flags ``copies_reference`` / ``copies_classmate`` per student (see the module doc)."""
    ignored = {fp.digest for fp in fingerprints(ignore).values()} if ignore else set()
    known = {}
    for label, sources in references.items():
        for q, fp in fingerprints(sources, min_nodes=min_nodes).items():
            known.setdefault(fp.digest, (label, q))
    buckets = collections.defaultdict(list)  # digest -> [(student, notebook, qualname)]
    for student, notebooks in answers.items():
        for notebook, sources in notebooks.items():
            for q, fp in fingerprints(sources, min_nodes=min_nodes).items():
                if fp.digest not in ignored:
                    buckets[fp.digest].append((student, notebook, q))
    flags = collections.defaultdict(list)
    for digest, owners in buckets.items():
        ref = known.get(digest)
        students = {s for s, _, _ in owners}
        for student, notebook, q in owners:
            if ref:
                flags[student].append({
                    "kind": "copies_reference", "notebook": notebook,
                    "detail": f"{q} is {ref[0]}'s {ref[1]} (same syntax tree up to names, "
                              "comments and helper order)"})
            if len(students) > 1:
                others = sorted({(s, oq) for s, _, oq in owners if s != student})
                flags[student].append({
                    "kind": "copies_classmate", "notebook": notebook,
                    "detail": f"{q} is the same as {_names(others)} (same syntax tree up to "
                              "names, comments and helper order)"})
    return {s: fl for s, fl in sorted(flags.items())}
