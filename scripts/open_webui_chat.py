"""Ask the plugin's vLLM server one question through Open WebUI's page in headless Chromium.

Usage: python scripts/open_webui_chat.py [--url URL] [--model smollm2] [--question Q] [--timeout S] [SCREENSHOT]

Run by scripts/try_open_webui.sh with Open WebUI's own venv (selenium lives there, not in .venv),
against an Open WebUI started with WEBUI_AUTH=False whose OpenAI connection is the plugin's server.
It does what a person does in the page: dismisses the "What's New" dialog, checks the model picker,
types the question into the chat box, sends it, waits for the streamed answer to finish, prints it
and saves a screenshot (default: benchmarks/results/open_webui_host_2026-12-03.png). Any failed step
exits non-zero with one line saying which.

Debian's chromium and chromedriver are used by path, so Selenium Manager never tries to download a
browser or a driver (this machine reaches no browser download site).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEFAULT_SCREENSHOT = "benchmarks/results/open_webui_host_2026-12-03.png"
# WEBUI_AUTH=False: Open WebUI signs everyone in as this built-in admin (routers/auths.py).
NO_AUTH_ADMIN = {"email": "admin@localhost", "password": "admin"}


class StepFailed(Exception):
    """A step of the chat did not work; the message is the one line printed before exiting."""


def _api(base_url: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    """POST `body` (or GET without one) to Open WebUI's REST API and return the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base_url + path, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _sign_in(base_url: str) -> str:
    """Return a token for the no-auth admin: the same sign-in call the page makes on load."""
    try:
        return _api(base_url, "/api/v1/auths/signin", body=NO_AUTH_ADMIN)["token"]
    except (urllib.error.URLError, KeyError) as e:
        raise StepFailed(f"could not sign in to Open WebUI at {base_url} (is WEBUI_AUTH=False?): {e}") from e


def configure_model(base_url: str, model: str) -> None:
    """Save an Open WebUI model entry for `model` that sends plain, short, greedy chat requests.

    Open WebUI 0.12 defaults to "native" function calling and attaches its built-in tools
    (time, ask_user, ...) with tool_choice="auto" to every chat from the page; vLLM refuses that
    with HTTP 400 unless it was started with --enable-auto-tool-choice and a --tool-call-parser,
    which a 135M chat model has no use for. This is the entry Admin > Models > Edit would save with
    "Built-in tools" off and Function Calling set to "Legacy"; the server command stays as is.
    Temperature 0 and 64 new tokens at most, as in examples/serve_and_chat.py: at vLLM's default
    temperature of 1 the 135M model may ramble up to the 2048-token limit, minutes on a 2-core CPU.
    """
    token = _sign_in(base_url)
    entry = {
        "id": model,
        "base_model_id": None,
        "name": model,
        "meta": {"capabilities": {"builtin_tools": False}},
        "params": {"function_calling": "legacy", "temperature": 0, "max_tokens": 64},
    }
    try:
        _api(base_url, "/api/v1/models/create", token, entry)
    except urllib.error.HTTPError as e:
        if e.code != 401:  # 401 "taken": an entry from an earlier run in the same DATA_DIR
            raise StepFailed(f"could not save the model entry for {model}: HTTP {e.code} {e.read()[:200]!r}") from e
        try:
            _api(base_url, "/api/v1/models/model/update", token, entry)
        except urllib.error.URLError as e2:
            raise StepFailed(f"could not update the model entry for {model}: {e2}") from e2
    except urllib.error.URLError as e:
        raise StepFailed(f"could not save the model entry for {model}: {e}") from e


def start_browser() -> WebDriver:
    """Start Debian's headless Chromium through Debian's chromedriver."""
    options = Options()
    options.binary_location = CHROMIUM
    # --no-sandbox: Chromium's sandbox refuses to start as root, which CI and this machine are.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as e:
        raise StepFailed(f"could not start {CHROMIUM} via {CHROMEDRIVER}: {e.msg}") from e


def dismiss_dialogs(driver: WebDriver, settle_s: float = 5.0) -> None:
    """Close the first-run "What's New" (changelog) dialog if it shows within `settle_s` seconds."""
    deadline = time.time() + settle_s
    while time.time() < deadline:
        buttons = [b for b in driver.find_elements(By.XPATH, "//button[normalize-space(.)=\"Okay, Let's Go!\"]")
                   if b.is_displayed()]
        if buttons:
            buttons[0].click()
            WebDriverWait(driver, 10).until(ec.invisibility_of_element(buttons[0]))
            return
        time.sleep(0.5)


def select_model(driver: WebDriver, model: str) -> None:
    """Pick `model` in the model selector above the chat box unless it is already picked."""
    button = driver.find_element(By.ID, "model-selector-model-button")
    if button.get_attribute("aria-label") == f"Selected model: {model}":
        return
    button.click()
    try:
        WebDriverWait(driver, 15).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, f'button[role="option"][data-value="{model}"]'))
        ).click()
    except TimeoutException as e:
        raise StepFailed(f"model {model!r} is not in Open WebUI's model list (is the vLLM connection up?)") from e
    label = driver.find_element(By.ID, "model-selector-model-button").get_attribute("aria-label")
    if label != f"Selected model: {model}":
        raise StepFailed(f"could not select model {model!r} (selector says {label!r})")


def send_question(driver: WebDriver, question: str) -> None:
    """Type `question` into the chat box (a ProseMirror editor) and press the send button."""
    box = driver.find_element(By.ID, "chat-input")
    box.click()
    box.send_keys(question)
    try:
        WebDriverWait(driver, 15).until(ec.element_to_be_clickable((By.ID, "send-message-button"))).click()
    except TimeoutException as e:
        raise StepFailed("the send button did not become clickable after typing the question") from e


def _finished_answer(driver: WebDriver) -> str | None:
    """The last assistant message's text once streaming has finished, else None.

    While tokens stream, the send button is replaced by a "Stop" button; a finished reply gets the
    action row with the regenerate button.
    """
    if driver.find_elements(By.CSS_SELECTOR, 'button[aria-label="Stop"]'):
        return None
    if not driver.find_elements(By.CLASS_NAME, "regenerate-response-button"):
        return None
    replies = driver.find_elements(By.ID, "response-content-container")
    text = replies[-1].text.strip() if replies else ""
    return text or None


def wait_for_answer(driver: WebDriver, base_url: str, timeout_s: float) -> str:
    """Wait until the answer finished streaming; check Open WebUI stored it as a reply, not an error."""
    try:
        answer = WebDriverWait(driver, timeout_s, poll_frequency=1.0).until(_finished_answer)
    except TimeoutException as e:
        raise StepFailed(f"no finished answer in the page within {timeout_s:.0f} s") from e
    # An upstream error (say vLLM's HTTP 400) renders in the same place as an answer; the saved chat
    # tells them apart.
    chat_id = driver.current_url.rstrip("/").rsplit("/c/", 1)[-1]
    try:
        chat = _api(base_url, f"/api/v1/chats/{chat_id}", _sign_in(base_url))["chat"]
    except (urllib.error.URLError, KeyError) as e:
        raise StepFailed(f"could not read back chat {chat_id} from Open WebUI: {e}") from e
    last = [m for m in chat["history"]["messages"].values() if m.get("role") == "assistant"][-1]
    if last.get("error"):
        raise StepFailed(f"Open WebUI shows an error instead of an answer: {last['error']}")
    if not last.get("done") or not (last.get("content") or "").strip():
        raise StepFailed(f"the saved reply is not a finished answer: {last!r}")
    return answer


def main() -> int:
    """Run the chat in the page; print the answer and where the screenshot went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screenshot", nargs="?", default=DEFAULT_SCREENSHOT, help="PNG to write")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="Open WebUI's address")
    parser.add_argument("--model", default="smollm2", help="model id as vLLM serves it")
    parser.add_argument("--question", default="What is the capital of France?")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the answer")
    args = parser.parse_args()
    base_url = args.url.rstrip("/")
    driver: WebDriver | None = None
    try:
        configure_model(base_url, args.model)
        driver = start_browser()
        t0 = time.time()
        driver.get(base_url + "/")
        try:
            WebDriverWait(driver, 120).until(ec.element_to_be_clickable((By.ID, "chat-input")))
        except TimeoutException as e:
            raise StepFailed(f"Open WebUI's chat box did not show at {base_url} within 120 s") from e
        dismiss_dialogs(driver)
        select_model(driver, args.model)
        print(f"page ready in {time.time() - t0:.1f} s; asking {args.model}: {args.question}", flush=True)
        t1 = time.time()
        send_question(driver, args.question)
        answer = wait_for_answer(driver, base_url, args.timeout)
        print(f"answer in {time.time() - t1:.1f} s: {answer}", flush=True)
        shot = Path(args.screenshot)
        shot.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(shot)):
            raise StepFailed(f"could not write the screenshot {shot}")
        print(f"screenshot: {shot}")
        return 0
    except StepFailed as e:
        print(f"open_webui_chat: {e}", file=sys.stderr)
        return 1
    except WebDriverException as e:
        print(f"open_webui_chat: browser step failed: {e.msg}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()


if __name__ == "__main__":
    sys.exit(main())
