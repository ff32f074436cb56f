"""Browser tests of the data table: every row reachable through virtual scrolling, mouse and keyboard selection,
sort, search, filters, pin, CSV/JSON export, the selection restored from the URL, and the 67,349-row SST-2-train
sized table: scrolling frame times and search/sort times measured in the page (written to the artefacts dir)."""
import csv
import io
import json
import os
import re
import shutil
import tempfile

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ARTIFACTS, DATASET, DATASET_FILE, FIXTURES, Page, Server

TABLE = 'section.module[data-module="table"]'
BIG = 67349


def all_examples(server, dataset=DATASET):
    first = server.get(f"/api/datasets/{dataset}/examples?offset=0&limit=1000")
    out = first["examples"]
    while len(out) < first["total"]:
        out += server.get(f"/api/datasets/{dataset}/examples?offset={len(out)}&limit=1000")["examples"]
    return out


def open_table(page, hash_=""):
    """Opens the page and waits until the table counts every example of the dataset."""
    n = page.server.get(f"/api/datasets/{DATASET}/examples?limit=1")["total"]
    page.open(hash_)
    page.wait(lambda d: count(page)["total"] == n, f"the table to count {n} rows")
    return n


def count(page):
    el = page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-count")
    return {k: int(el.get_attribute(f"data-{k}") or -1) for k in ("shown", "total", "selected")} | {"text": el.text}


def row(page, ex_id):
    return page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-row-id="{ex_id}"]')


def grid(page):
    return page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-grid")


def shown_ids(page):
    """The ids of the drawn rows, top to bottom."""
    return page.js(f"""return [...document.querySelectorAll('{TABLE} [data-row-id]')]
        .sort((a, b) => +a.getAttribute('aria-rowindex') - +b.getAttribute('aria-rowindex')).map(r => r.dataset.rowId)""")


def selected_rows(page):
    return sorted(r.get_attribute("data-row-id") for r in page.rows() if r.get_attribute("aria-selected") == "true")


def modifier_click(page, el, key):
    ActionChains(page.d).key_down(key).click(el).key_up(key).perform()


def wait_predictions(page, n, model="bert-tiny"):
    page.wait(lambda d: page.js(f"return window.loupe.data.predictions.get('{model}')?.size || 0") >= n,
              f"{model}'s predictions", timeout=60)


def test_every_row_is_reachable_by_scrolling(page, server):
    examples = all_examples(server)
    n = open_table(page)
    assert n == len(examples)
    g = grid(page)
    assert g.get_attribute("role") == "grid" and g.get_attribute("tabindex") == "0"
    assert g.get_attribute("aria-rowcount") == str(n + 1)  # + the header row
    drawn = len(page.rows())
    assert 0 < drawn < n, f"{drawn} rows drawn of {n}: the table must draw only what is in view"
    seen = set()
    height = page.js("return arguments[0].scrollHeight", g)
    for top in range(0, height + 200, 200):
        page.js("arguments[0].scrollTop = arguments[1]", g, top)
        page.wait(lambda d: page.js("return arguments[0].scrollTop", g) >= min(top, height - g.size["height"]) - 1, "scroll")
        seen |= set(shown_ids(page))
    assert seen == {e["id"] for e in examples}
    c = count(page)
    assert c["shown"] == n and f"{n} of {n} rows" in c["text"].replace(",", "")
    assert page.console_errors() == []


def test_click_ctrl_shift_and_keys_select(page):
    open_table(page)
    row(page, "3").click()
    page.wait(lambda d: page.state()["selection"] == ["3"], "a click to select row 3")
    assert page.state()["primary"] == "3" and selected_rows(page) == ["3"]
    assert row(page, "3").get_attribute("data-primary") == "true"
    modifier_click(page, row(page, "5"), Keys.CONTROL)
    page.wait(lambda d: page.state()["selection"] == ["3", "5"], "ctrl-click to add row 5")
    assert page.state()["primary"] == "5" and selected_rows(page) == ["3", "5"]
    modifier_click(page, row(page, "3"), Keys.CONTROL)
    page.wait(lambda d: page.state()["selection"] == ["5"], "ctrl-click to remove row 3")
    row(page, "2").click()
    modifier_click(page, row(page, "6"), Keys.SHIFT)
    page.wait(lambda d: page.state()["selection"] == ["2", "3", "4", "5", "6"], "shift-click to select rows 2-6")
    assert page.state()["primary"] == "6" and selected_rows(page) == ["2", "3", "4", "5", "6"]
    g = grid(page)
    g.send_keys(Keys.ARROW_DOWN)
    page.wait(lambda d: page.state()["selection"] == ["7"] and page.state()["primary"] == "7", "↓ to move to row 7")
    g.send_keys(Keys.SHIFT, Keys.ARROW_DOWN)
    g.send_keys(Keys.SHIFT, Keys.ARROW_DOWN)
    page.wait(lambda d: page.state()["selection"] == ["7", "8", "9"], "shift+↓ to extend to row 9")
    assert page.state()["primary"] == "9" and selected_rows(page) == ["7", "8", "9"]
    page.screenshot("table", page.module("table"))
    g.send_keys(Keys.ARROW_UP)
    page.wait(lambda d: page.state()["selection"] == ["8"], "↑ to move to row 8")
    last = all_examples(page.server)[-1]["id"]
    g.send_keys(Keys.END)
    page.wait(lambda d: page.state()["primary"] == last, "End to go to the last row")
    assert row(page, last).get_attribute("aria-selected") == "true"  # drawn: scrolled into view
    g.send_keys(Keys.SPACE)
    page.wait(lambda d: page.state()["selection"] == [], "Space to deselect the last row")
    g.send_keys(Keys.SPACE)
    page.wait(lambda d: page.state()["selection"] == [last], "Space to select it again")
    g.send_keys(Keys.HOME)
    page.wait(lambda d: page.state()["primary"] == "0", "Home to go to the first row")
    g.send_keys("p")
    page.wait(lambda d: page.state()["pinned"] == "0", "P to pin the primary")
    assert row(page, "0").get_attribute("data-pinned") == "true"
    assert page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-pin").get_attribute("aria-pressed") == "true"
    g.send_keys("p")
    page.wait(lambda d: page.state()["pinned"] is None, "P to unpin")
    g.send_keys(Keys.ESCAPE)
    page.wait(lambda d: page.state()["selection"] == [] and selected_rows(page) == [], "Escape to clear")
    assert page.console_errors() == []


def test_sort_by_clicking_and_enter_on_headers(page, server):
    examples = all_examples(server)
    n = open_table(page)
    header = page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-sort-key="text"]')  # kept across sorts (focus)
    by_text = sorted(range(n), key=lambda i: (examples[i]["text"].lower(), i))
    header.click()
    page.wait(lambda d: shown_ids(page)[0] == examples[by_text[0]]["id"], "text ascending")
    assert header.get_attribute("aria-sort") == "ascending"
    assert shown_ids(page)[:5] == [examples[i]["id"] for i in by_text[:5]]
    header.click()
    last_text = examples[by_text[-1]]["text"].lower()
    page.wait(lambda d: examples_by_id(examples)[shown_ids(page)[0]]["text"].lower() == last_text, "text descending")
    assert "p.table.sort=text%3Adesc" in page.js("return location.hash")
    header.click()
    page.wait(lambda d: shown_ids(page)[:3] == [e["id"] for e in examples[:3]], "the dataset order again")
    assert header.get_attribute("aria-sort") == "none"
    # Enter on a focused header sorts (keyboard).
    header.send_keys(Keys.ENTER)
    page.wait(lambda d: shown_ids(page)[0] == examples[by_text[0]]["id"], "Enter on the text header to sort")
    # By confidence, descending: the most confident prediction first.
    wait_predictions(page, n)
    conf = page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-sort-key="conf:bert-tiny"]')
    conf.click()
    conf.click()
    best = page.js("const d = window.loupe.data; return Math.max(...d.examples.map(e => d.confidence('bert-tiny', e.id)))")
    page.wait(lambda d: abs(page.js(f"return window.loupe.data.confidence('bert-tiny', '{shown_ids(page)[0]}')") - best) < 1e-9,
              "the most confident row first")
    assert page.console_errors() == []


def examples_by_id(examples):
    return {e["id"]: e for e in examples}


def test_search_substring_and_regex(page, server):
    examples = all_examples(server)
    open_table(page)
    search = page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-search")
    search.send_keys("FILM")
    want = [e["id"] for e in examples if "film" in e["text"].lower()]
    assert 0 < len(want) < len(examples)
    page.wait(lambda d: count(page)["shown"] == len(want), f"{len(want)} rows containing 'film'")
    assert set(shown_ids(page)) <= set(want)
    assert all("film" in r.text.lower() for r in page.rows())
    assert "p.table.q=FILM" in page.js("return location.hash")
    search.clear()
    search.send_keys("/^(the|a) .*s$/")
    rx = re.compile(r"^(the|a) .*s$", re.I)
    want = [e["id"] for e in examples if rx.search(e["text"])]
    page.wait(lambda d: count(page)["shown"] == len(want), f"{len(want)} rows matching the regex")
    search.clear()
    search.send_keys("/(/")
    page.wait(lambda d: search.get_attribute("aria-invalid") == "true", "an invalid regex to be flagged")
    assert count(page)["shown"] == len(examples)
    search.clear()
    search.send_keys("zzqqxx")
    page.wait(lambda d: count(page)["shown"] == 0, "no row")
    empty = page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-overlay")
    assert "No example matches" in empty.text
    empty.find_element(By.TAG_NAME, "button").click()
    page.wait(lambda d: count(page)["shown"] == len(examples), "Clear to show every row")
    assert search.get_attribute("value") == ""
    assert page.console_errors() == []


def test_filters_label_correctness_and_only_selected(page, server):
    from selenium.webdriver.support.ui import Select
    examples = all_examples(server)
    n = open_table(page)
    Select(page.d.find_element(By.CSS_SELECTOR, f'{TABLE} select[aria-label="Filter by gold label"]')).select_by_value("0")
    want = sum(1 for e in examples if e.get("label") == "0")
    page.wait(lambda d: count(page)["shown"] == want, f"{want} rows labelled 0")
    assert {r.find_element(By.CSS_SELECTOR, ".dt-c-label").text for r in page.rows()} == {"negative"}
    Select(page.d.find_element(By.CSS_SELECTOR, f'{TABLE} select[aria-label="Filter by gold label"]')).select_by_value("")
    wait_predictions(page, n)
    Select(page.d.find_element(By.CSS_SELECTOR, f'{TABLE} select[aria-label="Filter by correctness"]')).select_by_value("wrong")
    wrong = page.js("const d = window.loupe.data; return d.examples.filter(e => d.correct('bert-tiny', e.id) === false).length")
    assert 0 < wrong < n
    page.wait(lambda d: count(page)["shown"] == wrong, f"{wrong} wrong rows")
    assert all(r.find_element(By.CSS_SELECTOR, ".dt-c-ok").text == "✗" for r in page.rows())
    Select(page.d.find_element(By.CSS_SELECTOR, f'{TABLE} select[aria-label="Filter by correctness"]')).select_by_value("")
    page.js("window.loupe.state.select(['4', '9', '11'], 'test', '9')")
    page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-only input").click()
    page.wait(lambda d: count(page)["shown"] == 3, "only the 3 selected rows")
    assert sorted(shown_ids(page)) == ["11", "4", "9"]
    assert "3 of" in count(page)["text"] and "3 selected" in count(page)["text"]
    page.d.find_element(By.CSS_SELECTOR, f"{TABLE} .dt-only input").click()
    page.wait(lambda d: count(page)["shown"] == n, "every row again")
    assert page.console_errors() == []


CAPTURE = """
window.__exports = [];
URL.createObjectURL = (blob) => { blob.text().then(t => window.__exports.push({type: blob.type, text: t})); return 'blob:captured'; };
URL.revokeObjectURL = () => {};
HTMLAnchorElement.prototype.click = function () { window.__exports.names = (window.__exports.names || []).concat(this.download); };
"""


def test_export_csv_and_json(page, server):
    tricky = 'he said "no , thanks"\nand left'
    added = server.post("/api/examples", {"dataset": DATASET, "examples": [{"id": "", "text": tricky, "label": "0"}]})["examples"][0]
    n = open_table(page)
    wait_predictions(page, n)
    page.js(CAPTURE)
    page.js(f"window.loupe.state.select(['3', {json.dumps(added['id'])}], 'test', '3')")
    page.wait(lambda d: count(page)["selected"] == 2, "two selected")
    page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-export="csv"]').click()
    page.wait(lambda d: page.js("return window.__exports.length") == 1, "the CSV blob")
    blob = page.js("return window.__exports[0]")
    assert blob["type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(blob["text"], newline="")))
    assert rows[0][:4] == ["id", "text", "label", "parent"] and "bert-tiny prediction" in rows[0]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {"3", added["id"]}
    assert by_id[added["id"]][1] == tricky  # quotes, comma and line break survive
    assert by_id["3"][1] == examples_by_id(all_examples(server))["3"]["text"]
    pred = server.post("/api/predict", {"model": "bert-tiny", "dataset": DATASET, "ids": ["3"]})["predictions"][0]
    assert by_id["3"][rows[0].index("bert-tiny prediction")] == pred["label"]
    # JSON of every shown row when nothing is selected.
    page.js("window.loupe.state.select([], 'test')")
    page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-export="json"]').click()
    page.wait(lambda d: page.js("return window.__exports.length") == 2, "the JSON blob")
    data = json.loads(page.js("return window.__exports[1].text"))
    assert len(data) == n and data[3]["predictions"]["bert-tiny"]["prediction"] == pred["label"]
    assert page.js("return window.__exports.names") == [f"{DATASET}-selection.csv", f"{DATASET}-rows.json"]
    assert page.console_errors() == []


def test_url_restores_the_selection_and_shows_the_primary(page, server):
    examples = all_examples(server)
    open_table(page)
    row(page, "2").click()
    modifier_click(page, row(page, "5"), Keys.CONTROL)
    page.wait(lambda d: "selection=2%2C5" in page.js("return location.hash"), "the selection in the URL")
    page.d.refresh()
    page.wait(lambda d: page.js("return !!window.loupe") and len(page.rows()) > 0, "the page after reload")
    page.wait(lambda d: selected_rows(page) == ["2", "5"], "rows 2 and 5 selected after reload")
    assert page.state()["selection"] == ["2", "5"] and page.state()["primary"] == "5"
    assert row(page, "5").get_attribute("data-primary") == "true"
    # A primary far down (chosen elsewhere) is scrolled into view, also after a reload.
    last = examples[-1]["id"]
    page.js(f"window.loupe.state.select(['2', {json.dumps(last)}], 'test', {json.dumps(last)})")
    page.wait(lambda d: last in shown_ids(page), "the primary scrolled into view")
    page.d.refresh()
    page.wait(lambda d: page.js("return !!window.loupe") and last in shown_ids(page), "the last row drawn after reload")
    g = grid(page)
    box = page.js("const r = arguments[0].getBoundingClientRect(), g = arguments[1].getBoundingClientRect();"
                  "return [r.top, r.bottom, g.top, g.bottom]", row(page, last), g)
    assert box[2] <= box[0] and box[1] <= box[3] + 1, f"row {last} not inside the grid: {box}"
    assert page.state()["primary"] == last
    assert page.console_errors() == []


# ---- 67,349 rows (the size of SST-2 train) ----

@pytest.fixture(scope="module")
def big_server():
    """bert-tiny on 67,349 SST-2-like sentences built from the fixture's 60 (numbered, so every text differs)."""
    tmp = tempfile.mkdtemp(prefix="loupe-ui-big-")
    with open(DATASET_FILE) as f:
        lines = f.read().splitlines()[1:]
    sentences = [l.rsplit("\t", 1) for l in lines if l.strip()]
    path = os.path.join(tmp, "train.tsv")
    with open(path, "w") as f:
        f.write("sentence\tlabel\n")
        texts = []
        for k in range(BIG):
            text, label = sentences[k % len(sentences)]
            texts.append(f"{text} ({k // len(sentences)})")
            f.write(f"{texts[-1]}\t{label}\n")
    s = Server(models=[("bert-tiny", os.path.join(FIXTURES, "bert_tiny_cls.h5"))], datasets=[("sst2-train", path)])
    s.texts = texts
    # The page predicts all 67k rows in the background while the test scrolls; on a 2-core machine the server's
    # inference threads would take both cores and the frame times would measure them, not the table. The server
    # gets one core at a lower priority (every thread), the browser the other.
    for tid in os.listdir(f"/proc/{s.process.pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {0})
            os.setpriority(os.PRIO_PROCESS, int(tid), 10)
        except OSError:
            pass
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


SCROLL = """
const done = arguments[arguments.length - 1];
const g = document.querySelector('section[data-module="table"] .dt-grid');
const max = g.scrollHeight - g.clientHeight;
const plan = [];
for (let k = 1; k <= 240; k++) plan.push(Math.min(max, k * 37));            // smooth: 37 px a frame
for (let k = 1; k <= 240; k++) plan.push(Math.round(max * k / 240));        // jumps through all 67k rows
for (let k = 1; k <= 120; k++) plan.push(Math.round(max * (1 - k / 120)));  // and back up
const frames = [], wrong = [];
let events = 0;
window.loupe.data.subscribe(e => { if (e === 'predictions') events++; });
let last = 0, k = 0;
function step(now) {
  if (last) frames.push(now - last);
  last = now;
  // What the previous frame showed: a drawn row at the top of the viewport.
  if (k > 0) {
    const want = Math.floor(g.scrollTop / 24);
    const ids = [...g.querySelectorAll('[data-row-id]')].map(r => +r.getAttribute('aria-rowindex') - 2);
    if (!ids.includes(want)) wrong.push(want);
  }
  if (k === plan.length) { done({frames, wrong, max, events, drawn: g.querySelectorAll('[data-row-id]').length}); return; }
  g.scrollTop = plan[k++];
  requestAnimationFrame(step);
}
requestAnimationFrame(step);
"""


def test_67k_rows_scroll_without_dropped_frames_and_search_fast(driver, big_server):
    page = Page(driver, big_server)
    page.open("#dataset=sst2-train", wait_rows=False)
    page.wait(lambda d: page.js("return window.loupe.data.examples.length") == BIG, f"{BIG} examples", timeout=180)
    page.wait(lambda d: count(page)["total"] == BIG and count(page)["shown"] == BIG, f"the table to count {BIG} rows")
    assert grid(page).get_attribute("aria-rowcount") == str(BIG + 1)
    driver.set_script_timeout(120)
    result = driver.execute_async_script(SCROLL)
    frames = sorted(result["frames"])
    p95 = frames[int(0.95 * (len(frames) - 1))]
    long_frames = [f for f in frames if f > 100]
    # Search, regex and sort over 67k rows: the table's own timing of its filter pass, and input → count.
    timings = {}
    for name, q in [("search", "charming"), ("regex", "/^(the|a) /"), ("clear", "")]:
        timings[name] = driver.execute_async_script("""
            const [q, done] = arguments;
            const input = document.querySelector('section[data-module="table"] .dt-search');
            const countEl = document.querySelector('section[data-module="table"] .dt-count');
            const before = countEl.dataset.shown, t0 = performance.now();
            input.value = q; input.dispatchEvent(new Event('input'));
            (function wait() {
              if (countEl.dataset.shown !== before || performance.now() - t0 > 5000)
                done({filter_ms: +document.querySelector('section[data-module="table"] .dt-grid').dataset.filterMs,
                      input_to_count_ms: performance.now() - t0, shown: +countEl.dataset.shown});
              else requestAnimationFrame(wait);
            })();""", q)
    timings["sort_text"] = driver.execute_async_script("""
        const done = arguments[0];
        const h = document.querySelector('section[data-module="table"] [data-sort-key="text"]');
        const g = document.querySelector('section[data-module="table"] .dt-grid');
        const t0 = performance.now(); h.click();
        (function wait() {
          if (h.getAttribute('aria-sort') === 'ascending' || performance.now() - t0 > 5000)
            done({filter_ms: +g.dataset.filterMs, input_to_count_ms: performance.now() - t0});
          else requestAnimationFrame(wait);
        })();""")
    numbers = {"load_average": os.getloadavg(), "prediction_chunks_during_scroll": result["events"], "rows": BIG, "frames": len(frames), "p50_ms": frames[len(frames) // 2], "p95_ms": p95,
               "max_ms": frames[-1], "long_frames_over_100ms": len(long_frames), "rows_drawn": result["drawn"],
               "frames_missing_their_top_row": len(result["wrong"]), "timings": timings}
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "table-67k.json"), "w") as f:
        json.dump(numbers, f, indent=2)
    print(json.dumps(numbers))
    assert result["drawn"] < 200, "the table must draw only the rows in view"
    assert result["wrong"] == [], f"frames whose top row was not drawn: {result['wrong'][:10]}"
    assert p95 < 50, numbers
    assert len(long_frames) <= 2, numbers
    assert timings["search"]["shown"] == sum(1 for t in big_server.texts if "charming" in t.lower()) > 0
    assert timings["regex"]["shown"] == sum(1 for t in big_server.texts if re.search(r"^(the|a) ", t, re.I))
    assert timings["clear"]["shown"] == BIG
    for name in ("search", "regex", "clear"):
        assert timings[name]["filter_ms"] < 100, numbers
    assert timings["sort_text"]["filter_ms"] < 100, numbers
    assert page.console_errors() == []
