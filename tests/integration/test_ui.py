"""/ui, the run inspector: its pages over HTTP, and live in headless Chromium.

The browser test drives Debian's Chromium through Playwright (no browser is downloaded); it
skips, saying why, where Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import WEATHER_TOOL, wait_for

KEY = "ui-key"
CHROMIUM = os.environ.get("CALLISTO_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def keyed(make_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    return make_server(api_key=KEY)


def test_pages_ask_for_a_key_and_accept_it(keyed: ThreadedServer) -> None:
    with httpx.Client(base_url=keyed.url) as http:
        page = http.get("/ui")
        assert page.status_code == 401
        assert 'name="key"' in page.text and "text/html" in page.headers["content-type"]
        wrong = http.post("/ui/login", data={"key": "nope", "next": "/ui"})
        assert wrong.status_code == 401 and "not accepted" in wrong.text
        assert "callisto_ui_key" not in http.cookies
        good = http.post("/ui/login", data={"key": KEY, "next": "//elsewhere.example/x"})
        assert good.status_code == 303 and good.headers["location"] == "/ui"
        assert http.get("/ui").status_code == 200
        # The cookie opens the inspector only, not the API.
        assert http.get("/v1/assistants").status_code == 401
        assert http.get("/ui/threads/thread_nope").status_code == 404
    assert (
        httpx.get(keyed.url + "/ui", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    )


def test_a_run_page_shows_steps_tool_calls_repairs_and_timing(
    keyed: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"town": "Oslo"})),  # refused: no 'city'
        Reply.tool_calls(("get_weather", {"city": "Oslo"})),
    )
    client = sdk_client(keyed.url, api_key=KEY)
    assistant = client.beta.assistants.create(model="fake/fake-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    headers = {"Authorization": f"Bearer {KEY}"}
    page = httpx.get(f"{keyed.url}/ui/threads/{thread.id}/runs/{run.id}", headers=headers).text
    assert "Refused, sent back to the model" in page and "town" in page
    assert "&#34;city&#34;: &#34;Oslo&#34;" in page  # the arguments, escaped
    assert "waiting for its output" in page
    for phase in ("queued", "in progress", "model call", "waiting for tool outputs"):
        assert f'<span class="phase">{phase}</span>' in page
    # Two model calls in the turn: the refused tool call, then the corrected one.
    assert page.count('<span class="phase">model call</span>') == 2
    # Filters: by status and by model.
    listing = httpx.get(keyed.url + "/ui", params={"status": "requires_action"}, headers=headers)
    assert run.id in listing.text
    listing = httpx.get(keyed.url + "/ui", params={"status": "completed"}, headers=headers)
    assert run.id not in listing.text
    listing = httpx.get(keyed.url + "/ui", params={"model": "other/model"}, headers=headers)
    assert run.id not in listing.text


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's), driven by Playwright."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def test_a_run_made_through_the_sdk_goes_live_to_requires_action_in_the_browser(
    keyed: ThreadedServer, fake_llm: FakeLLM, chromium: Any
) -> None:
    from playwright.sync_api import expect

    release = threading.Event()

    def held(request: RecordedRequest) -> Reply:
        release.wait(30)  # the model answers when the test says so
        return Reply.tool_calls(("get_weather", {"city": "Reykjavik"}))

    fake_llm.script(held, Reply.text("Windy in Reykjavik."))
    client = sdk_client(keyed.url, api_key=KEY)
    assistant = client.beta.assistants.create(model="fake/fake-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Reykjavik?"}])
    page = chromium.new_page()
    try:
        page.goto(keyed.url + "/ui")
        page.fill("#key", KEY)
        page.click("#login")
        expect(page.locator("h1")).to_have_text("Threads and their runs")

        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        link = page.locator(f"a.run-link[href$='/runs/{run.id}']")
        expect(link).to_be_visible()  # the list refreshes itself
        link.click()
        expect(page.locator("#run-status")).to_have_text("in_progress")
        expect(page.locator("#live-state")).to_contain_text("following")
        page.evaluate("window.sameDocument = true")

        release.set()
        expect(page.locator("#run-status")).to_have_text("requires_action")
        arguments = page.locator(".tool-call .arguments")
        expect(arguments).to_contain_text('"city": "Reykjavik"')
        expect(page.locator(".tool-call .call-name")).to_contain_text("get_weather")
        expect(page.locator("#waterfall")).to_contain_text("waiting for tool outputs")

        calls = wait_for(client, thread.id, run.id, {"requires_action"})
        client.beta.threads.runs.submit_tool_outputs(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[
                {"tool_call_id": c.id, "output": "9C, windy"}
                for c in calls.required_action.submit_tool_outputs.tool_calls
            ],
        )
        expect(page.locator("#run-status")).to_have_text("completed")
        expect(page.locator(".tool-call .output")).to_have_text("9C, windy")
        expect(page.locator(".message.role-assistant")).to_contain_text("Windy in Reykjavik.")
        expect(page.locator("#live-state")).to_have_text("ended")
        assert page.evaluate("window.sameDocument") is True  # updated in place, not reloaded
    finally:
        release.set()
        page.close()
