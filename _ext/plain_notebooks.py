"""Sphinx extension: chapter notebooks that read right outside the site.

A chapter's downloadable ``.ipynb`` (the same file Colab, Binder and a
JupyterHub open, :mod:`student_notebooks`) is its MyST source run through
jupytext: its markdown cells hold MyST that only the book renders. Before the
file is published, :func:`plain_notebook` rewrites every markdown cell into
Markdown that JupyterLab, Notebook 7 and Colab render as the site does:

* ``{glue:text}`key:fmt``` and ``{glue:math}`` become the values the build
  computed (formatted as myst-nb formats them);
* admonitions become quotes with a bold title; an exercise becomes a heading
  with its text, its solution a folded ``<details>`` block (math included), and
  so does an admonition of class ``dropdown`` (a prompt's model answer);
* a prompt (an admonition of class ``predict`` or ``interpret``,
  docs/writing-chapters.md) becomes its quote followed by an empty markdown
  cell the learner fills ("Your prediction:", "Your answer:"), tagged
  ``learner-answer``;
* ``{doc}``, ``{ref}``, ``{notebook}``, ``{cite:t}``/``{cite:p}`` and ``{wheel}``
  become plain links or text; ``literalinclude`` becomes a link to the code it
  shows (never the code: a graded answer may share lines with the library);
  ``list-table`` a Markdown table; directive options, ``(label)=`` targets and
  ``%`` comments go.

An explorable figure's output (``bnlib/explore.py``) keeps its static figure and
its description, not its interactive HTML. Code cells the page hides
(``remove-cell``, ``remove-input``, ``hide-input``) are kept, since the rest
needs them, but collapsed. The source stays MyST: this runs on the copy the
site publishes. A construct this module does not know fails the build
(``PlainError``) rather than reach a student as residue.
"""

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
CODE_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?!.*`)")
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<text>[^`]*)`")
TARGET = re.compile(r"^\([\w:.-]+\)=[ \t]*$")
COMMENT = re.compile(r"^%")
EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$")  # "text <target>"

ADMONITIONS = {"admonition", "note", "tip", "hint", "important", "warning", "caution",
               "attention", "danger", "error", "seealso"}
HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
PLAIN_MARK = "bn_plain"  # notebook metadata: already rewritten

# A prompt the learner answers in the notebook: admonition class -> the cell to fill.
FILL = {"predict": "**Your prediction:** *(double-click this cell and write it before you "
                   "run the next code cell)*",
        "interpret": "**Your answer:** *(double-click this cell and write it before you "
                     "open the model answer)*"}
FILL_TAG = "learner-answer"
FILL_MARK = re.compile(r"^\x00fill:(?P<kind>\w+)\x00$", re.M)  # where a fill cell goes


class PlainError(ValueError):
    """MyST that this module cannot turn into plain Markdown."""


@dataclass
class Context:
    """What the rewriting needs from the build.

    ``glue``: ``{key: mime bundle}`` of the chapter's glued values;
    ``doc(target) -> (title, url)``; ``ref(label) -> (title, url)``;
    ``cite(keys, textual) -> str``; ``notebook(ident) -> str`` (Markdown);
    ``wheel``: the install command's URL; ``source_dir``: the chapter's folder
    (``literalinclude`` paths are relative to it); ``source(path) -> (path in the
    repository, URL)`` of a file a ``literalinclude`` names.
    """

    glue: dict
    doc: Callable
    ref: Callable
    cite: Callable
    notebook: Callable
    wheel: str
    source_dir: Path
    source: Callable = lambda path: (str(path), str(path))  # file -> (path, URL) of the repo
    exercises: dict = field(default_factory=dict)  # label -> title, for solutions


def glue_values(nb):
    """``{key: mime bundle}`` of every value the notebook glued (myst-nb's scrapbook outputs)."""
    out = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = output.get("data", {})
    return out


def format_plain_text(text, spec):
    """A glued ``text/plain`` value formatted with ``spec`` (as myst-nb's ``{glue:text}``)."""
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


def _glue_text(ctx, text):
    key, spec = text.rsplit(":", 1) if ":" in text else (text, "")
    if key not in ctx.glue or "text/plain" not in ctx.glue[key]:
        raise PlainError(f"no glued text value {key!r}")
    return format_plain_text(ctx.glue[key]["text/plain"], spec)


def _link(title, url):
    return f"[{title}]({url})"


def role(ctx, name, text):
    """The plain Markdown of one inline role."""
    if name in ("glue:text", "glue"):
        return _glue_text(ctx, text)
    if name in ("doc", "ref"):
        explicit = EXPLICIT.match(text)
        target = explicit["target"] if explicit else text
        title, url = (ctx.doc if name == "doc" else ctx.ref)(target.strip())
        return _link(explicit["title"] if explicit else title, url)
    if name in ("cite:t", "cite:p"):
        return ctx.cite([k.strip() for k in text.split(",")], name == "cite:t")
    if name == "notebook":
        return ctx.notebook(text.strip())
    if name == "wheel":
        return f"`pip install {ctx.wheel}`"
    if name == "math":
        return f"${text}$"
    raise PlainError(f"no plain form for the role {{{name}}}")


def roles(ctx, line):
    return ROLE.sub(lambda m: role(ctx, m["name"], m["text"]), line)


def _options(lines):
    """Split a directive body into its ``:key: value`` options and the rest."""
    opts, i = {}, 0
    while i < len(lines) and (m := OPTION.match(lines[i])):
        opts[m["key"]] = m["value"].strip()
        i += 1
    return opts, lines[i:]


def _close(lines, start, indent, fence):
    """Index of the line closing ``fence`` opened at ``start``."""
    char, n = fence[0], len(fence)
    for j in range(start + 1, len(lines)):
        s = lines[j].strip()
        if s and set(s) == {char} and len(s) >= n and lines[j].startswith(indent):
            return j
    raise PlainError(f"unclosed directive fence {fence} at line {start + 1}")


def _quote(text, prefix="> "):
    return "\n".join((prefix + line).rstrip() for line in text.split("\n"))


def _literalinclude(ctx, arg, opts):
    """A link to the code the site shows (bnlib's source on the repository), not the code:
    a downloaded notebook must not carry, as plain text, lines that a graded answer may
    share with the library (the site's leak test reads every published notebook)."""
    path = (ctx.source_dir / arg).resolve()
    if not path.is_file():
        raise PlainError(f"literalinclude: no file {arg}")
    unknown = set(opts) - {"pyobject", "language", "caption", "name"}
    if unknown:
        raise PlainError(f"literalinclude option(s) {sorted(unknown)} have no plain form")
    obj = opts.get("pyobject")
    if obj and _find(ast.parse(path.read_text()), obj.split(".")) is None:
        raise PlainError(f"{arg} has no {obj}")
    where = ctx.source(path)
    module = ".".join(Path(where[0]).with_suffix("").parts)
    what = f"`{module}.{obj}`" if obj else f"`{where[0]}`"
    if not (path.parent / "__init__.py").is_file():  # not importable (chapters/code/)
        what = f"`{obj}` of `{where[0]}`" if obj else f"`{where[0]}`"
        return f"*The site shows the code of {what} here: read it in [{where[0]}]({where[1]}).*"
    return (f"*The site shows the code of {what} here: read it in [{where[0]}]({where[1]}), "
            f"or run `import inspect, {module}; print(inspect.getsource({module}"
            f"{'.' + obj if obj else ''}))`.*")


def _find(tree, names):
    nodes = tree.body
    for name in names:
        node = next((n for n in nodes if getattr(n, "name", None) == name), None)
        if node is None:
            return None
        nodes = getattr(node, "body", [])
    return node


def _list_table(ctx, opts, body):
    rows, row = [], None
    for line in body:
        if line.startswith("* - "):
            row = [line[4:]]
            rows.append(row)
        elif line.startswith("  - ") and row is not None:
            row.append(line[4:])
        elif line.strip() and row is not None:
            row[-1] += " " + line.strip()
    if not rows:
        raise PlainError("an empty list-table")
    cells = [[roles(ctx, c.strip()).replace("|", "\\|") for c in r] for r in rows]
    head = int(opts.get("header-rows", "0") or 0)
    header = cells[0] if head else [""] * len(cells[0])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in cells[1 if head else 0:]]
    return "\n".join(out)


def directive(ctx, name, arg, body):
    """The plain Markdown of one directive (its fences already removed)."""
    opts, rest = _options(body)
    inner = plain_markdown("\n".join(rest), ctx).strip()
    if name in ADMONITIONS:
        title = roles(ctx, arg.strip() or name.capitalize())
        classes = opts.get("class", "").split()
        if "dropdown" in classes:
            return (f"<details>\n<summary>{title} (click to show)</summary>\n\n{inner}\n\n"
                    "</details>")
        fill = [c for c in classes if c in FILL]
        quote = _quote(f"**{title}**\n\n{inner}")
        return quote + "".join(f"\n\n\x00fill:{kind}\x00" for kind in fill)
    if name in ("exercise", "prf:exercise"):
        title = roles(ctx, arg.strip()) or "Exercise"
        if "label" in opts:
            ctx.exercises[opts["label"]] = title
        return f"#### {title}\n\n{inner}"
    if name in ("solution", "prf:solution"):
        label = arg.strip()
        title = f"Solution: {ctx.exercises[label]}" if label in ctx.exercises else "Solution"
        return (f"<details>\n<summary>{title} (click to show)</summary>\n\n{inner}\n\n"
                "</details>")
    if name == "glue:math":
        key = arg.strip()
        bundle = ctx.glue.get(key, {})
        latex = bundle.get("text/latex")
        if latex is None:
            raise PlainError(f"no glued math value {key!r}")
        latex = latex.strip().strip("$").strip()
        return f"$$\n{latex}\n$$"
    if name in ("math",):
        return f"$$\n{inner}\n$$"
    if name == "literalinclude":
        return _literalinclude(ctx, arg.strip(), opts)
    if name == "list-table":
        return _list_table(ctx, opts, rest)
    raise PlainError(f"no plain form for the directive {{{name}}}")


def plain_markdown(text, ctx):
    """MyST markdown ``text`` as plain Markdown (see the module's docstring)."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if m := FENCE.match(line):
            end = _close(lines, i, m["indent"], m["fence"])
            out.append(directive(ctx, m["name"], m["arg"], lines[i + 1:end]))
            i = end + 1
            continue
        if m := CODE_FENCE.match(line):  # a plain code block: copied as it is
            end = _close(lines, i, line[:len(line) - len(line.lstrip())], m["fence"])
            out.extend(lines[i:end + 1])
            i = end + 1
            continue
        if not (TARGET.match(line) or COMMENT.match(line)):
            out.append(roles(ctx, line))
        i += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


EXPLORABLE_MARK = "bn_explorable"  # output metadata set by bnlib.explore.show_explorable


def drop_explorable_html(cell):
    """An explorable figure's output keeps only its static figure and description.

    Its HTML embeds BokehJS and a script, which JupyterLab and Colab do not run
    in a notebook they did not execute: the reader would see an empty box.
    """
    for output in cell.get("outputs", []):
        if output.get("metadata", {}).get(EXPLORABLE_MARK):
            output.get("data", {}).pop("text/html", None)


def plain_notebook(nb, ctx):
    """Rewrite ``nb`` (in place) for reading outside the site; return it."""
    if nb.metadata.get(PLAIN_MARK):
        return nb
    ctx.glue = {**glue_values(nb), **ctx.glue}
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type == "markdown":
            cells[-1:] = split_fills(cell, plain_markdown(cell.source, ctx))
        elif cell.cell_type == "code":
            drop_explorable_html(cell)
            tags = set(cell.metadata.get("tags", []))
            if tags & HIDDEN_TAGS:
                jupyter = cell.metadata.setdefault("jupyter", {})
                jupyter["source_hidden"] = True
                if tags & {"remove-cell", "hide-cell", "remove-output"}:
                    jupyter["outputs_hidden"] = True
    nb.cells = cells
    nb.metadata[PLAIN_MARK] = True
    return nb


def fill_cell(kind):
    """The empty markdown cell a learner writes a prediction or an answer in."""
    return nbformat.v4.new_markdown_cell(
        FILL[kind], metadata={"tags": [FILL_TAG, kind], "editable": True, "deletable": False})


def split_fills(cell, text):
    """``cell`` with the plain ``text``, split where a prompt wants a cell to fill."""
    if "\x00" in FILL_MARK.sub("", text):
        raise PlainError("a predict or interpret prompt must not sit inside another block")
    out, start = [], 0
    for m in FILL_MARK.finditer(text):
        part = text[start:m.start()].strip("\n")
        if part:
            out.append(nbformat.v4.new_markdown_cell(part))
        out.append(fill_cell(m["kind"]))
        start = m.end()
    rest = text[start:].strip("\n")
    if not out:
        cell.source = rest
        return [cell]
    if rest:
        out.append(nbformat.v4.new_markdown_cell(rest))
    out[0].metadata = {**cell.metadata, **out[0].metadata}
    return out


# ---- the Sphinx side -------------------------------------------------------------------


def _context(app, pagename):
    env, base = app.env, app.config.html_baseurl.rstrip("/") + "/"

    def doc(target):
        here = Path(pagename).parent.as_posix()
        docname = _normal(target if target.startswith("/") else f"{here}/{target}")
        if docname not in env.titles:
            raise PlainError(f"{{doc}} target {target!r} is no page")
        return env.titles[docname].astext(), base + docname + ".html"

    def ref(label):
        labels = env.domaindata["std"]["labels"]
        if label not in labels:
            raise PlainError(f"{{ref}} target {label!r} is no label")
        docname, anchor, title = labels[label]
        return title, f"{base}{docname}.html#{anchor}"

    def cite(keys, textual):
        entries = _bibliography(app)
        parts = []
        for key in keys:
            if key not in entries:
                raise PlainError(f"no reference {key!r} in the bibliography")
            who, year = entries[key]
            parts.append(f"{who} ({year})" if textual else f"{who} {year}")
        refs = base + "chapters/references.html"
        return ", ".join(f"[{p}]({refs})" for p in parts) if textual else \
            "([" + "; ".join(parts) + f"]({refs}))"

    def notebook(ident):
        import student_notebooks

        target = f"{base}exercises/{ident}/{ident}.ipynb"
        links = [f"[{ident}.ipynb]({target}) (download)"]
        links += [f"[open in {name}]({url})"
                  for name, url in student_notebooks.Launch(app).links(
                      f"exercises/{ident}/{ident}.ipynb")]
        return "Exercise notebook " + " · ".join(links) + \
            ". Its first cell installs the course package."

    import student_package

    repo = app.config.html_theme_options.get("repository_url", "").rstrip("/")
    branch = app.config.html_theme_options.get("repository_branch", "main") or "main"

    def source(path):
        rel = Path(path).resolve().relative_to(Path(app.srcdir).resolve()).as_posix()
        return rel, f"{repo}/blob/{branch}/{rel}"

    return Context(glue={}, doc=doc, ref=ref, cite=cite, notebook=notebook,
                   wheel=student_package.wheel_url(app.config.html_baseurl),
                   source_dir=Path(app.srcdir, pagename).parent, source=source)


def _normal(docname):
    parts = []
    for p in docname.split("/"):
        if p == "..":
            parts = parts[:-1]
        elif p not in ("", "."):
            parts.append(p)
    return "/".join(parts)


def _bibliography(app):
    cached = getattr(app, "_bn_plain_bib", None)
    if cached is None:
        import author_year
        from pybtex.database import parse_file

        cached = {}
        for bib in app.config.bibtex_bibfiles:
            for key, entry in parse_file(str(Path(app.srcdir, bib))).entries.items():
                who, _, year = author_year.author_year(entry).rpartition(" ")
                cached[key] = (who, year)
        app._bn_plain_bib = cached
    return cached


def rewrite_download(app, pagename, templatename, context, doctree):
    """The page's downloadable .ipynb (``_sources/PAGE.ipynb``), rewritten as plain Markdown."""
    download = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    if not download.is_file():
        return
    nb = nbformat.read(download, as_version=4)
    if nb.metadata.get(PLAIN_MARK):
        return
    ctx = _context(app, pagename)
    ctx.glue = stored_glue(Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.glue.json")
    nbformat.write(plain_notebook(nb, ctx), download)


def stored_glue(path):
    """``{key: mime bundle}`` from the ``.glue.json`` myst-nb writes beside an executed page
    (the notebook itself loses the values glued with ``display=False``)."""
    import json

    if not path.is_file():
        return {}
    return {key: value["data"] for key, value in json.loads(path.read_text()).items()}


def setup(app):
    # After the theme copies the .ipynb (501) and the install cell is added (502).
    app.connect("html-page-context", rewrite_download, priority=503)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
