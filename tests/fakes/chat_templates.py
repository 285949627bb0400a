"""Strict chat templates: the rules open models' templates enforce, written from Mistral's
(Mistral-7B-Instruct-v0.3, with tool calls) and Gemma's (gemma-2/3 instruct) published
templates, rendered the way ``transformers`` and vLLM render them (jinja2's immutable
sandbox, ``raise_exception``).  The fake model renders every request through them and
answers a request they refuse with a 400, as vLLM does.

Beyond what the published templates check by accident of their loops, these say it
outright: one optional system message, first; then user and assistant turns
alternating, starting with a user turn; a tool round is an assistant turn with its calls
followed by one result per call; the request ends with a user turn or tool results.
"""

from __future__ import annotations

from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Mistral-7B-Instruct-v0.3's template, its tool-call id length check left out (ids are the
# server's own), content parts read as text, and the ordering rules for tool rounds added.
MISTRAL = """
{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}
{%- set ns = namespace(index=0, open_calls=[], last="") %}
{%- for message in loop_messages %}
    {%- if message.role == "tool" %}
        {%- if message.tool_call_id not in ns.open_calls %}
            {{- raise_exception("A tool result must follow the assistant turn that called it (" ~ message.tool_call_id ~ ")") }}
        {%- endif %}
        {%- set ns.open_calls = ns.open_calls | reject("equalto", message.tool_call_id) | list %}
    {%- else %}
        {%- if ns.open_calls %}
            {{- raise_exception("Every tool call needs its result before the next turn") }}
        {%- endif %}
        {%- if message.tool_calls is defined and message.tool_calls %}
            {%- if ns.last != "user" and ns.last != "tool" %}
                {{- raise_exception("Tool calls must answer a user turn or tool results") }}
            {%- endif %}
            {%- set ns.open_calls = message.tool_calls | map(attribute="id") | list %}
        {%- else %}
            {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
                {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
            {%- endif %}
            {%- if message["role"] == "user" and ns.last == "tool" %}
                {{- raise_exception("After tool results the assistant answers before the next user turn") }}
            {%- endif %}
            {%- set ns.index = ns.index + 1 %}
        {%- endif %}
    {%- endif %}
    {%- set ns.last = "tool" if message.role == "tool" else message.role %}
{%- endfor %}
{%- if ns.open_calls %}
    {{- raise_exception("Every tool call needs its result") }}
{%- endif %}
{%- if ns.last != "user" and ns.last != "tool" %}
    {{- raise_exception("The request must end with a user turn or tool results") }}
{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] | as_text + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] | as_text + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls %}
        {{- "[TOOL_CALLS] " + message.tool_calls | map(attribute="function") | list | tojson + eos_token }}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"] | as_text | trim + eos_token }}
    {%- elif message["role"] == "tool" %}
        {{- '[TOOL_RESULTS] {"content": ' + message.content | as_text | tojson + ', "call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# Gemma's template: no system role of its own (the system message opens the first user
# turn), roles strictly alternating, no tools.
GEMMA = """
{{- bos_token }}
{%- if messages[0]["role"] == "system" %}
    {%- set first_user_prefix = messages[0]["content"] | as_text + "\\n\\n" %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set first_user_prefix = "" %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- for message in loop_messages %}
    {%- if (message["role"] == "user") != (loop.index0 % 2 == 0) %}
        {{- raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif %}
    {%- if message["role"] == "assistant" %}
        {%- set role = "model" %}
    {%- elif message["role"] == "user" %}
        {%- set role = "user" %}
    {%- else %}
        {{- raise_exception("Gemma has no role " ~ message["role"]) }}
    {%- endif %}
    {{- "<start_of_turn>" + role + "\\n" + (first_user_prefix if loop.first else "") }}
    {{- message["content"] | as_text | trim }}
    {{- "<end_of_turn>\\n" }}
{%- endfor %}
{%- if loop_messages[-1]["role"] != "user" %}
    {{- raise_exception("The request must end with a user turn") }}
{%- endif %}
{{- "<start_of_turn>model\\n" }}
"""


def _raise(message: str) -> None:
    raise TemplateError(message)


def _as_text(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts (images as a marker)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if part.get("type") == "text" else "<image>" for part in content)
    raise TemplateError(f"content of an unexpected type: {type(content).__name__}")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.filters["as_text"] = _as_text
    return env


_ENV = _environment()
TEMPLATES = {"mistral": _ENV.from_string(MISTRAL), "gemma": _ENV.from_string(GEMMA)}


def rendered(name: str, messages: list[dict[str, Any]]) -> str:
    """``messages`` through template ``name``; raises TemplateError where the template refuses them."""
    if not messages:
        raise TemplateError("no messages")
    systems = [n for n, m in enumerate(messages) if m.get("role") == "system"]
    if systems and systems != [0]:
        raise TemplateError("One system message, and only as the first message")
    return TEMPLATES[name].render(messages=messages, bos_token="<s>", eos_token="</s>")


def refusal(body: dict[str, Any]) -> str | None:
    """Why a strict template refuses this chat-completions request, or None: Mistral's for
    every request, Gemma's for every request without tools."""
    messages = body.get("messages") or []
    names = ["mistral"] if body.get("tools") or any(m.get("role") == "tool" for m in messages) else ["mistral", "gemma"]
    for name in names:
        try:
            rendered(name, messages)
        except TemplateError as exc:
            return f"{name}: {exc}"
    return None
