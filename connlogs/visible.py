"""Text from agents and browsers as a page shows it: every character visible.

A disconnect reason ``session closed by \\u202enimda\\u202c ok`` renders as "session closed
by admin ok": a right-to-left override reverses what follows it, and format characters
(zero-width spaces and joiners, the byte-order mark, soft hyphens, ...) are not drawn at
all. On a page, each such character is written as its code point, ``⟨U+202E⟩``, so what is
read is what was recorded. The API and the exports keep the raw value; the pages (list,
tooltips, detail, admin) pass agent-supplied text through ``visible_text`` (the ``visible``
template filter).

Shown as code points: Unicode's format characters (category Cf: U+00AD, U+061C, U+180E,
U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FEFF, ...), control
characters (Cc: C0, DEL and C1) except tab and line feed, the line and paragraph separators
(Zl, Zp, which break a line in a one-line cell), lone surrogates (Cs) and code points that
Unicode does not assign (Cn), which a font draws as nothing or as a box that says nothing.
"""

from __future__ import annotations

import unicodedata

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
# Kept as they are: the pages lay them out (pre-wrap) and they hide nothing.
KEPT = frozenset("\t\n")


def _shown(char: str) -> str:
    if char in KEPT or unicodedata.category(char) not in HIDDEN_CATEGORIES:
        return char
    return f"⟨U+{ord(char):04X}⟩"


def visible_text(value) -> str:
    """``value`` as text with each hidden character written as ``⟨U+XXXX⟩``.

    ``None`` is ``""``; anything else is ``str(value)`` first. The result is plain text
    (the template still escapes it).
    """
    if value is None:
        return ""
    text = str(value)
    # Every hidden category is non-printable to Python: most text takes this C-speed exit.
    if text.isprintable():
        return text
    return "".join(map(_shown, text))
