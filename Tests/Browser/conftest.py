"""Browser tests of Loupe's page: a real headless Chromium (Debian's chromium + chromium-driver) driven by selenium
against `loupe serve` on the test fixtures. Run: `pytest Tests/Browser` with LOUPE=path/to/loupe (default
.build/release/loupe). LOUPE_UI_DIR=Sources/Server/Public serves the page's files from disk (development).
Screenshots go to $LOUPE_UI_ARTIFACTS (default /tmp/loupe-ui-artifacts)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
LOUPE = os.environ.get("LOUPE", os.path.join(ROOT, ".build", "release", "loupe"))
ARTIFACTS = os.environ.get("LOUPE_UI_ARTIFACTS", "/tmp/loupe-ui-artifacts")
DATASET = "sst2-dev"
DATASET_FILE = os.path.join(FIXTURES, "ui", "sst2_dev_60.tsv")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `loupe serve` process on a free loopback port, with its own cache directory."""

    def __init__(self, models, datasets, runs=(), extra=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cache = tempfile.mkdtemp(prefix="loupe-ui-cache-")
        args = [LOUPE, "serve", "--port", str(self.port), "--cache-dir", self.cache]
        for name, path in models:
            args += ["--model", f"{name}={path}"]
        for name, path in datasets:
            args += ["--data", f"{name}={path}"]
        for r in runs:
            args += ["--run", r]
        if os.environ.get("LOUPE_UI_DIR"):
            args += ["--ui-dir", os.environ["LOUPE_UI_DIR"]]
        args += list(extra)
        self.log = open(os.path.join(self.cache, "serve.log"), "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"loupe serve exited: {open(self.log.name).read()}")
            try:
                urllib.request.urlopen(self.url + "/api/info", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("loupe serve did not answer within 120 s")

    def get(self, path):
        return json.loads(urllib.request.urlopen(self.url + path, timeout=60).read())

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        try:
            return json.loads(urllib.request.urlopen(req, timeout=120).read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"POST {path} -> {e.code}: {e.read().decode(errors='replace')}") from None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.cache, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """BERT-tiny (classifier), the MLM and GPT-2 fixtures on 60 SST-2 dev sentences, with a run's curves."""
    s = Server(
        models=[("bert-tiny", os.path.join(FIXTURES, "bert_tiny_cls.h5")),
                ("gpt2", os.path.join(FIXTURES, "gpt2_tiny.h5"))],
        datasets=[(DATASET, DATASET_FILE)],
        runs=[os.path.join(FIXTURES, "ui", "run")])
    yield s
    s.stop()


def make_driver():
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900",
              "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync",
              "--disable-component-update", "--disable-default-apps"]:
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)


@pytest.fixture(scope="session")
def driver():
    d = make_driver()
    yield d
    d.quit()


class Page:
    """The page under test: open it, wait for things, read the console, take screenshots."""

    def __init__(self, driver, server):
        self.d = driver
        self.server = server

    def open(self, hash_="", wait_rows=True):
        self.d.get("about:blank")
        self.d.get_log("browser")  # drop what earlier tests left
        self.d.get(self.server.url + "/" + hash_)
        self.wait(lambda d: d.execute_script("return !!window.loupe"), "the app to start")
        if wait_rows:
            self.wait(lambda d: len(self.rows()) > 0, "the data table's rows")
        return self

    def wait(self, condition, what, timeout=20):
        """Waits for `condition`, retrying when a module redrew the element it read (a stale reference)."""
        return WebDriverWait(self.d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            condition, f"timed out waiting for {what}")

    def total(self):
        """How many examples the dataset has now (other tests add some)."""
        return self.server.get(f"/api/datasets/{DATASET}/examples?limit=1")["total"]

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def state(self):
        """The shared state's fields (selection, primary, pinned, models, …)."""
        return self.js("const f = window.loupe.state.fields; return JSON.parse(JSON.stringify(f));")

    def module(self, name, model=None):
        sel = f'section.module[data-module="{name}"]' + (f'[data-model="{model}"]' if model else "")
        return self.d.find_element(By.CSS_SELECTOR, sel)

    def rows(self):
        return self.d.find_elements(By.CSS_SELECTOR, 'section[data-module="table"] [data-row-id]')

    def tab(self, tab_id):
        self.d.find_element(By.ID, f"tab-{tab_id}").click()
        self.wait(lambda d: self.state()["tab"] == tab_id, f"tab {tab_id}")

    def console_errors(self):
        return [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"]

    def screenshot(self, name, element=None):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{name}.png")
        (element or self.d).screenshot(path) if element is not None else self.d.save_screenshot(path)
        return path


@pytest.fixture
def page(driver, server):
    return Page(driver, server)
