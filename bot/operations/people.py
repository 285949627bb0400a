"""People's data on request: ``python -m bot export-user U…`` writes everything the bot keeps
about a person (their turns in every conversation, the ratings they gave, their usage) as
JSON; ``python -m bot forget-user U…`` deletes their turns and ratings everywhere and moves
their usage into an anonymous row (so totals still add up).  Both are audited.  The bot's own
answers stay (they are not the person's words); so does the audit log, which holds no text."""

from __future__ import annotations

import json
from typing import Any

from bot.memory.conversation import StoredMessage, as_text
from bot.memory.store import ConversationStore
from bot.slack.directory import USER_KEY

SCAN_COUNT = 1000
ANONYMOUS = "forgotten"  # the usage row a forgotten person's figures move to

# KEYS: a usage hash; ARGV: the person's field prefix ("user:U1:"), the anonymous prefix.
# Their counters are added to the anonymous row and removed, in one step.  Returns how many moved.
ANONYMISE_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
local moved = 0
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, string.len(ARGV[1])) == ARGV[1] then
    local counter = string.sub(name, string.len(ARGV[1]) + 1)
    redis.call('HINCRBY', KEYS[1], ARGV[2] .. counter, tonumber(fields[i + 1]))
    redis.call('HDEL', KEYS[1], name)
    moved = moved + 1
  end
end
return moved
"""


def conversation_of_key(key: str) -> str:
    """The conversation id inside a ``…:conv:{team:channel:thread}:messages`` key."""
    return key[key.index("{") + 1: key.rindex("}")]


class PeopleData:
    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self.redis = store.redis
        self.base = store.keys.base
        self._anonymise = store.redis.register_script(ANONYMISE_SCRIPT)

    async def _keys(self, pattern: str) -> list[str]:
        return sorted({as_text(key) async for key in self.redis.scan_iter(match=pattern, count=SCAN_COUNT)})

    async def _their_turns(self, user: str) -> list[tuple[str, str, StoredMessage]]:
        """(key, stored raw JSON, turn) of every turn ``user`` wrote."""
        found = []
        for key in await self._keys(f"{self.base}:conv:*:messages"):
            for raw in await self.redis.lrange(key, 0, -1):
                text = as_text(raw)
                [turn] = StoredMessage.many_from_json([text])
                if turn.user == user and turn.role == "user":
                    found.append((key, text, turn))
        return found

    async def _their_ratings(self, user: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for key in await self._keys(self.store.keys.feedback_pattern()):
            raw = await self.redis.get(key)
            entry = json.loads(raw) if raw is not None else None
            if isinstance(entry, dict) and entry.get("rated_by") == user:
                found.append((key, entry))
        return found

    async def _usage_keys(self) -> list[str]:
        return await self._keys(f"{self.base}:usage:*")

    async def export(self, user: str) -> dict[str, Any]:
        """Everything kept about ``user``."""
        turns = [{"conversation": conversation_of_key(key), "ts": turn.ts, "text": turn.content}
                 for key, _, turn in await self._their_turns(user)]
        ratings = [{k: v for k, v in entry.items()} for _, entry in await self._their_ratings(user)]
        usage: dict[str, dict[str, dict[str, int]]] = {}  # workspace -> day or month -> counter -> value
        mine = f"user:{user}:"
        for key in await self._usage_keys():
            fields = {as_text(k): int(as_text(v)) for k, v in (await self.redis.hgetall(key)).items()
                      if as_text(k).startswith(mine)}
            if fields:
                team, period = key.split("{", 1)[1].split("}", 1)[0], key.rsplit(":", 1)[-1]
                usage.setdefault(team, {})[period] = {name.removeprefix(mine): value for name, value in sorted(fields.items())}
        return {"user": user, "turns": turns, "ratings": ratings, "usage": usage}

    async def forget(self, user: str) -> dict[str, int]:
        """Delete ``user``'s turns and ratings; anonymise their usage.  Returns what was done."""
        turns = await self._their_turns(user)
        for key, raw, _ in turns:
            await self.redis.lrem(key, 0, raw)
        ratings = await self._their_ratings(user)
        for key, _ in ratings:
            await self.redis.delete(key)
        moved = 0
        for key in await self._usage_keys():
            moved += int(await self._anonymise(keys=[key], args=[f"user:{user}:", f"user:{ANONYMOUS}:"]))
        names = await self._keys(f"{self.base}:name:*:{USER_KEY}{user}")
        for key in names:
            await self.redis.delete(key)
        return {"turns": len(turns), "ratings": len(ratings), "usage_fields": moved, "names": len(names)}
