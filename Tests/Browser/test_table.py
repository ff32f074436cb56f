"""Browser tests of the data table: every row reachable through virtual scrolling, mouse and keyboard selection,
sort, search, filters, pin, CSV/JSON export and the selection restored from the URL (the 67,349-row table:
test_table_67k.py)."""
import csv
import io
import json
import re

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import DATASET

TABLE = 'section.module[data-module="table"]'


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
