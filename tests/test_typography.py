"""French typography in one module: the spaces a reader needs, nothing a machine reads touched."""

from __future__ import annotations

import pytest
from typography_helpers import breakable_punctuation, page_text

from formservice.typography import NBSP, NNBSP, french_html, french_text, plural

SENTENCE = "Attention : clôture jeudi ! Une question ? Appelez ; « J'ai fourni toutes mes pièces »."


def test_spaces_before_double_punctuation_and_inside_guillemets():
    """: gets a no-break space, ; ! ? and « » a narrow one; no ordinary space is left beside them."""
    typeset = french_text(SENTENCE)
    assert typeset == (
        f"Attention{NBSP}: clôture jeudi{NNBSP}! Une question{NNBSP}? Appelez{NNBSP}; "
        f"«{NNBSP}J'ai fourni toutes mes pièces{NNBSP}»."
    )
    assert breakable_punctuation(typeset) == []
    assert french_text("«oui»") == f"«{NNBSP}oui{NNBSP}»"


def test_phone_numbers_and_countdowns_hold_together():
    """A French phone number and a number with its unit never split across two lines."""
    typeset = french_text("Appelez le 05 16 52 64 56 : encore 3 jours et 4 heures, 10 Mo, 19 h 00.")
    assert f"05{NBSP}16{NBSP}52{NBSP}64{NBSP}56" in typeset
    assert f"3{NBSP}jours et 4{NBSP}heures" in typeset and f"10{NBSP}Mo" in typeset
    assert f"19{NBSP}h{NBSP}00" in typeset
    assert french_text("2 jours 3 h 05 min 09 s") == f"2{NBSP}jours 3{NBSP}h{NBSP}05{NBSP}min 09{NBSP}s"


@pytest.mark.parametrize(
    "text",
    [
        "https://www.ac-poitiers.fr/examens?session=2026&x=1",
        "mailto:pole.cs@ac-poitiers.fr",
        "ouverture à 19:00, clôture à 09:30",
        "pole.bac.pro@ac-poitiers.fr",
        "2e@exemple.fr",
        "Note:sans espace",
        "BP26-7K3M-Q9TX",
        "sha256-3e4f9a2e",
    ],
)
def test_urls_times_and_addresses_are_left_alone(text):
    """What a machine reads (a URL, an address, a time written 19:00, a hash) comes back as it was."""
    assert french_text(text) == text
    assert french_html(text) == text


def test_text_keeps_its_line_breaks():
    """In a mail's text part a line break is a line break: it is not turned into a space."""
    assert french_text("Motif\n: illisible") == "Motif\n: illisible"
    assert french_text("Motif  :\nillisible") == f"Motif{NBSP}:\nillisible"


def test_html_changes_text_nodes_only():
    """Tags, attribute values, comments, scripts, styles, code, pre and text areas are untouched."""
    html = (
        '<p title="Date : x ?" data-x="a > b">Date : <a href="/a?b=1">lien</a> !</p>'
        '<script>if (a <b) { x = "c : d ?"; }</script><style>a::after { content: " : "; }</style>'
        "<pre>a : b</pre><code>c ; d</code><textarea>e ? f</textarea><!-- g : h -->"
    )
    assert french_html(html) == (
        f'<p title="Date : x ?" data-x="a > b">Date{NBSP}: <a href="/a?b=1">lien</a>{NNBSP}!</p>'
        '<script>if (a <b) { x = "c : d ?"; }</script><style>a::after { content: " : "; }</style>'
        "<pre>a : b</pre><code>c ; d</code><textarea>e ? f</textarea><!-- g : h -->"
    )


def test_html_spaces_across_source_lines_and_tags():
    """A line break in the HTML source is a space to the browser, and a tag between a word and its
    colon or guillemet changes nothing: the space is replaced all the same."""
    assert french_html("<strong>Date</strong>\n  : jeudi") == f"<strong>Date</strong>{NBSP}: jeudi"
    assert french_html("Date <b>:</b> jeudi") == f"Date{NBSP}<b>:</b> jeudi"
    assert french_html("Question <b>?</b>") == f"Question{NNBSP}<b>?</b>"
    assert french_html("«<em> titre </em>»") == f"«{NNBSP}<em>titre</em>{NNBSP}»"


def test_ordinals_get_a_superscript_in_html_only():
    """1er, 1re, 2e in <sup> in a page; as written in plain text, and never in a <title> or <option>."""
    assert french_html("<p>le 1er juin, la 1re pièce, le 2e pôle</p>") == (
        "<p>le 1<sup>er</sup> juin, la 1<sup>re</sup> pièce, le 2<sup>e</sup> pôle</p>"
    )
    assert french_text("le 1er juin") == "le 1er juin"
    assert french_html("<title>Le 1er juin</title><option>2e choix</option>") == (
        "<title>Le 1er juin</title><option>2e choix</option>"
    )


@pytest.mark.parametrize("function", [french_text, french_html])
def test_typesetting_twice_changes_nothing(function):
    """Idempotent: a page typeset already (or twice, by a template including another) is stable."""
    source = f"<p>{SENTENCE} Le 1er juin, 05 16 52 64 56, 3 jours.</p>"
    once = function(source)
    assert function(once) == once


def test_page_text_check_finds_an_untypeset_page():
    """The helper the page tests rely on does see an ordinary space before a colon."""
    assert breakable_punctuation(page_text("<p>Date <b>:</b> jeudi</p>")) != []
    assert breakable_punctuation(page_text(french_html("<p>Date <b>:</b> jeudi</p>"))) == []


def test_plural():
    """« 1 problème », « 3 problèmes », French keeps the singular for 0."""
    assert plural(1, "problème") == "1 problème"
    assert plural(3, "problème") == "3 problèmes"
    assert plural(0, "problème") == "0 problème"
    assert plural(2, "travail", "travaux") == "2 travaux"


def test_a_typeset_block_is_passed_over_and_the_rest_still_typeset() -> None:
    """A block marked as already typeset is left exactly as it is; the text around it is not."""
    from formservice.typography import french_html, typeset_block

    block = typeset_block("<td>déjà : fait</td>")
    page = french_html(f"<p>Avant : {block} après !</p>")
    assert "<td>déjà : fait</td>" in page  # untouched: its maker typeset it
    assert "Avant\u00a0:" in page and "après\u202f!" in page
