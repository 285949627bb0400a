"""Files are hostile input: bombs, slow files, odd encodings and odd addresses are read in a
file worker process within its limits, end in one plain line, and never take the bot down."""

from __future__ import annotations

import time

from .fakes import documents
from .harness import SlackSender, mention, message
from .test_e2e_files import share, user_content

TOO_LARGE = "it is too large to read"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_an_image_bomb_and_a_word_bomb_are_one_line_each_and_the_rest_is_answered(app, slack, model):
    files = [
        slack.share_file("B1", "bomb.png", documents.png_bomb(), mimetype="image/png", filetype="png"),
        slack.share_file("B2", "bomb.docx", documents.docx_bomb(), filetype="docx"),
        slack.share_file("B3", "notes.txt", b"the launch is on Tuesday", filetype="text"),
    ]
    before = rss_mb()
    began = time.monotonic()
    share(app, "read these", files)
    slack.wait_for_answers(1, timeout=40)
    assert time.monotonic() - began < 30
    text = user_content(model.wait_for_requests(1)[0])
    assert isinstance(text, str)
    assert f"[I can't read bomb.png: {TOO_LARGE}]" in text and f"[I can't read bomb.docx: {TOO_LARGE}]" in text
    assert "the launch is on Tuesday" in text
    note = slack.wait_for(lambda s: [e for e in s.ephemeral if "bomb.png" in e.get("text", "")])[0]
    assert note["user"] == "U1" and f"bomb.docx: {TOO_LARGE}" in note["text"]
    assert rss_mb() - before < 50  # read in the worker, not here
    # The next file is read by a fresh worker.
    share(app, "and this", [slack.share_file("B4", "after.txt", b"still reading", filetype="text")])
    slack.wait_for_answers(2)
    assert "still reading" in user_content(model.wait_for_requests(2)[1])


def test_a_file_that_takes_too_long_is_stopped_and_its_worker_replaced(start_app, slack, model):
    app = start_app(FILE_EXTRACT_SECONDS=0.5, FILE_WORKER_MEMORY_MB=8192)  # the time limit, not memory, stops it
    share(app, "read", [slack.share_file("S1", "slow.docx", documents.docx_bomb(), filetype="docx")])
    slack.wait_for_answers(1, timeout=20)
    assert f"[I can't read slow.docx: {TOO_LARGE}]" in user_content(model.wait_for_requests(1)[0])
    assert app.runtime.core.extractor.replaced == 1
    share(app, "and this", [slack.share_file("S2", "ok.docx", documents.docx(["fine"]), filetype="docx")])
    slack.wait_for_answers(2)
    assert "fine" in user_content(model.wait_for_requests(2)[1])


def test_bombs_in_many_threads_leave_other_conversations_answered(start_app, slack, model):
    app = start_app(FILE_WORKERS=2)
    sender = SlackSender(app.url)
    try:
        for n in range(5):
            bomb = slack.share_file(f"M{n}", f"bomb{n}.png", documents.png_bomb(), mimetype="image/png", filetype="png")
            assert sender.send_event({**mention(f"bomb {n}", channel="C200"), "files": [bomb]}).status_code == 200
        began = time.monotonic()
        assert sender.send_event(mention("a plain question", channel="C300")).status_code == 200
        plain = slack.wait_for(lambda s: [m for m in s.messages.values() if m.channel == "C300" and m.text], timeout=10)
        assert time.monotonic() - began < 5
        assert plain
        slack.wait_for_answers(6, timeout=40)
    finally:
        sender.close()


def test_no_file_is_downloaded_for_a_message_over_the_flood_limit(start_app, slack, model):
    app = start_app(USER_MESSAGES_PER_MINUTE=1)
    share(app, "first", [])
    slack.wait_for_answers(1)
    share(app, "second", [slack.share_file("FL1", "doc.txt", b"never read", filetype="text")])
    slack.wait_for(lambda s: [e for e in s.ephemeral if "minute" in e.get("text", "")])
    assert not [name for name, _ in slack.file_downloads if name.startswith("FL1/")]
    assert len(model.requests) == 1


def test_encodings_are_detected_and_binary_is_said_to_be_not_text(app, slack, model):
    files = [
        slack.share_file("E1", "menu.txt", "Café crème à la française, naïve résumé".encode("latin-1"), filetype="text"),
        slack.share_file("E2", "notes.txt", "Grüße aus Köln".encode("utf-16"), filetype="text"),
        slack.share_file("E3", "blob.txt", bytes(range(256)) * 40, filetype="text"),
    ]
    share(app, "read", files)
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    assert "Café crème à la française, naïve résumé" in text and "Grüße aus Köln" in text
    assert "[I can't read blob.txt: it is not a text file]" in text


def test_word_files_keep_document_order_nested_tables_headers_and_footers(app, slack, model):
    share(app, "read", [slack.share_file("W1", "layout.docx", documents.docx_with_layout(), filetype="docx")])
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    order = ["ACME confidential", "Before the table", "| Region | Revenue |", "EMEA", "Q1 10", "After the table",
             "page footer"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_a_long_pdf_is_read_head_and_tail_and_pages_are_capped(start_app, slack, model):
    app = start_app(MAX_FILE_TOKENS=1000, FILE_MAX_PAGES=10)
    pages = [f"page text {n}" for n in range(1, 2001)]
    share(app, "read", [slack.share_file("P1", "long.pdf", documents.pdf(pages), filetype="pdf")])
    slack.wait_for_answers(1, timeout=20)
    text = user_content(model.wait_for_requests(1)[0])
    assert "page text 1\n" in text and "page text 2000" in text
    assert "[… 1,990 pages left out: only the start and the end are read …]" in text
    assert "page text 6\n" not in text and "page text 1995\n" not in text


def test_only_https_slack_addresses_get_the_token_and_a_malformed_one_is_one_line(app, slack, model):
    files = [
        {"id": "U1", "name": "plain.txt", "filetype": "text", "size": 10,
         "url_private_download": "http://files.slack.com/files-pri/T1-F1/plain.txt"},
        {"id": "U2", "name": "odd.txt", "filetype": "text", "size": 10,
         "url_private_download": "https://files.slack.com\\@example.invalid/odd.txt"},
        {"id": "U3", "name": "port.txt", "filetype": "text", "size": 10,
         "url_private_download": "https://files.slack.com:99999/x"},
        slack.share_file("U4", "good.txt", b"readable", filetype="text"),
    ]
    share(app, "read", files)
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    for name in ("plain.txt", "odd.txt", "port.txt"):
        assert f"[I can't read {name}: Slack did not share its content with me]" in text
    assert "readable" in text
    assert [name for name, _ in slack.file_downloads] == ["U4/good.txt"]


def test_a_file_shared_only_in_another_conversation_is_read_only_for_the_asker_alone(app, slack, model):
    elsewhere = {**slack.share_file("X1", "salaries.txt", b"the secret salaries", filetype="text"), "groups": ["G900"]}
    here = {**slack.share_file("X2", "agenda.txt", b"the agenda", filetype="text"), "channels": ["C100"]}
    share(app, "read", [elsewhere, here])
    slack.wait_for_answers(1)
    text = user_content(model.wait_for_requests(1)[0])
    assert "the agenda" in text and "secret salaries" not in text
    assert "[I can't read salaries.txt: it is shared in another conversation, not this one (ask me in a DM)]" in text
    assert [name for name, _ in slack.file_downloads] == ["X2/agenda.txt"]
    # In the asker's own DM with the bot it is read: nobody else sees the answer.
    sender = SlackSender(app.url)
    try:
        sender.send_event({**message("read", channel="D100", channel_type="im"), "files": [elsewhere]})
    finally:
        sender.close()
    slack.wait_for_answers(2)
    assert "the secret salaries" in user_content(model.wait_for_requests(2)[1])


def test_the_thinking_status_shows_before_the_files_are_read(app, slack, model):
    slack.delays["files"] = 1.5
    share(app, "read this slowly", [slack.share_file("T1", "slow.txt", b"slow text", filetype="text")])
    slack.wait_for_answers(1, timeout=20)
    [download_began] = slack.file_download_times
    status = slack.calls_to("assistant.threads.setStatus")[0]
    assert status.at < download_began + 1.5, "the status did not wait for the file"
