"""pydantic's errors on notice.yml, said in French to an editor who is not a programmer.

``MESSAGES`` maps each pydantic error type to its sentence; a few sentences need more than the
error (the keys a block accepts, or the way YAML read an unquoted value) and are functions.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from formservice.notice.model import Notice
from formservice.notice.yamldoc import Scalar, YamlDocument

Wording = Callable[[ErrorDetails, Scalar | None], str]


# What an item of each list of notice.yml is, for an editor: (noun, feminine).
ITEM_NAMES: dict[str, tuple[str, bool]] = {
    "poles": ("pôle", False),
    "phones": ("téléphone", False),
    "exams": ("examen", False),
    "specialities": ("spécialité", True),
    "documents": ("pièce", True),
    "downloads": ("document à télécharger", False),
    "steps": ("étape", True),
    "refusal_reasons": ("motif de refus", False),
    "ineligibility_reasons": ("motif d'irrecevabilité", False),
}


def ordinal(n: int, feminine: bool = False) -> str:
    """« 1er », « 1re », « 2e »: French ordinals as typography writes them."""
    return ("1re" if feminine else "1er") if n == 1 else f"{n}e"


def field_name(path: tuple[Any, ...]) -> str:
    """Where a value is, in words: ``1er pôle, 2e téléphone`` from ``("poles", 0, "phones", 1)``,
    ``2e pôle, email``, ``registration.closes``. A list's item is named by what it is (counted
    from 1), keys keep the names written in the file."""
    parts: list[str] = []
    keys: list[str] = []
    for i, part in enumerate(path):
        if isinstance(part, int):
            listed = str(path[i - 1]) if i and not isinstance(path[i - 1], int) else ""
            if listed and keys and keys[-1] == listed:
                keys.pop()
            if keys:
                parts.append(".".join(keys))
                keys = []
            noun, feminine = ITEM_NAMES.get(listed, (f"élément de {listed}" if listed else "élément", False))
            parts.append(f"{ordinal(part + 1, feminine)} {noun}")
        else:
            keys.append(str(part))
    if keys:
        parts.append(".".join(keys))
    return ", ".join(parts)


def error_message(err: ErrorDetails, doc: YamlDocument) -> str:
    """The sentence for one pydantic error, knowing how YAML wrote the value it is about."""
    wording = MESSAGES.get(err["type"], _unforeseen)
    return wording(err, doc.scalar(tuple(err["loc"])))


def _template(text: str) -> Wording:
    """A fixed sentence, with the error's context (``{ge}``, ``{expected}``…) filled in."""
    return lambda err, scalar: text.format_map(err.get("ctx", {}))


def _unforeseen(err: ErrorDetails, scalar: Scalar | None) -> str:
    """An error type no entry of MESSAGES words: pydantic's own English, in brackets."""
    return f"valeur invalide ({err['msg']})"


def _unknown_key(err: ErrorDetails, scalar: Scalar | None) -> str:
    """A misspelt key, with the keys its block accepts."""
    model = _model_at(tuple(err["loc"])[:-1])
    allowed = ", ".join(model.model_fields) if model else ""
    hint = f" ; clés attendues : {allowed}" if allowed else ""
    return f"clé inconnue (faute de frappe ?){hint}"


_QUOTE_IT = ' : écrivez-le entre guillemets, "{raw}"'
_READ_AS_NUMBER = "« {raw} » a été lu comme un nombre" + _QUOTE_IT
_READ_AS_NUMBER_ZERO = "« {raw} » a été lu comme un nombre (le 0 du début est perdu)" + _QUOTE_IT
_READ_AS_BOOL = "« {raw} » a été lu comme oui/non (vrai/faux), pas comme un texte" + _QUOTE_IT

# How YAML read an unquoted value where a text was expected (by the end of its tag), and what to say.
_MISREAD = (
    (":int", _READ_AS_NUMBER),
    (":float", _READ_AS_NUMBER),
    (":bool", _READ_AS_BOOL),
    (":timestamp", "« {raw} » a été lu comme une date, pas comme un texte" + _QUOTE_IT),
    (":null", "valeur vide : écrivez un texte"),
)


def _not_a_text(err: ErrorDetails, scalar: Scalar | None) -> str:
    """A text was expected: explain YAML's trap (``0516526455`` a number, ``no`` false) if it is one."""
    if scalar is not None and scalar.plain:
        for tag_end, sentence in _MISREAD:
            if scalar.tag.endswith(tag_end):
                if sentence is _READ_AS_NUMBER and scalar.raw.lstrip("+-").startswith("0"):
                    sentence = _READ_AS_NUMBER_ZERO  # 0516526455: the phone loses its 0
                return sentence.format(raw=scalar.raw)
    return "un texte est attendu ici"


_INTEGER = _template("un nombre entier est attendu ici (sans guillemets)")
_BLOCK = _template("un bloc de clés est attendu ici")
_DATE = _template("une date est attendue ici, au format AAAA-MM-JJ")
_DATETIME = _template("une date avec heure est attendue ici : AAAA-MM-JJ HH:MM")

MESSAGES: dict[str, Wording] = {
    "missing": _template("champ obligatoire absent : ajoutez-le"),
    "extra_forbidden": _unknown_key,
    "string_type": _not_a_text,
    "string_too_short": _template("ce texte ne peut pas être vide"),
    "string_pattern_mismatch": _template(
        "identifiant invalide : lettres sans accent, chiffres et tirets seulement"
    ),
    "string_too_long": _template("texte trop long"),
    "int_type": _INTEGER,
    "int_parsing": _INTEGER,
    "int_from_float": _INTEGER,
    "greater_than_equal": _template("valeur trop petite (minimum {ge})"),
    "greater_than": _template("valeur trop petite (minimum {gt})"),
    "less_than_equal": _template("valeur trop grande (maximum {le})"),
    "less_than": _template("valeur trop grande (maximum {lt})"),
    "bool_type": _template("true ou false est attendu ici"),
    "list_type": _template("une liste est attendue ici (des lignes commençant par « - »)"),
    "too_short": _template("la liste ne peut pas être vide"),
    "model_type": _BLOCK,
    "dict_type": _BLOCK,
    "model_attributes_type": _BLOCK,
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "datetime_type": _DATETIME,
    "datetime_parsing": _DATETIME,
    "literal_error": _template("valeur inconnue ; valeurs possibles : {expected}"),
    "value_error": _template("{error}"),  # the sentence of a validator of model.py, as it is
}


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `path`, to list the keys an editor may use."""
    model: Any = Notice
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]``, ``list[...]`` and ``X | None``: where a nested model is."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is Annotated or origin in (list, typing.Union) or str(origin) == "types.UnionType":
            annotation = args[0] if args else None
            continue
        return annotation
