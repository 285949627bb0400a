"""Finding secrets and personal data in text (pure): where each value is and what kind it is.

Secrets come from detect-secrets' own detectors (API keys and tokens of the common
providers, private keys, passwords in URLs, JWTs) plus a few key shapes it does not know;
personal data from ``phonenumbers`` (phone numbers), ``python-stdnum`` (payment cards by
their Luhn check, IBANs by theirs) and one pattern for email addresses.  A cheap literal
check runs before each of detect-secrets' slower patterns, so a turn of ordinary prose
costs a fraction of a millisecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Pattern

import phonenumbers
from detect_secrets.plugins import (
    artifactory, aws, azure_storage_key, basic_auth, discord, github_token, gitlab_token, mailchimp, npm,
    openai, private_key, pypi_token, sendgrid, slack, square_oauth, stripe, telegram_token, twilio,
)
from stdnum import iban, luhn



@dataclass(frozen=True)
class Finding:
    kind: str  # the placeholder's word: secret, email, phone, card, iban
    start: int
    end: int


Gate = Callable[[str], object]


def _literals(*words: str) -> Gate:
    return lambda text: any(word in text for word in words)


def _pattern(pattern: str) -> Gate:
    return re.compile(pattern).search  # begins with a literal: Python's re skips to it


# detect-secrets' detectors used (the keyword-based IBM, Cloudant and SoftLayer ones and the public-IP one are
# left out: slow on prose, and they flag ordinary words), each behind a check that is cheap on prose (a literal
# that every match holds, found with `in` or a pattern that starts with it; most text has none), and the group
# that is the secret where the match is wider.
_DETECTORS: tuple[tuple[type, Gate | None, int], ...] = (
    (artifactory.ArtifactoryDetector, _pattern(r"AKC[a-zA-Z0-9]{10}|AP[\dABCDEF][a-zA-Z0-9]{8}"), 0),
    (aws.AWSKeyDetector, _literals("A3T", "ABIA", "ACCA", "AKIA", "ASIA", "aws", "AWS", "Aws"), 1),
    (azure_storage_key.AzureStorageKeyDetector, None, 0),
    (basic_auth.BasicAuthDetector, _literals("://"), 1),
    (discord.DiscordBotTokenDetector, _pattern(r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}"), 0),
    (github_token.GitHubTokenDetector, None, 0),
    (gitlab_token.GitLabTokenDetector, None, 0),
    (mailchimp.MailchimpDetector, _pattern(r"-us[0-9]"), 0),
    (npm.NpmDetector, _literals("_authToken"), 1),
    (openai.OpenAIDetector, _literals("T3BlbkFJ"), 0),
    (private_key.PrivateKeyDetector, _literals("PRIVATE KEY", "PuTTY"), 0),
    (pypi_token.PypiTokenDetector, _literals("pypi-"), 0),
    (sendgrid.SendGridDetector, _literals("SG."), 0),
    (slack.SlackDetector, _literals("xox", "hooks.slack"), 0),
    (square_oauth.SquareOAuthDetector, _literals("sq0csp-"), 0),
    (stripe.StripeDetector, _literals("k_live_"), 0),
    (telegram_token.TelegramBotTokenDetector, _pattern(r":[0-9A-Za-z_-]{35}"), 0),
    (twilio.TwilioKeyDetector, _pattern(r"AC[a-z0-9]{32}|SK[a-z0-9]{32}"), 0),
)
# Shapes detect-secrets does not know (its JWT pattern stops short of the signature), each behind its literal.
_OWN_SECRETS = (
    ("sk-", re.compile(r"(?<![\w-])sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}")),
    ("AIza", re.compile(r"AIza[0-9A-Za-z_\-]{35}(?![\w-])")),
    ("eyJ", re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*")),
    ("earer", re.compile(r"[Bb]earer\s+([A-Za-z0-9_\-\.=]{20,})")),
)
_KEY_BLOCK = re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\n\s*\n|\Z)",
                        re.DOTALL)
_EDGES = " \t\r\n=:\"'`<>|"

_LOCAL_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*$")  # before an "@" (searched in the 64 characters before it)
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")
_NUMBER = re.compile(r"\d[\d ().\-]{5,22}\d")  # its edges are checked apart: a lookbehind first is 3x slower
_CARD_SHAPE = re.compile(r"\d(?:[ -]?\d){12,18}")
_DATE = re.compile(r"\d{4}-\d\d?-\d\d?|\d\d?[./-]\d\d?[./-]\d{2,4}")
_IBAN = re.compile(r"[A-Z][A-Z]\d\d(?: ?[A-Z0-9]){11,30}")


def _patterns() -> list[tuple[Pattern[str], Gate | None, int]]:
    found = []
    for detector, gate, group in _DETECTORS:
        for pattern in detector().denylist:
            found.append((pattern, gate, group if pattern.groups >= group else 0))
    return found


_SECRET_PATTERNS = _patterns()


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGES:
        start += 1
    while end > start and text[end - 1] in _EDGES:
        end -= 1
    return start, end


def secrets(text: str) -> Iterable[Finding]:
    for block in _KEY_BLOCK.finditer(text) if "PRIVATE KEY" in text else ():
        yield Finding("secret", block.start(), block.end())
    for pattern, gate, group in _SECRET_PATTERNS:
        if gate is not None and not gate(text):
            continue
        for match in pattern.finditer(text):
            start, end = match.span(group) if group and match.group(group) else match.span()
            start, end = _trimmed(text, start, end)
            if end - start >= 8:
                yield Finding("secret", start, end)
    for gate, pattern in _OWN_SECRETS:
        for match in pattern.finditer(text) if gate in text else ():
            yield Finding("secret", *match.span(pattern.groups and 1))


def emails(text: str) -> Iterable[Finding]:
    at = text.find("@")
    while at > 0:
        local = _LOCAL_PART.search(text, max(0, at - 64), at)
        domain = _DOMAIN.match(text, at + 1)
        if local is not None and domain is not None and (local.start() == 0 or text[local.start() - 1] not in "+-."):
            yield Finding("email", local.start(), domain.end())
            at = domain.end()
        at = text.find("@", at + 1)


def _alone(text: str, start: int, end: int, before: str, after: str) -> bool:
    """Whether text[start:end] is not part of a longer word or number."""
    return (start == 0 or not (text[start - 1].isalnum() or text[start - 1] in before)) and \
        (end == len(text) or not (text[end].isalnum() or text[end] in after))


def ibans(text: str) -> Iterable[Finding]:
    for match in _IBAN.finditer(text):
        if _alone(text, match.start(), match.end(), "", "") and iban.is_valid(match.group()):
            yield Finding("iban", *match.span())


def numbers(region: str) -> Callable[[str], Iterable[Finding]]:
    """Payment card numbers (13 to 19 digits passing the Luhn check), else phone numbers valid
    for their country (``region``: the country of numbers written without one), in one scan."""
    def find(text: str) -> Iterable[Finding]:
        for match in _NUMBER.finditer(text):
            start, end = match.span()
            if start and text[start - 1] in "+(":
                start -= 1
            if not _alone(text, start, end, "_+.-", "_-"):
                continue
            candidate = text[start:end]
            digits = re.sub(r"\D", "", candidate)
            if len(digits) < 7 or _DATE.search(candidate):
                continue
            if 13 <= len(digits) <= 19 and _CARD_SHAPE.fullmatch(candidate) and luhn.is_valid(digits):
                yield Finding("card", start, end)
            elif _is_phone(candidate, region):
                yield Finding("phone", *_trimmed(text, start, end))
    return find


def _is_phone(candidate: str, region: str) -> bool:
    try:
        number = phonenumbers.parse("+" + candidate[2:] if candidate.startswith("00") else candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def finders(kinds: Iterable[str], phone_region: str = "US") -> list[Callable[[str], Iterable[Finding]]]:
    """The detectors for ``kinds`` (``secrets``, ``pii``), the most specific first."""
    chosen: list[Callable[[str], Iterable[Finding]]] = []
    if "secrets" in kinds:
        chosen.append(secrets)
    if "pii" in kinds:
        chosen += [emails, ibans, numbers(phone_region)]
    return chosen


def find(text: str, detectors: Iterable[Callable[[str], Iterable[Finding]]]) -> list[Finding]:
    """Every value found, in order, none overlapping (an earlier detector's finding wins, then the longer)."""
    taken: list[Finding] = []
    for detector in detectors:
        for finding in detector(text):
            if finding.end > finding.start and not any(
                    finding.start < other.end and other.start < finding.end for other in taken):
                taken.append(finding)
    return sorted(taken, key=lambda f: f.start)
