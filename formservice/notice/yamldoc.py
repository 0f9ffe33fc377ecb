"""YAML reading that remembers where each value came from.

PyYAML's composed node graph carries line numbers; we build plain Python data from it and keep
a map from each path (``("poles", 0, "email")``) to its line and raw text, so that validation
errors can point an editor at the right line and explain YAML's traps (``0516526455`` read as a
number, ``no`` read as false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
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

    def line(self, path: tuple[Any, ...]) -> int:
        """The line of `path`, or of its nearest ancestor that exists (for a missing key)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def scalar(self, path: tuple[Any, ...]) -> Scalar | None:
        return self.scalars.get(path)


class _Constructor(yaml.SafeLoader):
    pass


def _build(node: yaml.Node, path: tuple[Any, ...], doc: YamlDocument, loader: _Constructor) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                key = str(key)
            child = (*path, key)
            if key in out:
                doc.problems.append(
                    (key_node.start_mark.line + 1, f"clé « {key} » écrite deux fois dans le même bloc")
                )
            # An error on a key points at the key's own line.
            doc.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, doc, loader)
            doc.lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, loader) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    doc.scalars[path] = Scalar(
        raw=node.value, tag=node.tag, plain=node.style is None, line=node.start_mark.line + 1
    )
    return loader.construct_object(node, deep=True)


def compose(text: str) -> YamlDocument:
    loader = _Constructor(text)
    try:
        node = loader.get_single_node()
        doc = YamlDocument(data=None)
        if node is None:
            raise YamlSyntaxError(1, "le fichier est vide")
        doc.data = _build(node, (), doc, loader)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or "erreur"
        raise YamlSyntaxError(
            line,
            "syntaxe YAML incorrecte (" + problem + ") : vérifiez l'indentation, les deux-points "
            "et les guillemets de cette ligne et de la précédente",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"syntaxe YAML incorrecte ({exc})") from None
    finally:
        loader.dispose()
