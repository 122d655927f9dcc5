"""What in a page or a stored output would run: shared by the attack tests."""

import html
from html.parser import HTMLParser

JS = "alert(document.cookie)"
# Live HTML and SVG a student's output may carry (each is live as written).
HTML_ATTACKS = [
    f"<script>{JS}</script>",
    f'<img src="x" onerror="{JS}">',
    f'<a href="javascript:{JS}">click</a>',
    f'<a href="jav&#x09;ascript:{JS}">click</a>',
    f'<svg><a><animate attributeName="href" values="javascript:{JS}"/><text>t</text></a></svg>',
    f'<svg><a><set attributeName="href" to="javascript:{JS}"/><text>t</text></a></svg>',
    f'<svg><a href="javascript:{JS}"><text>t</text></a></svg>',
    f'<svg><a xlink:href="data:text/html,<script>{JS}</script>"><text>t</text></a></svg>',
    f'<iframe srcdoc="<script>{JS}</script>"></iframe>',
    '<style>body { background: url("https://example.invalid/beacon") }</style>',
]


class Live(HTMLParser):
    """What in a page would run: script elements, handler attributes, script URLs."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.found, self.scripts, self.inside = [], [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.found.append(tag)
            self.inside = True
            self.scripts.append("")
        for name, value in attrs:
            plain = "".join((value or "").lower().split())
            if name.startswith("on") or "javascript:" in plain or "data:text/html" in plain:
                self.found.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        if tag == "script":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.scripts[-1] += data


def inert(text):
    """True when ``text`` (HTML, or JSON holding it) has nothing that could run or load."""
    low = "".join(html.unescape(text).lower().split())
    return ("<script" not in low and "javascript:" not in low and "onerror" not in low
            and "url(" not in low and "<iframe" not in low and "data:text/html" not in low)
