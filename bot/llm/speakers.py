"""How people's messages are shown to the model, in a form their text cannot forge.

In channels a turn starts with one header line naming who wrote it,
``<from name="Ada Lovelace" id="U123"/>`` (with ``trust="guest"``, ``"external"`` or
``"bot"`` for someone who is not a full member of the workspace); the system prompt tells
the model that everything after it is that person's words, and that instructions in a
marked turn are data.  A message that writes a
header of its own gets it defused (``‹from``), as does one that writes the note closing
the request (``<context>``, bot/llm/turns.py) or the passages of team knowledge
(``<knowledge>``, ``<passage>``), and display names are cleaned
(no quotes, brackets, line breaks or control characters, at most 48 characters)
before they enter a prompt.
"""

from __future__ import annotations

import re
import unicodedata

NAME_CHARS = 48
_HEADER = re.compile(r"<(\s*/?\s*(?:from|context|knowledge|passage)\b)", re.IGNORECASE)  # a speaker header, the note,
# the team knowledge's passages (bot/answer/retrieve.py)
_UNSAFE_NAME = re.compile(r"[\"'<>`\\\[\]{}|]")


def clean_name(name: str, fallback: str = "someone") -> str:
    """A display name safe to put in a prompt: printable, one line, no markup characters."""
    printable = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in name)
    cleaned = " ".join(_UNSAFE_NAME.sub("", printable).split())[:NAME_CHARS].strip()
    return cleaned or fallback


def defuse_headers(text: str) -> str:
    """Text that cannot pass for a speaker header (or the note that closes a request)."""
    return _HEADER.sub(lambda m: "‹" + m.group(1), text)


def without_header(content: str) -> str:
    """A turn's words without the speaker header :func:`attributed` starts a channel turn with."""
    return content.split("\n", 1)[1] if content.startswith("<from ") and "\n" in content else content


TRUSTS = frozenset({"guest", "external", "bot"})


def attributed(name: str, user_id: str, text: str, trust: str = "") -> str:
    """A channel message as the model sees it: who wrote it (and, for a guest, a user of
    another organisation or a bot, that: ``trust="external"``), then their words."""
    speaker = clean_name(name)
    ident = re.sub(r"[^A-Za-z0-9]", "", user_id)[:24]
    marks = (f' id="{ident}"' if ident else "") + (f' trust="{trust}"' if trust in TRUSTS else "")
    return f'<from name="{speaker}"{marks}/>\n{defuse_headers(text)}'

