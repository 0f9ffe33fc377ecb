"""French typography, applied once to whatever a candidate reads: pages, mails, PDFs, the site.

Templates and notice.yml are written with ordinary spaces (« Date limite : … », « 05 16 52 64
55 »), as anyone types them; this module turns them into what French typography and a narrow
phone screen need, so that no line starts with « : » or « ? » and no phone number splits:

- a narrow no-break space (U+202F) before ``; ! ?`` and inside « guillemets »;
- a no-break space (U+00A0) before ``:``, inside French phone numbers (``05 16 52 64 56``),
  and between a number and its unit (``14 jours``, ``19 h 00``, ``10 Mo``: the countdowns);
- in HTML only, ``1er``, ``1re``, ``2e`` with the ending in ``<sup>``.

Only the spaces that are already there change: a colon written without one (``19:00``,
``https://``, ``mailto:``) and a ``?`` inside a URL are left alone, so are e-mail addresses.
``french_html`` rewrites text nodes only, never a tag, an attribute value, a comment, nor the
content of ``<script>``, ``<style>``, ``<pre>``, ``<code>``, ``<textarea>``. Both functions are
idempotent: a text already typeset comes back unchanged.

Pure: the standard library only, so the site's hook, the mails and the web layer share it.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"
NNBSP = "\u202f"

_UNITS = r"jours?|heures?|minutes?|secondes?|semaines?|mois|ans|h|min|s|Mo|Ko|Go|%|€|ppp"


def _rules(space: str) -> list[tuple[re.Pattern[str], str]]:
    """The substitutions, given what counts as a space that may be replaced: in plain text a line
    break is kept as it is; in HTML any run of white space is one space."""
    return [
        (re.compile(rf"{space}+(?=[;!?])"), NNBSP),
        (re.compile(rf"{space}+(?=:)"), NBSP),
        (re.compile(rf"«{space}*"), "«" + NNBSP),
        (re.compile(rf"{space}*»"), NNBSP + "»"),
        (re.compile(r"(?<![\w+])0[1-9](?:[ \u00a0]\d\d){4}(?!\w)"), "phone"),
        (re.compile(rf"(?<![\w.,])(\d+) (?=(?:{_UNITS})(?!\w))"), r"\1" + NBSP),
        (re.compile(r"(?<![\w.,])(\d{1,2})\u00a0h (?=\d\d(?!\w))"), r"\1" + NBSP + "h" + NBSP),
    ]


_TEXT_RULES = _rules("[ \t\u00a0\u202f]")
_HTML_RULES = _rules(r"\s")
_ORDINAL = re.compile(r"(?<![\w&#.,/@-])(\d+)(er|re|e|nd|nde)(?![\w@])(?![.-]\w)")


_TRIGGER = re.compile(r"[:;!?«»\d]")  # a text without any of them has nothing to change


def _apply(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    if not _TRIGGER.search(text):  # most text nodes: indentation, plain words
        return text
    for pattern, replacement in rules:
        if replacement == "phone":
            text = pattern.sub(lambda m: m.group(0).replace(" ", NBSP), text)
        else:
            text = pattern.sub(replacement, text)
    return text


def french_text(text: str) -> str:
    """Plain text (a mail's text part, a PDF's words) with French spaces; line breaks kept."""
    return _apply(text, _TEXT_RULES)


# A tag (its attribute values may hold ``>`` when quoted), a comment, a declaration.
_MARKUP = re.compile(
    r"<!--.*?-->|<![^>]*>|<\?[^>]*>|</?[A-Za-z][^\s/>]*(?:\"[^\"]*\"|'[^']*'|[^'\">])*>", re.S
)
_RAW = ("script", "style", "textarea", "title")  # their content is not HTML: skipped whole
# A block whose text was typeset where it was made (``typeset_block``): passed over whole, so a
# long generated table costs nothing here.
TYPESET_START, TYPESET_END = "<!--fs:typeset-->", "<!--/fs:typeset-->"
_VERBATIM = ("pre", "code")  # HTML inside, but shown as written
_NO_MARKUP = ("title", "option")  # text only: no <sup> there
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)")
# The second character of the tags the walk tracks (script, style, textarea, title, pre, code,
# option, and their closing tags): any other tag is passed at once.
_INTERESTING = frozenset("/sStTpPcCoO")


_TYPESET: dict[tuple[str, bool], str] = {}  # text node -> typeset (template text repeats on every page)
_TYPESET_MAX = 20_000


def _text_node(text: str, sup: bool) -> str:
    if not _TRIGGER.search(text):
        return text
    key = (text, sup)
    done = _TYPESET.get(key)
    if done is None:
        done = _apply(text, _HTML_RULES)
        done = _ORDINAL.sub(r"\1<sup>\2</sup>", done) if sup else done
        if len(_TYPESET) >= _TYPESET_MAX:
            _TYPESET.clear()  # a bound on memory: candidates' own texts vary without end
        _TYPESET[key] = done
    return done


_TRAILING = re.compile(r"[ \t\r\n\f]+$")
_LEADING = re.compile(r"^[ \t\r\n\f]+")
_BEFORE = {";": NNBSP, "!": NNBSP, "?": NNBSP, ":": NBSP, "»": ""}


class _Page:
    """The output being built, and the last text node, for a space and its punctuation on either
    side of a tag (``Date <b>:</b>``, ``«<em> titre</em> »``)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.last_text: int | None = None

    def text(self, chunk: str) -> None:
        if self.last_text is not None and chunk:
            previous = self.out[self.last_text]
            first = chunk.lstrip(NBSP + NNBSP)[:1]
            if first in _BEFORE and first and _TRAILING.search(previous):
                space = "" if chunk[0] in (NBSP, NNBSP) else _BEFORE[first]
                self.out[self.last_text] = _TRAILING.sub(space, previous)
            elif previous.endswith("«" + NNBSP):
                chunk = _LEADING.sub("", chunk)
        self.last_text = len(self.out)
        self.out.append(chunk)

    def raw(self, chunk: str) -> None:
        self.out.append(chunk)

    def barrier(self) -> None:
        """Script, style, verbatim text: what follows is not next to what came before."""
        self.last_text = None


def french_html(html: str) -> str:
    """An HTML page or fragment with French spaces in its text nodes, ordinals in ``<sup>``."""
    page = _Page()
    position, verbatim, no_markup = 0, 0, 0
    lowered = html.lower()
    while position < len(html):
        match = _MARKUP.search(html, position)
        end = match.start() if match else len(html)
        if end > position:
            chunk = html[position:end]
            if verbatim:
                page.raw(chunk)
            else:
                page.text(_text_node(chunk, sup=not no_markup))
        if match is None:
            break
        tag = match.group(0)
        page.raw(tag)
        position = match.end()
        if tag == TYPESET_START:
            close = html.find(TYPESET_END, position)
            close = len(html) if close < 0 else close
            page.raw(html[position:close])
            page.barrier()
            position = close
            continue
        if tag[1] not in _INTERESTING:  # most tags: a, div, li, span… nothing to track
            continue
        name_match = _TAG_NAME.match(tag)
        name = name_match.group(1).lower() if name_match else ""
        closing = tag.startswith("</")
        if name in _RAW and not closing:
            close = lowered.find(f"</{name}", position)
            close = len(html) if close < 0 else close
            content = html[position:close]
            page.raw(_text_node(content, sup=False) if name == "title" else content)  # spaces, no markup
            page.barrier()
            position = close
        elif name in _VERBATIM and not tag.endswith("/>"):
            verbatim = max(0, verbatim + (-1 if closing else 1))
            page.barrier()
        elif name in _NO_MARKUP:
            no_markup = max(0, no_markup + (-1 if closing else 1))
    return "".join(page.out)


def typeset_block(html: str) -> str:
    """``html`` whose every text node is already typeset (``french_text`` on each value, say),
    marked so that ``french_html`` passes over it."""
    return f"{TYPESET_START}{html}{TYPESET_END}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """« 1 problème », « 3 problèmes », « 0 problème » (French keeps the singular below 2)."""
    word = singular if abs(count) < 2 else (plural_form or singular + "s")
    return f"{count} {word}"
