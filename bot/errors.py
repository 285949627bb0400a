"""The one error start-up raises: a human line saying what to fix."""

from __future__ import annotations


class StartupError(Exception):
    """The bot cannot start; the message is one human line."""
