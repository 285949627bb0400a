"""MODEL_ROUTES: a request goes to the model (and server) its first matching route names; a
request that names its own model keeps it; a bad routes file stops start-up in one line."""

from __future__ import annotations

import pytest

from bot.errors import StartupError
from bot.llm.routes import Facts, RoutesError, load_routes

from .fakes.openai_api import FakeModel
from .harness import command_reply, make_settings, mention, message, settled, SlackSender

ROUTES = """routes:
  - name: local-ask
    when: {prompt: ask}
    model: llama3.3
    base_url: ${LOCAL_URL}
    api_key: ${LOCAL_KEY}
  - name: dms
    when: {surface: dm}
    model: gpt-4.1
  - name: long
    when: {min_tokens: 5000}
    model: gpt-4.1-long
"""


@pytest.fixture
def local_model():
    fake = FakeModel().start()
    yield fake
    fake.stop()


def test_requests_go_where_their_route_says(start_app, slack, model, local_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_URL", local_model.base_url)
    monkeypatch.setenv("LOCAL_KEY", "sk-local-key")
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    app = start_app(MODEL_ROUTES=str(routes))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("hello in the channel"))
        slack.wait_for_answers(1)
        sender.send_event(message("hello in private", channel="D100", channel_type="im"))
        slack.wait_for_answers(2)
        settled(app)
    finally:
        sender.close()
    reply = command_reply(app, slack, "/ask", "what is a route?")
    assert reply["text"].startswith("Answer to:")
    assert [r.body["model"] for r in model.requests] == ["gpt-4o-mini", "gpt-4.1"]
    [local] = local_model.requests
    assert local.body["model"] == "llama3.3" and local.headers.get("authorization") == "Bearer sk-local-key"


def test_the_first_matching_route_wins_and_bad_files_are_one_line(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    routes = load_routes(path, {"LOCAL_URL": "http://local/v1", "LOCAL_KEY": "k"})
    facts = Facts(prompt="system", channel="C1", surface="dm", tools=False, images=False, tokens=9000)
    assert routes.pick(facts).name == "dms"
    assert routes.pick(Facts("system", "C1", "thread", True, False, 9000)).name == "long"
    assert routes.pick(Facts("system", "C1", "thread", True, False, 100)) is None
    assert routes.endpoints() == {"llama3.3": ("http://local/v1", "k")}
    with pytest.raises(RoutesError, match=r"routes.yaml: route local-ask: the environment has no LOCAL_URL"):
        load_routes(path, {})
    path.write_text("routes:\n  - name: x\n    model: m\n    when: {surface: phone}\n")
    with pytest.raises(RoutesError, match=r"route 1: when.surface: unknown surface 'phone'"):
        load_routes(path, {})
    path.write_text("routes:\n  - name: x\n    model: m\n    colour: red\n")
    with pytest.raises(RoutesError, match=r"route 1: colour: Extra inputs are not permitted"):
        load_routes(path, {})


def test_a_bad_routes_file_stops_start_up_naming_it(tmp_path, tiktoken_cache):
    from bot.llm.wiring import build_model_client

    path = tmp_path / "routes.yaml"
    path.write_text("routes: nope\n")
    settings = make_settings(MODEL_ROUTES=str(path), TIKTOKEN_CACHE_DIR=tiktoken_cache)
    with pytest.raises(StartupError, match=r"^Invalid MODEL_ROUTES routes.yaml: must hold one field, routes: a list"):
        build_model_client(settings)
