"""Every failure path, run in a real bot process at DEBUG level: no secret ever reaches its log output."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from .fakes.openai_api import Scripted
from .fakes.slack_api import BOT_TOKEN
from .fakes.tcp_proxy import TcpProxy
from .harness import SIGNING_SECRET, SlackSender, mention

API_KEY = "sk-live-0123456789abcdefSECRET"
APP_TOKEN = "xapp-1-A0001-0123456789-secretsecret"


def test_no_secret_reaches_the_logs_on_any_failure_path(start_process, slack, model, redis_url):
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    bot = start_process(LOG_LEVEL="DEBUG", OPENAI_API_KEY=API_KEY, SLACK_APP_TOKEN=APP_TOKEN, MODEL_BREAKER_FAILURES=2,
                        REDIS_URL=f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}", SLACK_TIMEOUT_SECONDS=1)
    sender = SlackSender(bot.url)
    forger = SlackSender(bot.url, signing_secret="wrong-secret")
    try:
        model.enqueue(Scripted(status=500), Scripted(status=401), Scripted(text="x" * 50, chunk_chars=5, cut_after=2))
        for n in range(3):  # model 500, 401 (a rejected key), a cut stream
            sender.send_event(mention(f"model failure {n}"))
        slack.wait_for_answers(3, timeout=20)
        sender.send_event(mention("breaker open"))  # the breaker is open now: answered at once
        for _ in range(4):  # Slack 500s past every retry on the first post
            slack.fail_next("chat.postMessage", "internal_error", status=500)
        slack.fail_next("assistant.threads.setStatus", "internal_error", status=500)
        sender.send_event(mention("slack is down", channel="C200"))
        assert forger.send_event(mention("forged")).status_code == 401
        assert sender.post(b"{not json").status_code == 400
        stale = SlackSender.envelope(mention("stale"))
        import json
        assert sender.post(json.dumps(stale).encode(), timestamp=int(time.time()) - 3600).status_code == 401
        sender.send_command("/ask", "", response_url=slack.response_url("usage"))
        proxy.cut()
        down = mention("redis is down")
        assert sender.send_event(down).status_code == 503  # not kept: Slack sends it again
        sender.send_event(down, retry_num=3)  # its last try is taken, and told
        slack.wait_for(lambda s: any("memory" in m.text for m in s.posts()), timeout=30)
        proxy.restore()
        time.sleep(1.0)
        bot.terminate()
        bot.wait_exit(30)
    finally:
        sender.close()
        forger.close()
        proxy.stop()
    log = bot.log()
    assert "model failed" in log and "DEBUG" in log, "the failure paths ran and were logged"
    for secret in (BOT_TOKEN, SIGNING_SECRET, API_KEY, APP_TOKEN, "xoxb-", "sk-live"):
        assert secret not in log, f"{secret[:8]}… reached the log"
    assert "Traceback" not in log, "no stack traces for expected failures"
