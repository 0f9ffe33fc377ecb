"""YAML reading that remembers where each value came from.

PyYAML's composed node graph carries line numbers; we build plain Python data from it and keep
a map from each path (``("poles", 0, "email")``) to its line and raw text, so that validation
errors can point an editor at the right line and explain YAML's traps (``0516526455`` read as a
number, ``no`` read as false).

Whatever the text, reading it raises nothing but YamlSyntaxError (with its line): a value YAML
cannot construct (``2025-13-45``, ``!!int abc``, a number of 5,000 digits, a circular alias) is
kept as its raw text in ``unreadable`` with its sentence, keys are the texts written (``1:`` and
``no:`` are keys, not a number and false), and a file that only YAML's own limits would stop (a
control character, nesting hundreds deep, aliases multiplying to millions of values) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from formservice.notice.dates import impossible_date


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Scalar:
    raw: str
    tag: str
    plain: bool
    line: int


@dataclass
class YamlDocument:
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)
    scalars: dict[tuple[Any, ...], Scalar] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    # Values YAML could not read (``2025-13-45``), by path, with their sentence: each is kept in
    # `data` as its raw text (or None), and no other check speaks of it again.
    unreadable: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def line(self, path: tuple[Any, ...]) -> int:
        """The line of `path`, or of its nearest ancestor that exists (for a missing key)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def scalar(self, path: tuple[Any, ...]) -> Scalar | None:
        return self.scalars.get(path)

    def already_reported(self, path: tuple[Any, ...]) -> bool:
        """Whether `path` is, or is inside, a value that YAML could not read."""
        return any(path[:n] in self.unreadable for n in range(len(path) + 1))


# The real notice has a few hundred values; more than this (aliases ``*x`` repeating a block that
# repeats another…) is not a notice, and reading it all would take minutes and gigabytes.
MAX_VALUES = 100_000
_MAX_VALUES_FR = f"{MAX_VALUES:,}".replace(",", "\u202f")

# What a value tagged so (by YAML's reading of an unquoted value, or by ``!!int``…) should be.
_EXPECTED = {
    "tag:yaml.org,2002:int": "un nombre entier",
    "tag:yaml.org,2002:float": "un nombre",
    "tag:yaml.org,2002:bool": "oui/non (true ou false)",
    "tag:yaml.org,2002:timestamp": "une date",
    "tag:yaml.org,2002:binary": "des données en base64",
}


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, for a sentence that quotes what the editor wrote."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _without_surrogates(text: str) -> str:
    """`text` with each half of a character, that ``"\\ud800"`` writes and that no file, page or
    terminal can hold, turned back into its escape ``\\ud800``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_HALF_CHARACTER = (
    "« {raw} » contient une séquence \\u… qui n'écrit que la moitié d'un caractère : "
    "écrivez le caractère lui-même"
)


_NOT_A_KEY = "une clé s'écrit comme un mot suivi de deux-points, pas comme une liste ni un bloc"


class _Constructor(yaml.SafeLoader):
    pass


class _Builder:
    """Plain data from the composed nodes, with each value's line, and a sentence for each value
    YAML cannot read instead of an exception."""

    def __init__(self, doc: YamlDocument, loader: _Constructor):
        self.doc = doc
        self.loader = loader
        self.count = 0
        self.open: set[int] = set()  # the blocks being built: an alias to one is a cycle

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_VALUES:
            # On the line of the top-level key being read: an alias's node is on its anchor's line.
            raise YamlSyntaxError(
                self.doc.line(path[:1]),
                f"le fichier contient trop de valeurs (plus de {_MAX_VALUES_FR}, en comptant chaque "
                "répétition d'une référence *…) : ce n'est pas une note aux candidats",
            )
        self.doc.lines.setdefault(path, line)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.open:
            self.doc.unreadable[path] = (
                "référence circulaire : cette valeur (*…) se contient elle-même ; écrivez-la en entier"
            )
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, yaml.SequenceNode)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.doc.problems.append((key_line, _NOT_A_KEY))
                continue
            # A key is the text written: `1:` or `no:` name a key, not a number or false.
            key = _without_surrogates(key_node.value)
            if key != key_node.value:
                self.doc.problems.append((key_line, _HALF_CHARACTER.format(raw=shorten(key))))
            child = (*path, key)
            if key in out:
                self.doc.problems.append((key_line, f"clé « {key} » écrite deux fois dans le même bloc"))
            # An error on a key points at the key's own line.
            self.doc.lines[child] = key_line
            out[key] = self.build(value_node, child)
            self.doc.lines[child] = key_line
        return out

    def _scalar(self, node: yaml.ScalarNode, path: tuple[Any, ...]) -> Any:
        raw = _without_surrogates(node.value)
        self.doc.scalars[path] = Scalar(
            raw=raw, tag=node.tag, plain=node.style is None, line=node.start_mark.line + 1
        )
        try:
            value = self.loader.construct_object(node, deep=True)
        except Exception:
            # PyYAML's constructors fail on a single value in many ways: ConstructorError for an
            # unknown tag, ValueError for a date out of the calendar or a number of 5,000 digits,
            # KeyError for ``!!bool abc``, AttributeError for ``!!timestamp abc``, IndexError for
            # an empty ``!!int``… Each is the editor's mistake, on this value.
            # Forget the failed node, or an alias to it would be taken for a cycle.
            self.loader.recursive_objects.pop(node, None)
            self.doc.unreadable[path] = _unreadable(node, raw)
            return raw
        if isinstance(value, str) and raw != node.value:
            self.doc.unreadable[path] = _HALF_CHARACTER.format(raw=shorten(raw))
            return raw
        return value


def _unreadable(node: yaml.ScalarNode, raw: str) -> str:
    """Why YAML could not read the value written `raw`, in the editor's words."""
    if node.tag.endswith(":timestamp"):
        sentence = impossible_date(raw)
        if sentence:
            return sentence
    expected = _EXPECTED.get(node.tag)
    if expected is None:  # ``!foo``, or ``!!set`` on a single value
        return f"l'étiquette « {_written(node.tag)} » ne peut pas servir ici : retirez-la"
    if not raw.strip():
        return (
            f"valeur vide après l'étiquette « {_written(node.tag)} » : écrivez la valeur ou retirez "
            "l'étiquette"
        )
    if node.style is None and not node.tag.endswith(":binary"):
        hint = " ; pour un texte, écrivez-le entre guillemets"
    else:
        hint = ""
    return f"« {shorten(raw)} » ne peut pas être lu comme {expected}{hint}"


def _written(tag: str) -> str:
    """A tag as an editor wrote it: ``!!int`` rather than ``tag:yaml.org,2002:int``."""
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag


_STANDARD = "tag:yaml.org,2002:"


def line_at(text: str, position: int) -> int:
    """The line, counted as YAML counts them, of the character at `position`."""
    return len(_LINE_BREAK.findall(text, 0, position)) + 1


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

_TAB = "'\\t'"  # how PyYAML names a tab in its message
_SYNTAX = "syntaxe YAML incorrecte : "
_CHECK_LINE = "vérifiez l'indentation, les deux-points et les guillemets de cette ligne et de la précédente"

# PyYAML's English problems, and what they mean to an editor: (pattern, sentence, whether to point
# at where the construct began rather than where PyYAML gave up, as for a quote never closed).
_PROBLEMS: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(pattern), sentence, at_start)
    for pattern, sentence, at_start in (
        (
            r"^mapping values are not allowed",
            "deux-points inattendu : un texte qui contient « : » s'écrit entre guillemets "
            "(\"…\"), sinon cette clé n'est pas à sa place (vérifiez l'indentation)",
            False,
        ),
        (
            r"^could not find expected ':'",
            "deux-points manquant : une clé s'écrit « clé: valeur », ou la ligne est mal indentée",
            False,
        ),
        (
            r"but found '<scalar>'",
            "valeur inattendue : après un texte entre guillemets, rien ne doit suivre sur la ligne ; "
            "sinon la ligne est mal indentée",
            False,
        ),
        (
            r"^expected <block end>|^did not find expected (key|'-')",
            "indentation incohérente : cette ligne n'est pas alignée sur les autres clés (ou les "
            "autres « - ») du même bloc ; utilisez le même nombre d'espaces",
            False,
        ),
        (r"unexpected end of stream", "guillemet jamais refermé : fermez le texte qui commence ici", True),
        (
            r"^expected ',' or '\]'",
            "crochet « [ » jamais refermé, ou virgule manquante entre deux éléments de la liste "
            "qui commence ici",
            True,
        ),
        (
            r"^expected ',' or '\}'",
            "accolade « { » jamais refermée, ou virgule manquante dans le bloc qui commence ici",
            True,
        ),
        (
            r"^found unknown escape character '(.*)'",
            "séquence « \\{0} » inconnue entre guillemets doubles : écrivez \\\\ pour une barre "
            "oblique inverse, ou mettez le texte entre guillemets simples (')",
            False,
        ),
        (
            r"^found character '(.)' that cannot start any token",
            "le caractère « {0} » ne peut pas commencer une valeur : écrivez la valeur entre guillemets",
            False,
        ),
        (
            r"^found undefined alias '(.*)'",
            "référence *{0} inconnue : aucune valeur n'est marquée &{0} plus haut dans le fichier",
            False,
        ),
        (r"^second occurrence", "marque &… définie deux fois : donnez-lui un autre nom", False),
        (
            r"^expected alphabetic or numeric character",
            "nom de marque manquant après & ou * (lettres et chiffres seulement)",
            False,
        ),
        (
            r"^expected chomping or indentation indicators",
            "rien ne doit suivre « | » ou « > » sur la ligne : le texte commence à la ligne suivante",
            False,
        ),
        (
            r"^but found another document|^expected '<document start>'",
            "le fichier ne doit contenir qu'un document : retirez les lignes « --- » ou « ... »",
            False,
        ),
    )
)


def _at(mark: yaml.Mark | None, message: str) -> YamlSyntaxError:
    return YamlSyntaxError(mark.line + 1 if mark else 1, message, mark.column + 1 if mark else None)


def _syntax_error(exc: yaml.MarkedYAMLError) -> YamlSyntaxError:
    """PyYAML's error in French, at its line and column: never the parser's English."""
    problem = exc.problem or ""
    if _TAB in problem:
        return _at(
            exc.problem_mark or exc.context_mark,
            "tabulation interdite : YAML n'accepte que des espaces, remplacez-la par des espaces",
        )
    for pattern, sentence, at_start in _PROBLEMS:
        match = pattern.search(problem)
        if match:
            mark = (exc.context_mark if at_start else None) or exc.problem_mark or exc.context_mark
            return _at(mark, _SYNTAX + sentence.format(*(shorten(g, 10) for g in match.groups() if g)))
    return _at(exc.problem_mark or exc.context_mark, _SYNTAX + _CHECK_LINE)


def compose(text: str) -> YamlDocument:
    """The line-numbered data of `text`; YamlSyntaxError, with its line, if YAML cannot read it."""
    try:
        loader = _Constructor(text)
    except yaml.reader.ReaderError as exc:
        # A character YAML refuses anywhere in the file: a control character, often invisible.
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlSyntaxError(
            line_at(text, exc.position),
            f"caractère interdit (U+{code:04X}, souvent invisible) : supprimez-le, ou retapez la ligne",
        ) from None
    try:
        node = loader.get_single_node()
        doc = YamlDocument(data=None)
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            raise YamlSyntaxError(1, "le fichier est vide")
        doc.data = _Builder(doc, loader).build(node, ())
        return doc
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except RecursionError:
        # PyYAML composes a nested value by recursion: ``[[[[…`` a few hundred deep exhausts it.
        raise YamlSyntaxError(
            loader.get_mark().line + 1,
            "trop de niveaux imbriqués (crochets, accolades ou indentation) : le fichier ne peut pas être lu",
        ) from None
    except yaml.YAMLError:
        raise YamlSyntaxError(1, _SYNTAX + _CHECK_LINE) from None
    finally:
        loader.dispose()
