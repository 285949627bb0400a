"""Benchmark: what the redaction stage (REDACT) costs one answer.

Run:  .venv/bin/python -m bench.bench_redaction [--turns 300]

A turn of exactly 2,000 tokens (the o200k encoding) is cut from the project's own docs
(prose with settings, numbers, dates, URLs and code), and a second one with a value of every
kind sprinkled in (keys, tokens, emails, phone numbers, cards, IBANs).  Per answer the stage
opens the conversation's stored placeholders, redacts the turn and seals the placeholders
again; that is what is timed, for REDACT=secrets (the default), secrets,pii, and each with
REDACTION_KEY (the map encrypted).  Pure CPU, no I/O.  Target: under 1 ms per 2,000-token turn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.guardrails.redaction import Redactor  # noqa: E402
from bot.tokens import TokenCounter  # noqa: E402
from bot.workspaces.sealing import new_key  # noqa: E402

VALUES = ["sk-proj-" + "Ab3" * 15, "AKIAIOSFODNN7EXAMPLE", "jane.doe@example.com", "+1 415 555 2671",
          "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "ghp_" + "a1B2" * 9, "postgres://u:hunter2x@db/app"]


def turns(counter: TokenCounter) -> dict[str, str]:
    docs = "\n\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
    tokens = counter.encoding.encode(docs, disallowed_special=())
    plain = counter.encoding.decode(tokens[:2000])
    words = plain.split(" ")
    step = len(words) // (len(VALUES) + 1)
    for n, value in enumerate(VALUES, start=1):
        words.insert(n * step, value)
    seeded = counter.encoding.decode(counter.encoding.encode(" ".join(words), disallowed_special=())[:2000])
    return {"docs": plain, "docs + 8 values": seeded}


def timed(redactor: Redactor, text: str, rounds: int) -> list[float]:
    stored = redactor.sealed(redactor.session())
    seconds = []
    for _ in range(rounds):
        began = time.perf_counter()
        session = redactor.session(stored)
        session.text(text)
        redactor.sealed(session)
        seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    counter = TokenCounter.for_model("gpt-4o-mini", Path(tempfile.gettempdir()) / "slack-assistant-test-tiktoken")
    texts = turns(counter)
    key = new_key()
    setups = {"secrets": Redactor(["secrets"]), "secrets,pii": Redactor(["secrets", "pii"]),
              "secrets + key": Redactor(["secrets"], keys=[key]), "secrets,pii + key": Redactor(["secrets", "pii"], keys=[key])}
    print(f"{'REDACT':20} {'turn (2,000 tokens)':18} {'found':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for name, redactor in setups.items():
        for label, text in texts.items():
            found = sum(redactor.session().text(text).count(f"[{kind} ") for kind in ("secret", "email", "phone", "card", "iban"))
            timed(redactor, text, 20)  # warm up (phonenumbers loads its metadata on first use)
            samples = sorted(timed(redactor, text, args.turns))
            p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99) - 1]
            print(f"{name:20} {label:18} {found:>6} {p50 * 1000:8.3f} {p99 * 1000:8.3f}")


if __name__ == "__main__":
    main()
