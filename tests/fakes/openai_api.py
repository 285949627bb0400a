"""A fake OpenAI-compatible chat-completions server: Server-Sent Events
streaming exactly as OpenAI sends it, error bodies as OpenAI shapes them,
and a record of every request.  The real ``openai`` client talks to it."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .chat_templates import refusal
from .embeddings import embeddings_response
from .fine_tuning import FakeFineTuning
from .http import BackgroundServer, QuietHandler


@dataclass
class Scripted:
    """How the fake answers one request."""

    text: str | None = None  # None: the default answer
    status: int | None = None  # an HTTP error instead of an answer
    chunk_chars: int = 8
    delay: float = 0.0  # seconds between chunks
    stall_after: int | None = None  # stop sending (without closing) after this many chunks
    cut_after: int | None = None  # close the connection mid-stream after this many chunks
    gate: threading.Event | None = None  # wait for it before answering
    tool_calls: list[tuple[str, str]] | None = None  # (name, arguments JSON) the model asks for instead of text
    usage: tuple[int, int, int] | None = None  # (prompt, cached prompt, completion) tokens to report; default: estimated


@dataclass
class ModelRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None  # when the first text was sent
    finished: float | None = None

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body["messages"]

    @property
    def dialogue(self) -> list[dict[str, str]]:
        """The turns after the system prompt, the note (date, speaker) taken out of the latest user turn."""
        turns = [dict(m) for m in self.messages[1:]]
        users = [m for m in turns if m["role"] == "user" and isinstance(m["content"], str)]
        if users and self.note:
            latest = users[-1]
            latest["content"] = _KNOWLEDGE.sub("", latest["content"].removesuffix(f"\n\n<context>{self.note}</context>"))
        return turns

    @property
    def note(self) -> str:
        """The note about the latest message (date, speaker) that closes the latest user turn, if any."""
        users = [m for m in self.messages if m["role"] == "user"]
        content = users[-1]["content"] if users else ""
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        found = _NOTE.search(text)
        return found.group(1) if found else ""

    @property
    def last_user_text(self) -> str:
        """The latest person's message: the end of the latest user turn (people's messages in a row
        are one turn, joined by blank lines: from the last speaker header, or the last paragraph
        in a DM), the note that closes it left out."""
        content = [m for m in self.messages if m["role"] == "user"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        found = _NOTE.search(text)
        if found is None:
            return text
        text = _KNOWLEDGE.sub("", text[:found.start()])
        at = text.rfind("\n\n<from ")
        if at >= 0:
            return text[at + 2:]
        return text.rsplit("\n\n", 1)[-1] if not text.startswith("<from ") else text

    @property
    def knowledge(self) -> str:
        """The team knowledge's passages in the latest user turn ("" if none)."""
        users = [m for m in self.messages if m["role"] == "user"]
        content = users[-1]["content"] if users else ""
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        found = _KNOWLEDGE.search(_NOTE.sub("", text))
        return found.group(0).strip() if found else ""

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["role"] == "tool"]

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools") or []]


_NOTE = re.compile(r"\n\n<context>(Today is [^<\n]*)</context>$")
_KNOWLEDGE = re.compile(r"\n\n<knowledge>\n.*</knowledge>$", re.DOTALL)  # team knowledge's passages, before the note
_SPEAKER = re.compile(r'^<from name="([^"]*)"(?: id="[^"]*")?/>\n')


def readable(text: str) -> str:
    """A user turn as a person would say it: 'alice: hello' for an attributed channel message."""
    return _SPEAKER.sub(lambda m: f"{m.group(1)}: ", text)


def default_answer(request: ModelRequest) -> str:
    return f"Answer to: {readable(request.last_user_text)[-60:]}"


MODERATION_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
                         "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
                         "violence/graphic")


def moderation_result(text: str) -> dict[str, Any]:
    flagged = {"violence": "FLAGME" in text, "hate": "HATEME" in text}
    categories = {name: flagged.get(name, False) for name in MODERATION_CATEGORIES}
    return {"flagged": any(categories.values()), "categories": categories,
            "category_scores": {name: 0.97 if on else 0.001 for name, on in categories.items()},
            "category_applied_input_types": {name: ["text"] for name in MODERATION_CATEGORIES}}


class FakeModel:
    """``strict_templates``: refuse (400) a request the strict chat templates refuse, as vLLM
    does; the benchmarks turn it off to run earlier revisions beside today's."""

    def __init__(self, answer: Callable[[ModelRequest], str] = default_answer, *, strict_templates: bool = True) -> None:
        self.strict_templates = strict_templates
        self.requests: list[ModelRequest] = []
        self.script: list[Scripted] = []
        self.answer = answer
        self.default = Scripted()
        self.missing_models: set[str] = set()
        self.listed_models: set[str] = {"gpt-4o-mini", "gpt-4.1", "llama3.3"}  # what GET /v1/models lists
        self.lists_only = False  # no GET /v1/models/{id} (vLLM): only the list
        self.template_errors: list[str] = []  # requests a strict chat template refused (each answered 400)
        self.tuning = FakeFineTuning()  # files and fine-tuning jobs (tests/fakes/fine_tuning.py)
        self.moderations: list[dict[str, Any]] = []  # the bodies of POST /v1/moderations
        self.moderation_status: int | None = None  # answer moderations with this HTTP error
        self.embeddings: list[dict[str, Any]] = []  # the bodies of POST /v1/embeddings (tests/fakes/embeddings.py)
        self.embeddings_status: int | None = None  # answer embeddings with this HTTP error
        self._lock = threading.Condition()
        self.server = BackgroundServer(self._handler_class())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1"

    def start(self) -> "FakeModel":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def enqueue(self, *scripted: Scripted) -> None:
        with self._lock:
            self.script.extend(scripted)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ModelRequest]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} model requests, got {len(self.requests)}")
                self._lock.wait(remaining)
            return list(self.requests)

    def _take(self, request: ModelRequest) -> Scripted:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self.script.pop(0) if self.script else self.default

    def _handler_class(self) -> type:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                tuned = fake.tuning.get(self.path)
                if tuned is not None:
                    self.send_json(tuned[1], tuned[0])
                    return
                self._models()

            def _models(self) -> None:
                """``GET /v1/models/{id}``: the model if the fake serves it (any but ``fake.missing_models``;
                with ``fake.lists_only``, a server such as vLLM that answers only ``GET /v1/models``)."""
                if self.path.rstrip("/").endswith("/models"):
                    served = sorted(fake.listed_models - fake.missing_models)
                    self.send_json({"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                                "owned_by": "fake"} for m in served]})
                    return
                name = self.path.rsplit("/models/", 1)[-1] if "/models/" in self.path else None
                if name is None or name in fake.missing_models or fake.lists_only:
                    self.send_json({"error": {"message": f"The model '{name}' does not exist", "type": "invalid_request_error",
                                              "param": None, "code": "model_not_found"}}, 404)
                    return
                self.send_json({"id": name, "object": "model", "created": 0, "owned_by": "fake"})

            def do_POST(self) -> None:  # noqa: N802
                if self.path.endswith("/moderations"):
                    self._moderate()
                    return
                if self.path.endswith("/embeddings"):
                    body = json.loads(self.read_body() or b"{}")
                    with fake._lock:
                        fake.embeddings.append(body)
                    if fake.embeddings_status is not None:
                        self.send_json({"error": {"message": "The server had an error", "type": "server_error",
                                                  "param": None, "code": None}}, fake.embeddings_status)
                        return
                    self.send_json(embeddings_response(body))
                    return
                if self.path.endswith(("/files", "/fine_tuning/jobs")):
                    status, payload = fake.tuning.post(self.path, self.headers.get("Content-Type", ""), self.read_body()) \
                        or (404, {"error": {"message": "not found"}})
                    self.send_json(payload, status)
                    return
                if not self.path.endswith("/chat/completions"):
                    self.send_json({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)
                    return
                body = self.read_body() or b"{}"
                received = time.monotonic()  # the request has arrived; parsing it is the fake's own time
                request = ModelRequest(json.loads(body), dict(self.headers), started=received)
                refused = refusal(request.body) if fake.strict_templates else None
                if refused is not None:  # as vLLM answers a request its chat template refuses
                    fake.template_errors.append(refused)
                    self.send_json({"object": "error", "message": refused, "type": "BadRequestError",
                                    "param": None, "code": 400}, 400)
                    return
                plan = fake._take(request)
                try:
                    if plan.gate is not None:
                        plan.gate.wait(30)
                    if plan.status is not None:
                        self.send_json({"error": {"message": "The server had an error", "type": "server_error",
                                                  "param": None, "code": None}}, plan.status)
                        return
                    if plan.tool_calls is not None:
                        self._stream(request, plan.text or "", plan, calls=plan.tool_calls)
                        return
                    text = plan.text if plan.text is not None else fake.answer(request)
                    self._stream(request, text, plan)
                finally:
                    request.finished = time.monotonic()

            def _moderate(self) -> None:
                """``POST /v1/moderations`` as OpenAI answers it: a text with FLAGME is flagged as violence,
                one with HATEME as hate (``fake.moderation_status``: an HTTP error instead)."""
                body = json.loads(self.read_body() or b"{}")
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                with fake._lock:
                    fake.moderations.append({**body, "answered_at": time.monotonic()})
                if fake.moderation_status is not None:
                    self.send_json({"error": {"message": "The server had an error", "type": "server_error",
                                              "param": None, "code": None}}, fake.moderation_status)
                    return
                self.send_json({"id": f"modr-{len(fake.moderations)}", "model": body.get("model"),
                                "results": [moderation_result(str(text)) for text in texts]})

            def _stream(self, request: ModelRequest, text: str, plan: Scripted,
                        calls: list[tuple[str, str]] | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")  # as OpenAI streams: the connection is kept alive
                self.end_headers()
                model = request.body.get("model", "fake")
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

                def chunk(data: bytes) -> None:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                def event(payload: Any) -> None:
                    chunk(f"data: {json.dumps(payload)}\n\n".encode())

                try:
                    event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
                    pieces = [text[i : i + plan.chunk_chars] for i in range(0, len(text), plan.chunk_chars)]
                    for n, piece in enumerate(pieces):
                        if plan.cut_after is not None and n >= plan.cut_after:
                            self.close_connection = True
                            self.connection.shutdown(2)  # cut: no [DONE], no finish_reason
                            return
                        if plan.stall_after is not None and n >= plan.stall_after:
                            time.sleep(30)  # a stalled stream: the client must give up on its own
                            self.close_connection = True
                            return
                        if plan.delay:
                            time.sleep(plan.delay)
                        event({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                        if request.first_token is None:
                            request.first_token = time.monotonic()
                    for n, (name, arguments) in enumerate(calls or ()):
                        # As OpenAI streams a call: id and name first, the arguments in pieces.
                        first = {"index": n, "id": f"call_{len(fake.requests)}_{n}", "type": "function",
                                 "function": {"name": name, "arguments": ""}}
                        event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}]})
                        for i in range(0, len(arguments), 7):
                            piece = {"index": n, "function": {"arguments": arguments[i : i + 7]}}
                            event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]})
                    finish = "tool_calls" if calls else "stop"
                    event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                    prompt_chars = sum(len(json.dumps(m.get("content"))) for m in request.messages)
                    prompt, cached, completion = plan.usage or (prompt_chars // 4, 0, len(text) // 4)
                    event({**base, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                                            "total_tokens": prompt + completion,
                                                            "prompt_tokens_details": {"cached_tokens": cached}}})
                    chunk(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout) or was stopped

        return Handler
