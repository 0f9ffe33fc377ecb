"""Generate formservice/data/common-passwords.txt from well-known patterns (no download).

Only passwords of 12 characters or more matter (shorter ones are refused anyway), so the list is
the long forms people build from a common word: a word repeated, a word plus a year, a keyboard
walk plus digits. Run: python scripts/make_common_passwords.py
"""

from __future__ import annotations

from pathlib import Path

WORDS = """
password motdepasse azerty qwerty qwertz soleil bonjour doudou chouchou loulou marseille paris
poitiers niort rochelle angouleme football iloveyou jetaime coucou bienvenue welcome princesse
admin administrateur dragon monkey sunshine letmein baseball superman batman pokemon chocolat
maison vacances liberte france examen candidat inscription academie rectorat cyclades education
nicolas julien camille thomas lucas antoine alexandre maxime kevin sebastien guillaume romain
sophie marie julie laura pauline manon sarah emma lea chloe ines louise jade alice clement
olivier pierre jean michel philippe isabelle nathalie sandrine valerie stephanie celine aurelie
amour bisous bebe chaton minou titou nounours papillon tigrou caramel cookie biscuit vanille
fraise cerise pomme banane orange citron etoile lune ciel nuage arcenciel licorne sirene fee
olympique psg om lyon girondins barcelona realmadrid liverpool chelsea arsenal juventus milan
master shadow killer hunter ranger soccer hockey tennis rugby basket cyclisme moto voiture
ferrari porsche mercedes renault peugeot citroen yamaha honda harley
secret secure trustno1 whatever freedom starwars matrix naruto onepiece minecraft fortnite
roblox zelda mario sonic pikachu charlie buster tigger pepper ginger daisy bailey max rocky
azertyuiop qwertyuiop asdfghjkl wxcvbn aqwzsx zsedc poiuytreza mlkjhgfdsq abcdef abcdefgh
abcdefghij abc azer qsdf qwer asdf zxcv
bienvenu salut hello hello123 test testtest demo utilisateur user utilisateur compte
boulanger coiffure cuisinier electricien sommelier traiteur patissier banque
ordinateur internet portable telephone samsung iphone apple google facebook instagram
""".split()  # noqa: SIM905 (easier to edit as text)

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "!",
    "!!",
    "1!",
    "12!",
    "123!",
    "1234!",
    "?",
    ".",
    "*",
    "01",
    "007",
    "69",
    "13",
    "17",
    "79",
    "86",
    "16",
    "2000",
    "@",
    "@123",
    "#1",
    "_123",
    "0",
    "00",
    "000",
    "11",
    "22",
    "99",
]
SUFFIXES += [str(y) for y in range(1960, 2031)]
SUFFIXES += [f"{y}!" for y in range(2015, 2031)] + [f"@{y}" for y in range(2015, 2031)]

WALKS = [
    "1234567890",
    "0987654321",
    "123456789012",
    "1234567890123",
    "12345678910",
    "123123123123",
    "1qaz2wsx3edc",
    "1q2w3e4r5t6y",
    "1a2z3e4r5t6y",
    "a1z2e3r4t5y6",
    "azertyuiopqsdfghjklm",
    "qwertyuiopasdfghjkl",
    "azertyuiop123",
    "qwertyuiop123",
    "aqwzsxedcrfv",
    "azeqsdwxc123",
    "147258369147",
    "159753159753",
    "789456123789",
    "741852963741",
    "963852741963",
    "abcdefghijkl",
    "abcdefghijklm",
    "abcdefghijklmnop",
    "abcd1234abcd",
    "abc123abc123",
    "azerty123456",
    "qwerty123456",
    "azertyazerty",
    "qwertyqwerty",
    "motdepasse123",
    "passw0rdpassw0rd",
    "p@ssw0rd1234",
    "p@ssword1234",
    "m0tdepasse123",
    "m0td3p4ss3",
]


def generate() -> list[str]:
    found: set[str] = set(WALKS)
    for word in WORDS:
        found.add(word * 2)
        found.add(word * 3)
        for suffix in SUFFIXES:
            found.add(word + suffix)
    for digit in "0123456789":
        for n in range(12, 17):
            found.add(digit * n)
    for y in range(1950, 2031):
        found.add(f"{y}{y}{y}")
    return sorted(p for p in found if len(p) >= 12)


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "formservice" / "data" / "common-passwords.txt"
    words = generate()
    header = "# Mots de passe courants (12 caractères ou plus) : scripts/make_common_passwords.py\n"
    out.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} mots de passe écrits dans {out}")


if __name__ == "__main__":
    main()
