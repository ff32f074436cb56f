"""The page as a whole: it loads with no console error and no request leaving the host, paints fast, says why a
module is hidden, keeps its state in the URL, answers keys, and is interactive on SST-2 dev within 2 s."""
import json
import os
import time
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ARTIFACTS, FIXTURES, ROOT, Server, make_driver, Page


def requested_urls(driver):
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_loads_cleanly_and_every_request_stays_on_the_host(page, server):
    page.d.get_log("performance")
    page.open()
    page.wait(lambda d: page.js("return window.loupe.data.predictions.get('bert-tiny')?.size || 0")
              == server.get("/api/datasets/sst2-dev/examples?limit=1")["total"], "every prediction")
    for tab in ["explain", "attention", "metrics", "embeddings", "counterfactuals", "tcav", "training"]:
        page.tab(tab)
    urls = requested_urls(page.d)
    assert urls, "the performance log recorded no request"
    host = urlparse(server.url).netloc
    leaving = [u for u in urls if not u.startswith(("data:", "blob:")) and urlparse(u).netloc != host]
    assert leaving == [], f"requests left the host: {leaving}"
    assert any(u.endswith("/ui/app.js") for u in urls)
    paint = page.js("return performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
    assert paint is not None and paint < 1000, f"first contentful paint at {paint} ms"
    assert page.console_errors() == []


def test_hidden_modules_say_why(page):
    page.open("#models=gpt2")
    page.tab("metrics")
    metrics = page.module("metrics")
    assert "not shown" in metrics.text and "gpt2" in metrics.text, metrics.text
    page.tab("tcav")
    assert "not shown" in page.module("tcav").text
    assert page.console_errors() == []


def test_state_lives_in_the_url_and_keys_work(page, server):
    page.open("#tab=metrics")
    assert page.state()["tab"] == "metrics"
    body = page.d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ALT, "2")
    page.wait(lambda d: page.state()["tab"] == "attention", "Alt+2 to open the second tab")
    assert "tab=attention" in page.js("return location.hash")
    page.js("window.loupe.state.select(['1', '2'], 'test', '2')")
    page.wait(lambda d: "selection=1%2C2" in page.js("return location.hash"), "the selection in the URL")
    page.d.refresh()
    page.wait(lambda d: page.js("return !!window.loupe"), "the page after reload")
    state = page.state()
    assert state["selection"] == ["1", "2"] and state["primary"] == "2" and state["tab"] == "attention"
    page.d.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    page.wait(lambda d: page.state()["selection"] == [], "Escape to clear the selection")
    # A link naming ids that are not in the dataset: they are dropped and the status bar says so.
    page.open("#selection=1%2Cno-such-id&primary=1")
    page.wait(lambda d: "no-such-id" in d.find_element(By.ID, "status").text, "the status bar to name the bad id")
    assert page.state()["selection"] == ["1"]


def shared_dev():
    base = os.environ.get("LOUPE_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
    return os.path.join(base, "sst2", "dev.tsv")


def test_sst2_dev_is_interactive_within_two_seconds_of_ready():
    """`loupe serve --warm-start` on SST-2 dev (872 sentences): from the moment the server answers, the page must
    show every row with its prediction within 2 s (the issue's budget), and paint within 1 s."""
    dev = shared_dev()
    assert os.path.exists(dev), f"SST-2 dev not found at {dev} (set LOUPE_DATA_DIR)"
    s = Server(models=[("bert-tiny", os.path.join(FIXTURES, "bert_tiny_cls.h5"))], datasets=[("sst2-dev", dev)],
               extra=["--warm-start"])
    d = make_driver()
    try:
        page = Page(d, s)
        start = time.perf_counter()
        d.get(s.url + "/")
        page.wait(lambda _: page.js(
            "const l = window.loupe; return !!l && l.data.examples.length === 872 && "
            "(l.data.predictions.get('bert-tiny')?.size || 0) === 872"), "872 rows with predictions", timeout=30)
        page.wait(lambda _: len(page.rows()) > 0, "rows drawn")
        ready = time.perf_counter() - start
        paint = page.js("return performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, "interactive.json"), "w") as f:
            json.dump({"interactive_seconds": ready, "first_contentful_paint_ms": paint}, f)
        assert paint is not None and paint < 1000, f"first paint {paint} ms"
        assert ready < 2.0, f"interactive after {ready:.2f} s"
        assert page.console_errors() == []
    finally:
        d.quit()
        s.stop()


def test_a_server_error_shows_in_the_status_bar(page):
    """IG with more steps than the server allows (256): the server's 400 message, naming the field and the limit,
    appears in the status bar."""
    page.open("#selection=3&primary=3")
    panel = page.wait(lambda d: d.find_element(
        By.CSS_SELECTOR, 'section[data-module="salience"] details[data-method="ig"]'), "the IG panel")
    if panel.get_attribute("open") is None:
        panel.find_element(By.TAG_NAME, "summary").click()
    steps = panel.find_element(By.CSS_SELECTOR, 'input[data-field="steps"]')
    steps.clear()
    steps.send_keys("1000")
    panel.find_element(By.CSS_SELECTOR, '[data-action="run"]').click()
    status = page.d.find_element(By.ID, "status")
    page.wait(lambda d: "256" in status.text, "the server's limit message in the status bar")
    assert "steps" in status.text and status.get_attribute("data-kind") == "error", status.text
    page.screenshot("status-error")
    # The browser logs the 400 itself; nothing else may be logged.
    errors = [e for e in page.console_errors() if "status of 400" not in e["message"]]
    assert errors == []
