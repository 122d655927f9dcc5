"""Every public function and class of bnlib names the chapter that explains it.

The back-link is a path ``chapters/NN-name.md`` in the object's docstring or in
its module's docstring, and the file must exist. ``bnlib.checks`` (the grading
machinery, not course material) is not part of the library a reader studies.
"""

import importlib
import inspect
import pkgutil
import re

import pytest
from builtsite import ROOT

import bnlib

LINK = re.compile(r"chapters/\d\d-[a-z0-9-]+\.md")


def public_objects():
    for info in pkgutil.iter_modules(bnlib.__path__, "bnlib."):
        short = info.name.rsplit(".", 1)[1]
        if short.startswith("_") or info.name.startswith("bnlib.checks"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == module.__name__):
                yield f"{info.name}.{name}", module, obj


OBJECTS = sorted(public_objects(), key=lambda t: t[0])


def test_the_library_is_covered():
    names = {name for name, _, _ in OBJECTS}
    for exported in bnlib.__all__:
        assert any(n.endswith(f".{exported}") for n in names), exported
    assert len(OBJECTS) >= 30


@pytest.mark.parametrize("name,module,obj", OBJECTS, ids=[t[0] for t in OBJECTS])
def test_docstring_links_to_an_existing_chapter(name, module, obj):
    links = LINK.findall(inspect.getdoc(obj) or "") or LINK.findall(module.__doc__ or "")
    assert links, f"{name}: neither it nor its module names a chapters/NN-*.md file"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == [], f"{name} links to chapters that do not exist: {missing}"
