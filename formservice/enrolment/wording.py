"""French wording around the candidate's own words: what a template cannot get right by itself.

Pure: « l'inscription d'Anaïs Martin » but « de Zoé Lefèvre », whatever name the form holds.
"""

from __future__ import annotations

VOWELS = frozenset("aàâäeéèêëiîïoôöuùûüyÿœæ")
# Words of names or places whose h is aspirated: « de Hugues », « de Hollande »; any other h is
# taken as mute (« d'Hélène », « d'Hervé »), which is the common case for first names.
H_ASPIRATED = frozenset({"hugues", "hollande", "hongrie", "honduras", "hambourg"})


def de(words: str) -> str:
    """« de » before ``words``, elided before a vowel or a mute h: « d'Anaïs », « d'Yves »,
    « d'Hélène », but « de Zoé », « de Yasmine » (a y before a vowel is a consonant), « de
    Hugues »."""
    text = " ".join(words.split())
    first_word = text.split(" ", 1)[0].casefold()
    initial, second = first_word[:1], first_word[1:2]
    if initial == "y":
        elide = bool(second) and second not in VOWELS
    elif initial == "h":
        elide = first_word.rstrip(",.") not in H_ASPIRATED
    else:
        elide = initial in VOWELS
    return ("d'" if elide else "de ") + text
