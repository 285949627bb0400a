"""Installations (bot and refresh tokens) encrypted at rest with Fernet (``cryptography``).

TOKEN_ENCRYPTION_KEY holds one or more comma-separated Fernet keys: the first encrypts,
every one decrypts, so a key is rotated by putting a new one first and dropping the old
one once every installation has been written again (each is, when it is next read).
``python -m bot keygen`` prints a new key.
"""

from __future__ import annotations

from typing import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"
KEYGEN_HINT = "make one with `python -m bot keygen`"


class SealError(Exception):
    """A sealed value none of the keys opens."""


def parse_keys(text: str) -> list[str]:
    """The comma-separated keys; raises ValueError naming what is wrong."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError(f"no key: {KEYGEN_HINT}")
    for n, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(f"key {n} is not a Fernet key (32 url-safe base64-encoded bytes): {KEYGEN_HINT}") from None
    return keys


class Sealer:
    def __init__(self, keys: Sequence[str]) -> None:
        self.primary = Fernet(keys[0])
        self.all = MultiFernet([Fernet(key) for key in keys])

    def seal(self, text: str) -> str:
        return PREFIX + self.primary.encrypt(text.encode()).decode()

    def open(self, raw: str) -> tuple[str, bool]:
        """The plain text, and whether it should be sealed again (written in plain text
        before encryption, or with a key that is not the first).  Raises SealError."""
        if not raw.startswith(PREFIX):
            return raw, True
        token = raw[len(PREFIX):].encode()
        try:
            return self.primary.decrypt(token).decode(), False
        except InvalidToken:
            pass
        try:
            return self.all.decrypt(token).decode(), True
        except InvalidToken:
            raise SealError("none of TOKEN_ENCRYPTION_KEY's keys opens it") from None


def sealed_with(sealer: Sealer | None, text: str) -> str:
    """``text`` sealed when there is a sealer (REDACTION_KEY), else as it is."""
    return sealer.seal(text) if sealer is not None else text


def opened_with(sealer: Sealer | None, raw: str) -> str:
    """``raw`` opened when there is a sealer; "" when none of its keys opens it."""
    if sealer is None:
        return raw
    try:
        return sealer.open(raw)[0]
    except SealError:
        return ""


def new_key() -> str:
    return Fernet.generate_key().decode()
