"""The bnlib the scoring sandbox sees: names only, no reference code, no grader material.

:func:`write_stub` writes a package ``bnlib`` with the same modules and public
names as the real one, where every function and class is a proxy: calling it
asks the grader (:func:`bnbox.inside.helper`), which runs bnlib's code only if
the part being graded allows that helper by its qualified name (e.g.
``bnlib.nn.MLP.forward``), and refuses otherwise. ``bnlib.checks`` is a stub
whose ``check`` only says that grading happens outside the notebook.
"""

import importlib
import inspect
import os
import pkgutil

import bnlib

SKIP = ("bnlib.checks", "bnlib.symbolic")  # grader material; SymPy derivations (not graded)

_HEADER = '''"""A stand-in for {name} while an answer is graded: bnlib's code runs in the grader,
only for the helpers this part allows."""

from bnbox.inside import helper as _helper


def _function(qualname):
    def proxy(*args, **kwargs):
        return _helper(qualname, args, kwargs)
    proxy.__name__ = proxy.__qualname__ = qualname.rsplit(".", 1)[-1]
    return proxy

'''

_CHECKS = '''"""A stand-in for bnlib.checks while an answer is graded: tests run in the grader."""

REGISTRY = {}


def check(grade_id, namespace, hidden=False, seed=None):
    print(f"{grade_id}: graded by the grader, outside this notebook")


def progress(assignment):
    print(f"{assignment}: graded by the grader, outside this notebook")
'''


def public_names(module):
    """Public functions and classes a module defines or re-exports (from bnlib)."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(module, n, None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                getattr(obj, "__module__", "").startswith("bnlib"):
            out.append(n)
    return sorted(out)


def modules():
    """bnlib's module names whose stand-ins the sandbox gets."""
    names = ["bnlib"]
    for info in pkgutil.walk_packages(bnlib.__path__, "bnlib."):
        if not info.name.startswith(SKIP) and not info.name.rsplit(".", 1)[-1].startswith("_"):
            names.append(info.name)
    return names


def write_stub(root):
    """Write the stand-in package under ``root/bnlib``."""
    for name in modules():
        module = importlib.import_module(name)
        rel = name.split(".")[1:]
        path = os.path.join(root, "bnlib", *rel[:-1], f"{rel[-1]}.py") if rel else \
            os.path.join(root, "bnlib", "__init__.py")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lines = [_HEADER.format(name=name)]
        lines += [f"{n} = _function({name + '.' + n!r})" for n in public_names(module)]
        if not rel:  # the exercises' install cell checks the version before anything else
            lines.append(f"__version__ = {bnlib.__version__!r}")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    checks = os.path.join(root, "bnlib", "checks")
    os.makedirs(checks, exist_ok=True)
    with open(os.path.join(checks, "__init__.py"), "w", encoding="utf-8") as f:
        f.write(_CHECKS)
