"""Requests every chat template accepts.

OpenAI takes any order of messages, but the chat templates of many open models (Mistral's
and Gemma's, as vLLM or TGI serve them) take one optional leading system message, then
user and assistant turns alternating, starting with a user turn, and answer anything
else with a 400.  A request here always has that shape:

- exactly one system message, first;
- consecutive messages of people (a channel thread, an imported thread) are one user turn,
  each keeping its speaker header; consecutive answers of the bot are one assistant turn;
- a tool round is an assistant turn with its calls followed by its tool results (a result
  whose call the window cut off is left out), and an answer follows it before the next
  user turn;
- the note about the latest message (the date, who is speaking) closes the latest user turn,
  as a ``<context>…</context>`` line no person's text can forge (bot/llm/speakers.py defuses
  it): everything before it is the same bytes as in the previous request, whose latest
  message it follows, so the provider's prompt cache keeps the whole history.
"""

from __future__ import annotations

from typing import Any, Iterable

from bot.llm.speakers import clean_name

OPENING = "[Earlier in this conversation]"  # a user turn before a conversation that starts with the bot
UNFINISHED = "[This answer was not finished.]"  # an answer that stopped after its tool round
NO_RESULT = "[No result.]"  # a call whose result was never stored


def context_note(date: str, user_name: str) -> str:
    """The note about the latest message, as every request (the bot's, the evals') carries it."""
    return f"Today is {date}. The latest message is from {clean_name(user_name)}."


def note_line(note: str) -> str:
    """The note as it closes the latest user turn."""
    return f"\n\n<context>{note}</context>"


def chat_request(system_prompt: str, turns: Iterable[dict[str, Any]], note: str = "", knowledge: str = ""
                 ) -> list[dict[str, Any]]:
    """The chat-completions ``messages``: ``system_prompt``, then ``turns`` (chat messages of
    the roles user, assistant and tool) in the shape above, with ``knowledge`` (team knowledge's
    passages for this question) and ``note`` closing the latest user turn."""
    messages = [turn for turn in turns if turn.get("role") != "system"]
    if note or knowledge:
        _add_note(messages, note, knowledge)
    request: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    for message in messages:
        _append(request, message)
    return request


def _add_note(messages: list[dict[str, Any]], note: str, knowledge: str = "") -> None:
    """The passages and the note close the latest user turn (a new message: the callers' turns are never changed)."""
    ending = ("\n\n" + knowledge if knowledge else "") + (note_line(note) if note else "")
    for n in range(len(messages) - 1, -1, -1):
        if messages[n].get("role") == "user":
            messages[n] = {**messages[n], "content": _joined(messages[n].get("content") or "", ending, separator="")}
            return


def _append(request: list[dict[str, Any]], message: dict[str, Any]) -> None:
    role = message.get("role")
    if role != "tool":  # a round whose results were never stored (the process stopped)
        request += [{"role": "tool", "tool_call_id": call_id, "content": NO_RESULT} for call_id in
                    _open_calls(request)]
    last = request[-1]
    if role == "user":
        if last["role"] == "user":
            request[-1] = {**last, "content": _joined(last["content"], message.get("content") or "")}
            return
        if last["role"] == "tool":  # a tool round with no answer after it
            request.append({"role": "assistant", "content": UNFINISHED})
    elif role == "tool":
        if message.get("tool_call_id") not in _open_calls(request):  # its call was cut off by the window
            return
    elif role == "assistant":
        if last["role"] == "system":  # the conversation starts with the bot's message
            request.append({"role": "user", "content": OPENING})
        elif last["role"] == "assistant" and not last.get("tool_calls"):  # the bot's messages one after another
            content = _joined(last.get("content") or "", message.get("content") or "")
            request[-1] = {**message, "content": content or None} if message.get("tool_calls") else {**last, "content": content}
            return
    request.append(message)


def _open_calls(request: list[dict[str, Any]]) -> list[Any]:
    """The ids of the latest tool round's calls still waiting for their results, in order."""
    answered: set[Any] = set()
    for message in reversed(request):
        if message["role"] == "tool":
            answered.add(message.get("tool_call_id"))
        elif message["role"] == "assistant" and message.get("tool_calls"):
            return [call.get("id") for call in message["tool_calls"] if call.get("id") not in answered]
        else:
            break
    return []


def _joined(first: Any, second: Any, separator: str = "\n\n") -> Any:
    """Two message contents as one: text joined, or the parts of both (text and images)."""
    if isinstance(first, str) and isinstance(second, str):
        if not first or not second:
            return first + second
        return first + separator + second
    return [*_parts(first), *_parts(second)]


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)
