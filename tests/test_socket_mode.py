"""The Socket Mode path: the same Bolt app, fed through Bolt's Socket Mode dispatch."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest

from .harness import SlackSender, mention, twin_message, settled


class RecordingSocketClient:
    """Stands in for the websocket connection: records the acks Bolt sends back."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("socket-test")
        self.responses = []

    async def send_socket_mode_response(self, response) -> None:
        self.responses.append(response)


def socket_request(event, envelope_id: str, retry_attempt: int = 0) -> SocketModeRequest:
    return SocketModeRequest(
        type="events_api", envelope_id=envelope_id, payload=SlackSender.envelope(event),
        retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else None,
    )


def test_socket_mode_event_is_acked_and_answered_once(app, slack, model):
    client = RecordingSocketClient()
    event = mention("over a websocket")

    async def deliver():
        handler = AsyncSocketModeHandler(app.runtime.bolt_app, "xapp-1-test")  # never connects
        await handler.handle(client, socket_request(event, "env-1"))
        await handler.handle(client, socket_request(twin_message(event), "env-2"))
        await handler.handle(client, socket_request(event, "env-1", retry_attempt=1))
        await handler.client.close()

    app.call(deliver)
    assert [r.envelope_id for r in client.responses] == ["env-1", "env-2", "env-1"]
    [answer] = slack.wait_for_answers(1)
    assert answer.thread_ts == event["ts"]
    assert answer.text == "Answer to: alice: over a websocket"
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 1
