"""The audit log: who changed what, and what tools did for whom.  Every admin and settings
action (persona, channel settings, reset, schedules, exports, installs and uninstalls), every
tool approval and tool call (the tool, its server, the asker, a hash of its arguments, the
outcome) goes to one Redis stream, kept AUDIT_RETENTION_DAYS (entries older are trimmed as new
ones are added).  Never message text: ids, names of settings and tools, checksums, outcomes.
``python -m bot audit`` reads it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.memory.conversation import Keys, as_text

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
READ_PAGE = 1000


def arguments_hash(arguments: Mapping[str, Any]) -> str:
    """A tool call's arguments as a checksum: the same call is recognisable, its content is not kept."""
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str
    team: str
    user: str
    details: dict[str, str]

    def line(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in sorted(self.details.items()))
        return f"{self.at:%Y-%m-%d %H:%M:%S}  {self.team or '-'}  {self.user or '-'}  {self.action}  {details}".rstrip()

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), "action": self.action, "team": self.team, "user": self.user,
                **self.details}


class AuditLog:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, retention_days: int = 90) -> None:
        self.redis = redis
        self.key = f"{keys.base}:{{audit}}:log"
        self.retention_ms = retention_days * DAY_MS

    def _fields(self, action: str, team: str, user: str, details: Mapping[str, Any]) -> dict[str, str]:
        return {"action": action, "team": team, "user": user,
                **{key: str(value) for key, value in details.items() if value is not None}}

    def record_in(self, batch: Any, action: str, *, team: str = "", user: str = "", **details: Any) -> None:
        """Add one entry to ``batch`` (written with an answer's commit)."""
        oldest = int(time.time() * 1000) - self.retention_ms
        fields = self._fields(action, team, user, details)
        batch.command("XADD", self.key, "MINID", "~", oldest, "*", *(part for pair in fields.items() for part in pair))

    async def record(self, action: str, *, team: str = "", user: str = "", **details: Any) -> None:
        """Add one entry (never raises: an audit write that fails is logged, the action stands)."""
        fields = self._fields(action, team, user, details)
        oldest = int(time.time() * 1000) - self.retention_ms
        try:
            await self.redis.xadd(self.key, fields, minid=oldest, approximate=True)
        except (RedisError, OSError) as exc:
            log.error("audit entry %s not written: %s", action, type(exc).__name__)

    async def read(self, *, since: datetime | None = None, user: str | None = None,
                   action: str | None = None) -> list[AuditEntry]:
        start = f"{int(since.timestamp() * 1000)}-0" if since is not None else "-"
        found: list[AuditEntry] = []
        while True:
            page = await self.redis.xrange(self.key, min=start, max="+", count=READ_PAGE)
            for entry_id, raw in page:
                entry = _entry(as_text(entry_id), raw)
                if (user is None or entry.user == user) and (action is None or entry.action.startswith(action)):
                    found.append(entry)
            if len(page) < READ_PAGE:
                return found
            start = "(" + as_text(page[-1][0])


def _entry(entry_id: str, raw: Mapping[Any, Any]) -> AuditEntry:
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    at = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, tz=timezone.utc)
    return AuditEntry(at, fields.pop("action", ""), fields.pop("team", ""), fields.pop("user", ""), fields)
