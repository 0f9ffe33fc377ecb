"""What French typography forbids in a rendered page, said as a list of the offending excerpts.

A line may break at an ordinary space (or a line break in the HTML source); so a page whose text
has an ordinary space before ``: ; ? ! »`` or after ``«`` can show a line starting with one of
them on some screen width. Used by the unit tests (HTML from the service and the site) and, on
the text Chromium lays out, by the browser tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BREAKABLE = "[ \t\r\n\f\v]"
_FORBIDDEN = re.compile(rf".{{0,20}}(?:{BREAKABLE}+[:;?!»]|«{BREAKABLE}+).{{0,10}}", re.S)


def breakable_punctuation(text: str) -> list[str]:
    """The excerpts of `text` where a line could start with ``: ; ? ! »`` or end with ``«``."""
    return [m.group(0) for m in _FORBIDDEN.finditer(text)]


class _Text(HTMLParser):
    """The text a reader sees: no script, style, comment; ``<pre>``/``<code>`` kept apart."""

    SKIP = ("script", "style", "pre", "code", "textarea")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)


# In a real browser: the characters that Chromium laid out at the start of a line (or a « at its
# end), and the phone numbers it split over two lines, each with a few characters around it.
LINE_BREAK_PROBLEMS_JS = r"""
() => {
  const problems = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      const el = node.parentElement;
      if (!el || el.closest("script, style, pre, code, textarea")) return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  const range = document.createRange();
  const rectOf = (node, i) => {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const rect = range.getClientRects()[0];
    return rect && (rect.width || rect.height) ? rect : null;
  };
  const excerpt = (node, i) => node.data.slice(Math.max(0, i - 15), i + 10);
  let previous = null;
  let openGuillemet = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const ch = node.data[i];
      if (/[ \t\n\r\f]/.test(ch)) continue;
      const rect = rectOf(node, i);
      if (!rect) continue;
      const newLine = previous && rect.top >= previous.bottom - 1;
      if (newLine && ":;?!»".includes(ch)) problems.push("line starts with " + ch + ": " + excerpt(node, i));
      if (newLine && openGuillemet) problems.push("line ends with «: " + openGuillemet);
      openGuillemet = ch === "«" ? excerpt(node, i) : null;
      previous = rect;
    }
    for (const match of node.data.matchAll(/0[1-9](?:[ \u00a0]\d\d){4}/g)) {
      const first = rectOf(node, match.index);
      const last = rectOf(node, match.index + match[0].length - 1);
      if (first && last && last.top >= first.bottom - 1) problems.push("phone split: " + match[0]);
    }
  }
  return problems;
}
"""
