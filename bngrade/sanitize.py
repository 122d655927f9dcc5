"""Student text on its way to the instructor: one line, no escapes, no formulas, no script.

Anything a student wrote (a message their code raised, a notebook name, a
student id taken from a zip, an output) may reach the instructor's terminal,
the grades CSV, ``summary.md``/``summary.json`` or the feedback HTML. These
functions make it inert there. Call them where the text is *written*, not where
it is read, so that the stored value stays what the student sent.

``line(text, limit=500)``
    One printable line: every control or format character (newline, CR, TAB,
    ESC and so every ANSI sequence, the C1 controls, bidi overrides, zero-width
    characters, line and paragraph separators) becomes a visible ``\\xNN`` /
    ``\\uNNNN`` escape; longer text is cut with an ellipsis. For the terminal,
    progress output and any log line.
``markdown(text, limit=500)``
    :func:`line`, then the characters that act mid-line in Markdown (``|`` of
    a table cell, ``<``/``>`` of raw HTML, ``[``/``]`` of links and images,
    backquotes, backslashes) backslash-escaped and ``&`` written ``&amp;``.
``csv_cell(text, limit=500)``
    :func:`line`, and a leading ``=``, ``+``, ``-`` or ``@`` (a spreadsheet
    formula) is neutralised by a leading apostrophe.
``html_document(text)``
    A whole HTML page made safe to open: ``<script>``, ``<iframe>``, ``<object>``,
    ``<embed>``, ``<frame>``, ``<base>``, ``<form>``, ``<noscript>``,
    ``<template>`` and ``<meta http-equiv>`` are removed with their content,
    comments too, every ``on*`` event-handler attribute and ``srcdoc`` is
    dropped, and a URL attribute whose scheme is not http(s), mailto, a
    fragment, relative or a ``data:image/`` (not SVG) is dropped. The page is
    re-serialised from its parsed tokens (attribute values quoted and escaped),
    and a Content-Security-Policy ``<meta>`` forbidding every script, frame,
    form and remote load is put first in ``<head>``.
``html_fragment(text)``
    An HTML or SVG fragment (a notebook output) cleaned as :func:`html_document`
    cleans a page, without the CSP ``<meta>``, and stricter: no ``<link>`` or
    ``<meta>``, no ``<style>`` that loads anything, and a URL attribute only a
    fragment, relative or an inline image.
``outputs(raw)``
    A cell's outputs as a sandbox sent them, rebuilt from plain parts: stream,
    display data, results and errors only; a rich output keeps only plain text,
    PNG/JPEG (base64 checked), HTML and SVG (each through :func:`html_fragment`);
    no Javascript, no Markdown or LaTeX (they can carry links and macros a
    renderer would follow), no widget, no metadata. Every output that reaches the
    ``autograded/`` notebook (which nbgrader's formgrader shows) and the feedback
    went through it.

In both, any attribute whose value (entities decoded, blanks removed) holds a
``javascript:``, ``vbscript:``, ``data:text/html`` or ``data:image/svg`` URL is
dropped, whatever its name: that covers SVG's animation attributes
(``<animate values=...>``, ``<set to=...>``), which can write a script URL into
an ``href`` after the page is loaded; and an animation's ``attributeName`` that
targets ``href`` or an event handler is dropped too.

``clear_hidden_tests(source, begin, end)``
    nbgrader's hidden-test removal without its exceptions: a region whose end
    marker is missing is removed to the end of the cell (fail closed), nested
    markers are part of the region.
``SafeClearHiddenTests``
    The nbconvert preprocessor built on it, a drop-in for nbgrader's
    ``ClearHiddenTests``: it never raises, and it touches only test cells (the
    ones the grader restored from the source); a student's own cell that
    mentions the marker is left as written.
"""

import html
import re
import unicodedata
from html.parser import HTMLParser

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
       "script-src 'none'; object-src 'none'; frame-src 'none'; base-uri 'none'; "
       "form-action 'none'")

# ---------------------------------------------------------------- plain text


def _escape_char(ch):
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unsafe(ch):
    # Cc: C0/C1 controls and DEL; Cf: format (bidi overrides, zero width, soft hyphen...);
    # Zl/Zp: line and paragraph separators; Cs/Co/Cn: surrogates, private use, unassigned.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def line(text, limit=500):
    """``text`` (any object, ``str()`` first) as one printable line, at most ``limit`` chars."""
    text = "" if text is None else str(text)
    out = "".join(_escape_char(c) if _unsafe(c) else c for c in text)
    if limit is not None and len(out) > limit:
        out = out[:max(0, limit - 1)] + "…"
    return out


# Mid-line, these are the characters that change what a table row or a page shows: a cell
# border, raw HTML, a link or image, inline code, an escape. (Emphasis is left alone.)
_MD_ACTIVE = re.compile(r"([\\`\[\]<>|])")


def markdown(text, limit=500):
    """:func:`line`, with Markdown's active characters backslash-escaped (table-cell safe)."""
    return _MD_ACTIVE.sub(r"\\\1", line(text, limit)).replace("&", "&amp;")


def csv_cell(text, limit=500):
    """:func:`line`, with a spreadsheet formula's leading ``= + - @`` made literal."""
    out = line(text, limit)
    return "'" + out if out[:1] in ("=", "+", "-", "@") else out


# ---------------------------------------------------------------- HTML

_DROP_WITH_CONTENT = {"script", "iframe", "object", "embed", "frame", "frameset", "applet",
                      "base", "form", "noscript", "template", "noembed", "noframes",
                      "portal", "xmp", "plaintext"}
_VOID = {"area", "br", "col", "embed", "frame", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr", "basefont", "bgsound", "keygen"}
_RAW_TEXT = {"style", "textarea", "title"}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster",
              "cite", "longdesc", "lowsrc", "dynsrc", "data", "codebase", "usemap",
              "ping", "manifest", "icon", "profile", "srcset", "imagesrcset"}
_SAFE_SCHEME = re.compile(r"^(https?:|mailto:|#|data:image/(png|jpeg|gif|webp);)", re.I)
_FRAGMENT_SCHEME = re.compile(r"^(#|data:image/(png|jpeg|gif|webp);)", re.I)
_HAS_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*:", re.I)
# a script URL anywhere in an attribute's value (SVG animations write values into href)
_SCRIPT_URL = re.compile(r"(java|vb|live|ecma)script:|data:(text/html|image/svg|application)",
                         re.I)
_ANIMATIONS = {"animate", "set", "animatemotion", "animatetransform", "animatecolor"}
_FRAGMENT_DROPS = {"link", "meta", "title", "head", "html", "body"}


def _plain(value):
    return "".join(c for c in html.unescape(value) if not (c.isspace() or _unsafe(c)))


def _url_ok(value, fragment=False):
    v = _plain(value)
    if fragment:
        return bool(_FRAGMENT_SCHEME.match(v)) or not (_HAS_SCHEME.match(v) or "/" in v[:2]
                                                       or v.startswith("\\"))
    return bool(_SAFE_SCHEME.match(v)) or not (_HAS_SCHEME.match(v) or v.startswith("//")
                                               or v.startswith("\\"))


class _Sanitizer(HTMLParser):
    def __init__(self, fragment=False):
        super().__init__(convert_charrefs=True)
        self.out, self.skip, self.stack, self.head_done = [], [], [], False
        self.fragment = fragment

    def _meta_csp(self):
        self.head_done = True
        return f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">'

    def _attrs(self, tag, attrs):
        kept = []
        for name, value in attrs:
            name = name.lower()
            value = "" if value is None else value
            if (name.startswith("on") or name in ("srcdoc", "formaction", "http-equiv")
                    or not re.fullmatch(r"[a-z_:][-a-z0-9_:.]*", name)):
                continue
            if _SCRIPT_URL.search(_plain(value)):
                continue  # a script URL in any attribute (SVG <animate values=...>, <set to>)
            if tag in _ANIMATIONS and name == "attributename" and (
                    _plain(value).lower().split(":")[-1] in ("href", "src")
                    or _plain(value).lower().startswith("on")):
                continue
            if name in _URL_ATTRS and not all(_url_ok(v.strip().split(" ")[0], self.fragment)
                                              for v in value.split(",")):
                continue
            if name == "style" and re.search(r"expression|javascript:|url\s*\(|@import",
                                             html.unescape(value), re.I):
                continue
            kept.append(f' {name}="{html.escape(value, quote=True)}"')
        return "".join(kept)

    def handle_starttag(self, tag, attrs, closed=False):
        tag = tag.lower()
        if self.skip:
            if tag in _DROP_WITH_CONTENT and not closed and tag not in _VOID:
                self.skip.append(tag)
            return
        if self.fragment and tag in _FRAGMENT_DROPS:
            if tag in ("title",) and not closed:
                self.skip.append(tag)
            return
        if tag in _DROP_WITH_CONTENT or (tag == "meta" and any(
                n.lower() == "http-equiv" for n, _ in attrs)) or (tag == "link" and any(
                n.lower() == "rel" and (v or "").lower() not in ("stylesheet",)
                for n, v in attrs)):
            if not closed and tag not in _VOID:
                self.skip.append(tag)
            return
        kept = self._attrs(tag, attrs)
        if tag == "img" and not self.fragment and not any(n.lower() == "alt" for n, _ in attrs):
            kept += f' alt="{NO_ALT}"'  # as nbconvert's HTML exporter says it
        self.out.append(f"<{tag}{kept}{' /' if closed else ''}>")
        if tag == "head" and not self.head_done and not self.fragment:
            self.out.append(self._meta_csp())
        if tag not in _VOID and not closed:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs, closed=True)

    def handle_endtag(self, tag):
        tag = tag.lower()
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag in _DROP_WITH_CONTENT or tag in _VOID or (self.fragment
                                                         and tag in _FRAGMENT_DROPS):
            return
        if tag in self.stack:
            while self.stack:
                top = self.stack.pop()
                self.out.append(f"</{top}>")
                if top == tag:
                    break

    def handle_data(self, data):
        if self.skip:
            return
        if self.stack and self.stack[-1] in _RAW_TEXT:
            # Raw text ends only at its own end tag, which the parser already split off.
            if self.stack[-1] == "style":
                if self.fragment and re.search(r"url\s*\(|@import|expression|javascript:|"
                                               r"\\", data, re.I):
                    return  # an output's style may not load or run anything
                self.out.append(data.replace("<", "\\3c "))
                return
        self.out.append(html.escape(data, quote=False))

    def handle_decl(self, decl):
        if decl.lower().startswith("doctype") and not self.out:
            self.out.append("<!DOCTYPE html>")

    # comments, processing instructions, CDATA and unknown declarations are dropped
    def handle_comment(self, data):
        pass

    def handle_pi(self, data):
        pass

    def unknown_decl(self, data):
        pass


NO_ALT = "No description has been provided for this image"


def html_document(text):
    """A whole HTML page with scripts, frames, handlers and unsafe URLs removed, plus a CSP."""
    parser = _Sanitizer()
    parser.feed(text)
    parser.close()
    while parser.stack:
        parser.out.append(f"</{parser.stack.pop()}>")
    body = "".join(parser.out)
    if not parser.head_done:
        doctype = "<!DOCTYPE html>"
        if body.startswith(doctype):
            body = body[len(doctype):]
        body = f"{doctype}<meta http-equiv=\"Content-Security-Policy\" " \
               f"content=\"{html.escape(CSP)}\">{body}"
    return body


def html_fragment(text):
    """An HTML or SVG output made inert (module doc): no script, handler, frame, script URL
    or remote load; no CSP ``<meta>`` (it is part of a page made elsewhere)."""
    parser = _Sanitizer(fragment=True)
    parser.feed(str(text))
    parser.close()
    while parser.stack:
        parser.out.append(f"</{parser.stack.pop()}>")
    return "".join(parser.out)


# ---------------------------------------------------------------- notebook outputs

OUTPUT_TEXT = 200_000  # characters of one text output kept
RICH_MIMES = ("text/plain", "text/html", "image/svg+xml", "image/png", "image/jpeg")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def _str(value, limit=OUTPUT_TEXT):
    value = "".join(value) if isinstance(value, list) and all(
        isinstance(v, str) for v in value) else value
    return value[:limit] if isinstance(value, str) else ""


def outputs(raw):
    """Outputs a sandbox sent (untrusted), rebuilt as inert nbformat output dicts."""
    out = []
    for o in raw if isinstance(raw, list) else []:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream":
            out.append({"output_type": "stream",
                        "name": "stderr" if o.get("name") == "stderr" else "stdout",
                        "text": _str(o.get("text"))})
        elif kind in ("display_data", "execute_result"):
            data = {}
            given = o.get("data") if isinstance(o.get("data"), dict) else {}
            for mime in RICH_MIMES:
                value = _str(given.get(mime), 4 * OUTPUT_TEXT if mime.startswith("image/")
                             else OUTPUT_TEXT)
                if not value:
                    continue
                if mime in ("text/html", "image/svg+xml"):
                    value = html_fragment(value)
                elif mime in ("image/png", "image/jpeg") and not _BASE64.fullmatch(value):
                    continue
                data[mime] = value
            data.setdefault("text/plain", "")
            entry = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                count = o.get("execution_count")
                entry["execution_count"] = count if type(count) is int else None
            out.append(entry)
        elif kind == "error":
            trace = o.get("traceback") if isinstance(o.get("traceback"), list) else []
            out.append({"output_type": "error", "ename": line(_str(o.get("ename")), 100),
                        "evalue": _str(o.get("evalue"), 2000),
                        "traceback": [_str(t, 2000) for t in trace[:50]]})
    return out


# ---------------------------------------------------------------- hidden tests


def clear_hidden_tests(source, begin="BEGIN HIDDEN TESTS", end="END HIDDEN TESTS"):
    """``(source without hidden regions, whether one was removed)``; never raises.

    Lines from a line containing ``begin`` to the next containing ``end`` are
    removed (both marker lines too); a region left open runs to the end of the
    cell, so a missing end marker hides more, never less.
    """
    kept, inside, removed = [], False, False
    for text in source.split("\n"):
        if not inside and begin in text:
            inside = removed = True
        elif inside and end in text and begin not in text:
            inside = False
        elif not inside:
            kept.append(text)
    return "\n".join(kept), removed


class SafeClearHiddenTests(Preprocessor):
    """Hidden tests removed from test cells only, without ever raising (see module doc)."""

    enabled = Bool(True)
    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        nb.metadata.pop("celltoolbar", None)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        m = cell.get("metadata", {}).get("nbgrader", {})
        if m.get("grade") and not m.get("solution"):
            cell.source, _ = clear_hidden_tests(cell.source, self.begin_test_delimeter,
                                                self.end_test_delimeter)
        return cell, resources
