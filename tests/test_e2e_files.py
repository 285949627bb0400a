"""Files shared with a message: downloaded with the bot's token from the fake Slack, read as
text (PDF, Word, text) or sent as images, and the rest explained in one plain line."""

from __future__ import annotations

import base64
import io
import json

from bot.memory.conversation import ConversationId

from .fakes import documents
from .fakes.slack_api import BOT_TOKEN, TEAM_ID
from .harness import SlackSender, mention


def share(app, text: str, files: list[dict], **extra) -> dict:
    sender = SlackSender(app.url)
    try:
        event = {**mention(text, **extra), "files": files}
        assert sender.send_event(event).status_code == 200
        return event
    finally:
        sender.close()


def user_content(request) -> list | str:
    """The latest user turn's content as the bot wrote it, without the note that closes it."""
    content = [m for m in request.messages if m["role"] == "user"][-1]["content"]
    note = f"\n\n<context>{request.note}</context>"
    if isinstance(content, str):
        return content.removesuffix(note)
    return [{**part, "text": part["text"].removesuffix(note)} if part.get("type") == "text" else part for part in content]


def test_pdf_word_and_text_files_become_text_in_the_turn(app, slack, model):
    files = [
        slack.share_file("F1", "report.pdf", documents.pdf(["Quarterly revenue grew 12%", "Costs fell"]), mimetype="application/pdf", filetype="pdf"),
        slack.share_file("F2", "notes.docx", documents.docx(["Hire two engineers", "Ship in March"]), filetype="docx"),
        slack.share_file("F3", "data.csv", b"month,revenue\njan,10\nfeb,12\n", mimetype="text/csv", filetype="csv"),
        slack.share_file("F4", "main.py", b"print('hello')\n", mimetype="text/plain", filetype="python"),
    ]
    event = share(app, "summarise these", files)
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    assert isinstance(text, str)
    assert "[file: report.pdf]\n[page 1]\nQuarterly revenue grew 12%\n\n[page 2]\nCosts fell\n[end of file: report.pdf]" in text
    assert "Hire two engineers\nShip in March" in text and "jan,10" in text and "print('hello')" in text
    assert {auth for _, auth in slack.file_downloads} == {f"Bearer {BOT_TOKEN}"}
    stored = app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 2)[0]
    assert "Quarterly revenue grew 12%" in stored.content  # kept as text for later turns, counted once
    assert stored.tokens > 40


def test_an_image_goes_to_a_vision_model_scaled_and_stays_as_a_marker(app, slack, model):
    from PIL import Image

    event = share(app, "what is in this picture?", [slack.share_file("F5", "chart.png", documents.png(3000, 1500),
                                                                     mimetype="image/png", filetype="png")])
    slack.wait_for_answers(1)
    content = user_content(model.wait_for_requests(1)[0])
    assert content[0]["type"] == "text" and content[0]["text"].endswith("[image: chart.png]")
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (2048, 1024)
    # The next question sees the marker, not the image again.
    share(app, "and the colour?", [], thread_ts=event["ts"])
    second = model.wait_for_requests(2)[1]
    assert second.dialogue[0]["content"].endswith("[image: chart.png]")
    assert "base64" not in json.dumps(second.dialogue)


def test_a_model_without_vision_gets_a_plain_line_instead(start_app, slack, model):
    app = start_app(MODEL_VISION="off")
    share(app, "look", [slack.share_file("F6", "photo.png", documents.png(10, 10), mimetype="image/png", filetype="png")])
    slack.wait_for_answers(1)
    assert user_content(model.wait_for_requests(1)[0]).endswith("[I can't read photo.png: the model here does not take images]")


def test_unreadable_files_get_one_line_each_and_the_rest_is_answered(start_app, slack, model):
    app = start_app(FILE_MAX_BYTES=1024 * 1024, FILES_PER_MESSAGE=5)
    big = b"x" * (50 * 1024 * 1024)
    files = [
        slack.share_file("F7", "deck.key", b"PK\x03\x04", filetype="keynote"),
        slack.share_file("F8", "locked.pdf", documents.encrypted_pdf("hidden"), filetype="pdf"),
        slack.share_file("F9", "scan.pdf", documents.pdf([""]), filetype="pdf"),
        slack.share_file("F10", "broken.pdf", b"%PDF-1.4 this is not really a pdf", filetype="pdf"),
        slack.share_file("F11", "huge.txt", big, filetype="text"),
        slack.share_file("F12", "sixth.txt", b"too many", filetype="text"),
    ]
    liar = slack.share_file("F13", "liar.txt", b"y" * (2 * 1024 * 1024), filetype="text", size=100)
    share(app, "read all of these", files)
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    expected = [
        "I can't read sixth.txt: I read at most 5 files per message",
        "I can't read deck.key: it is not a kind of file I read",
        "I can't read locked.pdf: it is protected by a password",
        "I can't read scan.pdf: it has no text layer (a scan?); share the pages as images instead",
        "I can't read broken.pdf: the PDF is damaged",
        "I can't read huge.txt: it is larger than 1 MB",
    ]
    for line in expected:
        assert f"[{line}]" in text
    assert not any(name.startswith("F11/") for name, _ in slack.file_downloads)  # refused by its size, not downloaded
    note = slack.wait_for(lambda s: [e for e in s.ephemeral if "deck.key" in e.get("text", "")])[0]
    assert note["user"] == "U1" and all(line in note["text"] for line in expected)
    # A file bigger than it said is cut off at the limit while downloading.
    share(app, "and this one", [liar])
    slack.wait_for_answers(2)
    assert "[I can't read liar.txt: it is larger than 1 MB]" in user_content(model.wait_for_requests(2)[1])


def test_the_token_never_goes_to_a_host_that_is_not_slack(app, slack, model):
    outside = {"id": "F14", "name": "evil.txt", "filetype": "text", "size": 10,
               "url_private_download": "http://example.invalid/steal.txt"}
    share(app, "read", [outside])
    slack.wait_for_answers(1)
    assert user_content(model.wait_for_requests(1)[0]).endswith("[I can't read evil.txt: Slack did not share its content with me]")


def test_long_text_is_cut_head_and_tail_to_the_file_limit(start_app, slack, model):
    app = start_app(MAX_FILE_TOKENS=200)
    body = "BEGIN " + " ".join(f"word{n}" for n in range(5000)) + " END"
    share(app, "read", [slack.share_file("F15", "long.md", body.encode(), filetype="markdown")])
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    assert "BEGIN" in text and "END" in text and "[… file shortened: the middle is left out …]" in text
    assert "word2500" not in text


def test_a_file_share_without_text_is_answered(app, slack, model):
    sender = SlackSender(app.url)
    try:
        event = {**mention(""), "files": [slack.share_file("F16", "todo.txt", b"buy milk", filetype="text")]}
        event["text"] = event["text"].strip()
        sender.send_event(event)
    finally:
        sender.close()
    slack.wait_for_answers(1)
    assert "buy milk" in user_content(model.wait_for_requests(1)[0])
