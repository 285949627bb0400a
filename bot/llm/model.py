"""The foundation model, behind one small streaming interface.

Any OpenAI-compatible chat-completions server works (OpenAI, Azure OpenAI,
vLLM, Ollama, LiteLLM).  The SDK retries 408/409/429/5xx and connection errors
itself; we add a total deadline and an idle timeout between chunks, since a
stalled stream never raises on its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

import openai
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient
from openai.types.chat import ChatCompletion

from bot.llm.breaker import CircuitBreaker
from bot.llm.calls import ToolCall
from bot.llm.errors import ModelError
from bot.llm.fallback import with_fallbacks
from bot.llm.routes import Routes

log = logging.getLogger(__name__)

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class ModelOptions:
    """Per-request overrides (a prompt file's model, temperature, output limit)."""

    model: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    cache_key: str | None = None  # ``prompt_cache_key``: requests sharing a prefix go where it is cached
    tools: tuple[dict[str, Any], ...] = ()  # function definitions the model may call
    tool_choice: str | None = None  # "none": answer in text even though tools were used before


@dataclass
class ModelReply:
    """Filled while a reply streams: the text so far, the tool calls asked for and, at the end, the usage."""

    text: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    calls: dict[int, dict[str, str]] = field(default_factory=dict)  # by index, as the deltas build them
    answer_from: int = 0  # where in ``text`` the last round's text begins (earlier rounds called tools)
    first_token_at: float | None = None  # time.perf_counter() of the first chunk with text or a call
    accepted: bool = False  # the server took the request (its response began): it is billed
    unreported: Usage = field(default_factory=Usage)  # requests answered without usage: estimated prompt tokens
    unreported_output: str = ""  # ... and what they wrote (counted when billed)
    model: str = ""  # the model that answered (a fallback's when the asked one could not)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(c["id"] or f"call_{n}", c["name"], c["arguments"]) for n, c in sorted(self.calls.items())
                if c["name"]]

    def add_call_delta(self, delta: dict[str, Any]) -> None:
        """One streamed piece of a tool call: its id and name come first, its arguments in pieces."""
        index = delta.get("index")
        slot = self.calls.setdefault(index if isinstance(index, int) else len(self.calls),
                                     {"id": "", "name": "", "arguments": ""})
        if delta.get("id"):
            slot["id"] = str(delta["id"])
        function = delta.get("function") or {}
        if function.get("name"):
            slot["name"] += str(function["name"])
        if function.get("arguments"):
            slot["arguments"] += str(function["arguments"])


def completion_params(model: str, max_output_tokens: int, temperature: float) -> dict[str, Any]:
    """Per-model request parameters: reasoning models take ``max_completion_tokens``
    and only their default temperature."""
    if _REASONING_MODEL.match(model.rsplit("/", 1)[-1]):
        return {"max_completion_tokens": max_output_tokens}
    return {"max_tokens": max_output_tokens, "temperature": temperature}


class ModelClient:
    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        max_output_tokens: int,
        temperature: float,
        total_timeout: float,
        idle_timeout: float,
        breaker: CircuitBreaker | None = None,
        tracing: Any = None,
        fallbacks: Sequence[str] = (),
        new_breaker: Callable[[], CircuitBreaker] | None = None,
        routes: Routes | None = None,
        clients: Mapping[str, AsyncOpenAI] | None = None,
    ) -> None:
        self.routes = routes  # MODEL_ROUTES: which model answers a request that names none
        self.clients = dict(clients or {})  # model -> the client of its own server (a route's base_url and key)
        self.fallbacks = tuple(fallbacks)  # FALLBACK_MODELS, in order
        self.new_breaker = new_breaker  # each other model's own circuit breaker
        self.breakers: dict[str, CircuitBreaker] = {}
        self.on_fallback: Callable[[str, str, str], None] | None = None  # (from, to, why): counted in the metrics
        self.tracing = tracing  # bot.observability.tracing.Tracing: a GenAI span per request
        self.client = client
        self.model = model
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        self.total_timeout = total_timeout
        self.idle_timeout = idle_timeout
        self.breaker = breaker

    async def close(self) -> None:
        await self.client.close()
        for other in self.clients.values():
            await other.close()
        if self.tracing is not None:
            self.tracing.shutdown()

    async def _start_stream(self, messages: Sequence[dict[str, Any]], options: ModelOptions) -> AsyncStream[dict[str, Any]]:
        # The SDK's public ``post`` with the wire body: ``chat.completions.create``
        # first walks every message through its TypedDict transform, which costs
        # about 0.3 ms per message here (100+ ms for a full window) and changes
        # nothing for plain-text messages.  Retries, timeouts, errors and the SSE
        # framing are the SDK's own; the chunks are read as plain JSON (ChunkStream).
        body = chat_request_body(
            options.model or self.model,
            messages,
            options.max_output_tokens or self.max_output_tokens,
            self.temperature if options.temperature is None else options.temperature,
        )
        if options.cache_key:
            body["prompt_cache_key"] = options.cache_key
        if options.tools:
            body["tools"] = list(options.tools)
            if options.tool_choice:
                body["tool_choice"] = options.tool_choice
        return await self.clients.get(body["model"], self.client).post(
            "/chat/completions", cast_to=ChatCompletion, body=body, stream=True, stream_cls=ChunkStream,
        )

    def breaker_for(self, model: str) -> CircuitBreaker | None:
        """The model's circuit breaker (OPENAI_MODEL's is ``breaker``; each other model its own)."""
        if model == self.model or self.new_breaker is None:
            return self.breaker
        if model not in self.breakers:
            self.breakers[model] = self.new_breaker()
        return self.breakers[model]

    def stream(
        self, messages: Sequence[dict[str, Any]], reply: ModelReply, options: ModelOptions | None = None
    ) -> AsyncIterator[str]:
        """Yield text deltas; ``reply`` accumulates the text and usage, and names the model that
        answered (FALLBACK_MODELS take over from one that cannot: bot/llm/fallback.py).  Raises
        ModelError (kind "unavailable" at once while every breaker is open).  ``options``
        override the model, temperature and output limit for one request."""
        options = options or ModelOptions()
        if not self.fallbacks:
            reply.model = options.model or self.model
            return self.attempt(messages, reply, options)
        return with_fallbacks(self, messages, reply, options)

    async def attempt(
        self, messages: Sequence[dict[str, Any]], reply: ModelReply, options: ModelOptions
    ) -> AsyncIterator[str]:
        """One model's answer (``options.model``, else OPENAI_MODEL), under its circuit breaker."""
        breaker = self.breaker_for(options.model or self.model)
        if breaker is not None and not breaker.allow():
            raise ModelError("unavailable")
        span = None
        if self.tracing is not None:
            model = options.model or self.model
            span = self.tracing.start(model, messages, completion_params(
                model, options.max_output_tokens or self.max_output_tokens,
                self.temperature if options.temperature is None else options.temperature))
        verdict = False
        error: str | None = "cancelled"
        try:
            async for delta in self._stream(messages, reply, options):
                yield delta
            verdict = True
            error = None
            if breaker is not None:
                breaker.succeeded()
        except ModelError as exc:
            error = exc.kind
            verdict = True
            if breaker is not None:
                if exc.kind in ("timeout", "connection", "cut", "http 429") or exc.kind.startswith("http 5"):
                    breaker.failed()
                else:
                    breaker.succeeded()  # the model answered, if only with an error about this request
            raise
        finally:
            if breaker is not None and not verdict:
                breaker.finished_without_verdict()
            if span is not None:
                self.tracing.finish(span, reply, error)

    async def _stream(self, messages: Sequence[dict[str, Any]], reply: ModelReply, options: ModelOptions) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_timeout

        def time_left() -> float:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ModelError("timeout")
            return remaining

        try:
            stream = await asyncio.wait_for(self._start_stream(messages, options), timeout=time_left())
            reply.accepted = True
            chunks = stream.__aiter__()
            try:
                while True:
                    time_left()
                    try:
                        # A timeout around the read only (not around the yield: the caller's own
                        # work between chunks is not the model's); no task per chunk, unlike wait_for.
                        async with asyncio.timeout_at(min(loop.time() + self.idle_timeout, deadline)):
                            chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                    usage = chunk.get("usage")
                    if usage:
                        reply.usage = _usage(usage)
                    for choice in chunk.get("choices") or ():
                        if choice.get("finish_reason"):
                            reply.finish_reason = choice["finish_reason"]
                        change = choice.get("delta") or {}
                        if reply.first_token_at is None and (change.get("content") or change.get("tool_calls")):
                            reply.first_token_at = time.perf_counter()
                        for call in change.get("tool_calls") or ():
                            reply.add_call_delta(call)
                        delta = change.get("content")
                        if delta:
                            reply.text += delta
                            yield delta
            finally:
                await _close_quietly(stream)
        except ModelError:
            raise
        except asyncio.TimeoutError:
            raise ModelError("timeout") from None
        except openai.APITimeoutError:
            raise ModelError("timeout") from None
        except openai.APIStatusError as exc:
            raise ModelError(f"http {exc.status_code}") from None
        except openai.APIConnectionError:
            raise ModelError("connection") from None
        except openai.OpenAIError as exc:
            raise ModelError(type(exc).__name__) from None
        if reply.finish_reason is None:
            raise ModelError("cut")  # the stream ended without saying it was done: a cut connection
        if not reply.text.strip() and not reply.calls:
            raise ModelError("empty reply")


def chat_request_body(model: str, messages: Sequence[dict[str, Any]], max_output_tokens: int, temperature: float) -> dict[str, Any]:
    """The chat-completions request, as sent on the wire."""
    return {
        "model": model,
        "messages": list(messages),
        "stream": True,
        "stream_options": {"include_usage": True},
        **completion_params(model, max_output_tokens, temperature),
    }


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


class LeanEvents:
    """Server-sent events cut from the byte stream: each event's ``data`` as bytes.

    The SDK's decoder walks every line in Python and builds an event object per line;
    a chat stream only ever sends ``data:`` events, so they are cut at the blank line
    that ends each one.  Used through the SDK's own stream reader, which turns
    transport failures into the SDK's error types."""

    async def aiter_bytes(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        buffer = b""
        async for chunk in chunks:
            buffer += chunk
            if b"\r" in buffer:
                if buffer.endswith(b"\r"):
                    continue  # wait for the rest of a CRLF
                buffer = buffer.replace(b"\r\n", b"\n")
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                data = _data(event)
                if data:
                    yield data
        data = _data(buffer)
        if data:
            yield data


def _data(event: bytes) -> bytes:
    if event.startswith(b"data:") and b"\n" not in event:
        return event[5:].lstrip(b" ")
    return b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:"))


class ChunkStream(AsyncStream[dict[str, Any]]):
    """The SDK's stream (its HTTP response and error types), yielding each chunk as the
    JSON object it is.  The SDK builds a typed model per chunk and decodes SSE line by
    line, which was the largest share of the bot's CPU per answer; the bot reads four fields."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._decoder = LeanEvents()  # type: ignore[assignment]

    async def __stream__(self) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        done = False
        async for data in self._iter_events():
            if done:
                continue  # read to the end, so the connection can be used again
            if data.startswith(b"[DONE]"):  # type: ignore[attr-defined]
                done = True
                continue
            try:
                chunk = json.loads(data)  # type: ignore[arg-type]
            except ValueError:
                raise ModelError("malformed stream") from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise ModelError("stream error")
            yield chunk


async def _close_quietly(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:  # closing a broken stream must not hide the real outcome
        log.debug("closing the model stream failed", exc_info=True)


def build_openai_client(*, api_key: str, base_url: str | None, max_retries: int, timeout: float) -> AsyncOpenAI:
    """The SDK's client on its aiohttp transport (``DefaultAioHttpClient``): its C HTTP parser
    reads a streamed answer at a fraction of the CPU of the default httpx stack, which was the
    largest part of the bot's own cost per answer."""
    return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout,
                       http_client=DefaultAioHttpClient())
