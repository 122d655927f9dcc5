"""bngrade's folders are its processes, and these tests keep them so (static import analysis).

``bngrade/driver/`` (plans, dispatches, writes the gradebook), ``bngrade/worker/`` (grades
one submission), ``bngrade/sandbox/`` (the sandboxes seen from the worker) and
``bngrade/sandbox/box/`` (the files copied into every sandbox); shared contracts at the top.
Every import counts, at module level or inside a function.
"""

import ast
import functools
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "bngrade")
BOX = "bngrade.sandbox.box"
# what the box's files may import besides the standard library and each other: the
# third-party packages every sandbox's Python has
BOX_THIRD_PARTY = {"numpy", "ipykernel"}
# modules copied into the box under another name (bngrade.sandbox.isolation.Site): the box's
# file imports the copy there and the original on the host
COPIED_IN = {"bnlib.checks.plain": "plain"}
# which areas each area may import
ALLOWED = {
    "top": {"top", "sandbox", "box"},
    "sandbox": {"top", "sandbox", "box"},
    "box": {"box"},
    "worker": {"top", "sandbox", "box", "worker"},
    "driver": {"top", "sandbox", "box", "worker", "driver"},
}


def _modules():
    """``{dotted name: path}`` of every module of the package."""
    out = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), REPO)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(folder, f)
    return out


MODULES = _modules()


def area(module):
    if module == "bngrade.__main__":  # ``python -m bngrade``: the driver's command
        return "driver"
    if module == BOX or module.startswith(BOX + "."):
        return "box"
    for name in ("driver", "worker", "sandbox"):
        if module == f"bngrade.{name}" or module.startswith(f"bngrade.{name}."):
            return name
    return "top"


def _package_of(module):
    return module if MODULES[module].endswith("__init__.py") else module.rsplit(".", 1)[0]


@functools.cache
def imports(module):
    """``[(absolute name, lineno)]`` of everything ``module`` imports, relative ones resolved
    (``from X import y`` names ``X.y`` when that is a module)."""
    tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = _package_of(module).split(".")
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            else:
                base = node.module
            for a in node.names:
                full = f"{base}.{a.name}"
                out.append((full if full in MODULES else base, node.lineno))
    return tuple(out)


def graph():
    """Edges between the package's own modules."""
    return {m: sorted({name for name, _ in imports(m) if name in MODULES and name != m})
            for m in MODULES}


def test_the_folders_exist_with_the_shared_contracts_at_the_top():
    for name in ("bngrade.driver", "bngrade.worker", "bngrade.sandbox", BOX,
                 "bngrade.results", "bngrade.driver.cli", "bngrade.__main__"):
        assert name in MODULES, name
    src = open(MODULES["bngrade.results"], encoding="utf-8").read()
    assert "class Task" in src and "class Submission" in src


def test_no_import_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(m, path):
        state[m] = "open"
        for n in edges[m]:
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_each_area_imports_only_what_its_process_may():
    """No worker module imports driver code; shared and sandbox code imports neither;
    the box imports only itself."""
    bad = [f"{m}:{line} ({area(m)}) imports {name} ({area(name)})"
           for m in MODULES for name, line in imports(m)
           if name in MODULES and area(name) not in ALLOWED[area(m)]]
    assert not bad, "\n".join(bad)


def test_no_worker_module_reaches_driver_code_even_indirectly():
    edges, bad = graph(), []
    for start in (m for m in MODULES if area(m) in ("worker", "sandbox", "box", "top")):
        seen, todo = {start}, [start]
        while todo:
            for n in edges[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        bad += [f"{start} reaches {m}" for m in sorted(seen) if area(m) == "driver"]
    assert not bad, "\n".join(bad)


def test_the_box_imports_only_the_standard_library_and_itself():
    box = {m for m in MODULES if area(m) == "box"}
    siblings = {m.rsplit(".", 1)[-1] for m in box} | set(COPIED_IN.values())
    bad = []
    for m in sorted(box):
        for name, line in imports(m):
            top = name.split(".")[0]
            if name.startswith(BOX + "."):
                ok = name[len(BOX) + 1:].split(".")[0] in siblings
            elif name == BOX:
                ok = True
            else:
                ok = (top in sys.stdlib_module_names or top in BOX_THIRD_PARTY
                      or name in COPIED_IN)
            if not ok:
                bad.append(f"{m}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_box_folder_is_what_a_sandbox_gets():
    """Every file of the folder is copied into the sandbox (and only those), and each module
    copied in under another name is the one the box's files import on the host."""
    from bngrade.sandbox import isolation

    files = {f[:-3] for f in os.listdir(os.path.dirname(MODULES[BOX]))
             if f.endswith(".py") and f != "__init__.py"}
    assert set(isolation.BOX_MODULES) == files
    site = isolation.Site()
    try:
        copied = set(os.listdir(os.path.join(site.root, "box", "bnbox")))
        assert {f"{n}.py" for n in files} | {f"{n}.py" for n in COPIED_IN.values()} <= copied
        for original, name in COPIED_IN.items():
            __import__(original)
            with open(sys.modules[original].__file__, encoding="utf-8") as a, \
                    open(os.path.join(site.root, "box", "bnbox", f"{name}.py"),
                         encoding="utf-8") as b:
                assert a.read() == b.read()
    finally:
        site.remove()


def test_importing_the_driver_loads_no_answer_key():
    """The driver's modules (its engine, its command line) load neither the keys nor the
    grading code that judges with them: a task names the worker's entry point only."""
    code = ("import sys, bngrade.__main__, bngrade.driver.engine, bngrade.driver.cli; "
            "print(sorted(m for m in sys.modules if m in ('bngrade.worker.keys', "
            "'bngrade.worker.scoring', 'bngrade.worker.task')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_task_crosses_as_json_and_back():
    from bngrade.results import Task, TaskNotebook

    task = Task("ps1", "ann", "salt", {"seconds": 5.0}, True, {"Execute": {"timeout": 5}},
                [TaskNotebook("ps1", "{}", [{"grade_id": "q1", "points": 1.0}], "{}", "ps1.ipynb")],
                {"code": "x"})
    text = task.to_json()
    assert isinstance(text, str) and Task.from_json(text) == task
