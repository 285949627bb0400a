"""What reaches /slack/events that is not a good delivery: 401, 4xx, never a crash."""

from __future__ import annotations

import json
import time

import httpx

from .harness import mention, settled, SlackSender


def test_url_verification_is_answered_with_the_challenge(app, sender):
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"}).encode()
    response = sender.post(body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "abc123"}


def test_forged_signature_is_rejected(app, slack, model):
    forger = SlackSender(app.url, signing_secret="not-the-secret")
    try:
        assert forger.send_event(mention("hi")).status_code == 401
    finally:
        forger.close()
    settled(app)  # no work left: nothing more can happen
    assert slack.calls_to("chat.postMessage") == [] and model.requests == []


def test_stale_signature_is_rejected(app, sender, slack):
    body = json.dumps(SlackSender.envelope(mention("hi"))).encode()
    assert sender.post(body, timestamp=int(time.time()) - 6 * 60).status_code == 401


def test_missing_signature_headers_are_rejected(app):
    body = json.dumps(SlackSender.envelope(mention("hi"))).encode()
    response = httpx.post(f"{app.url}/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_malformed_bodies_get_4xx_and_the_app_keeps_working(app, sender, slack):
    assert sender.post(b"{not json").status_code == 400
    assert sender.post(b"\xff\xfe\xfd").status_code == 400
    assert sender.post(b"").status_code == 400
    assert sender.post(b"[1, 2, 3]").status_code == 400
    forged = httpx.post(f"{app.url}/slack/events", content=b"{not json", headers={"Content-Type": "application/json"})
    assert forged.status_code == 401
    assert sender.post(b"x" * (1024 * 1024 + 1)).status_code == 413
    assert httpx.get(f"{app.url}/healthz").status_code == 200
    sender.send_event(mention("still alive?"))
    slack.wait_for_answers(1)


def test_event_without_the_fields_we_need_is_acknowledged_and_dropped(app, sender, slack, model):
    assert sender.send_event({"type": "app_mention", "text": "no user, no channel"}).status_code == 200
    assert sender.send_event({"type": "message", "user": "U1", "channel_type": "im"}).status_code == 200
    settled(app)  # no work left: nothing more can happen
    assert model.requests == []


def test_healthz_reports_ready(app):
    response = httpx.get(f"{app.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
