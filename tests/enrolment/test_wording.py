"""« de » or « d' » before a candidate's name, as a French reader expects it."""

from __future__ import annotations

import pytest

from formservice.enrolment.wording import de


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("Anaïs Martin", "d'Anaïs Martin"),
        ("Élodie Roux", "d'Élodie Roux"),
        ("Œdipe", "d'Œdipe"),
        ("Yves Bernard", "d'Yves Bernard"),
        ("Hélène Petit", "d'Hélène Petit"),
        ("Zoé Lefèvre", "de Zoé Lefèvre"),
        ("Yasmine Diallo", "de Yasmine Diallo"),
        ("Hugues Martin", "de Hugues Martin"),
        ("  Inès   Durand ", "d'Inès Durand"),
    ],
)
def test_de_elides_before_a_vowel_or_a_mute_h(name: str, said: str) -> None:
    """« l'inscription d'Anaïs », never « de Anaïs »; « de Zoé », « de Yasmine », « de Hugues »."""
    assert de(name) == said
