"""Finding secrets and personal data (pure), and the placeholders that replace them."""

from __future__ import annotations

import pytest

from bot.guardrails.detectors import find, finders
from bot.guardrails.redaction import Redactor
from bot.memory.conversation import StoredMessage
from bot.workspaces.sealing import new_key

BOTH = finders(["secrets", "pii"], "US")

FOUND = [
    ("secret", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "ghp_" + "a1B2" * 9),
    ("secret", "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx"),
    ("secret", "sk-proj-" + "Ab3" * 15),
    ("secret", "sk-ant-api03-" + "Xy9_" * 10),
    ("secret", "AIza" + "B" * 35),
    ("secret", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("secret", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ("email", "first.last+tag@mail.example.co.uk"),
    ("phone", "+1 415 555 2671"),
    ("phone", "(415) 555-2671"),
    ("card", "4111 1111 1111 1111"),
    ("card", "5500-0000-0000-0004"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82WEST12345698765432"),
]


@pytest.mark.parametrize("kind,value", FOUND)
def test_each_kind_is_found_whole_in_a_sentence(kind, value):
    text = f"Please check {value} for me."
    [finding] = find(text, BOTH)
    assert (finding.kind, text[finding.start:finding.end]) == (kind, value)


def test_only_the_password_of_a_url_and_a_whole_private_key_block():
    text = "db is postgres://admin:hunter2secret@db.internal:5432/app ok"
    [finding] = find(text, BOTH)
    assert text[finding.start:finding.end] == "hunter2secret"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nxyz\n-----END RSA PRIVATE KEY-----"
    [block] = find(f"here:\n{key}\nthanks", BOTH)
    assert f"here:\n{key}\nthanks"[block.start:block.end] == key


ORDINARY = [
    "Released 2026-12-05 at 10:30, version 3.11.7, see ticket 1234567 and PR #8812.",
    "The build took 12 minutes on 12/05/2026; error code 0x80070005; order A-1 shipped.",
    "Slack ts 1733390000.123456 in thread 1733390011.000200, port 5432, 99.9% uptime.",
    "Visit https://example.com/docs?page=2 and mail-merge the list of 250 names.",
    "The invoice total is 1,234,567.89 EUR and the amount 4111 is a card's first digits.",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_prose_numbers_and_ids_are_left_alone(text):
    assert find(text, BOTH) == []


def test_a_conversation_numbers_values_once_and_with_a_key_restores_them_only_there():
    redactor = Redactor(["secrets", "pii"], keys=[new_key()])
    first = redactor.session()
    assert first.text("mail a@example.com, b@example.com, then a@example.com") == \
        "mail [email 1], [email 2], then [email 1]"
    stored = redactor.sealed(first)
    assert "a@example.com" not in stored and stored.startswith("fernet:")
    later = redactor.session(stored)
    assert later.text("is b@example.com right? and c@example.com?") == "is [email 2] right? and [email 3]?"
    assert later.restore("Wrote to [email 2] and [email 3], not [email 9] or [phone 1].") == \
        "Wrote to b@example.com and c@example.com, not [email 9] or [phone 1]."
    other = redactor.session()  # another conversation knows none of them
    assert other.restore("[email 1]") == "[email 1]"


def test_without_a_key_only_counts_are_kept_and_nothing_is_restored():
    redactor = Redactor(["pii"])
    first = redactor.session()
    first.text("a@example.com")
    stored = redactor.sealed(first)
    assert stored == '{"n":{"email":1}}'
    later = redactor.session(stored)
    assert later.text("a@example.com") == "[email 2]"  # not known again: a new number, never a clash
    assert later.restore("[email 2]") == "[email 2]"


def test_a_map_sealed_with_a_key_no_longer_set_starts_again():
    sealed = Redactor(["pii"], keys=[new_key()])
    state = sealed.sealed(sealed.session())
    assert Redactor(["pii"], keys=[new_key()]).session(state).counts == {}


def test_a_turn_is_recounted_only_when_it_changed():
    session = Redactor(["secrets"]).session()
    turn = StoredMessage("user", "nothing here", 5, ts="1.0", user="U1")
    assert session.turn(turn, len) is turn
    changed = session.turn(StoredMessage("user", "key AKIAIOSFODNN7EXAMPLE", 9, ts="1.0", user="U1"), len)
    assert changed.content == "key [secret 1]" and changed.tokens == len("key [secret 1]") and changed.ts == "1.0"
