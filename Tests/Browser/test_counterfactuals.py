"""Browser tests of the counterfactuals module: the word replacer (with a rule that matches example 3's text) and
the scrambler make child examples that are shown with their predictions; adding them grows the dataset by that
many, keeps their parent and selects them; HotFlip's flips are marked and 'Add all flips' adds exactly those; a
whole selection larger than the server's per-call cap is generated in batches; a new primary drops the list."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import DATASET

CF = 'section.module[data-module="counterfactuals"][data-model="bert-tiny"]'
EMPTY = "Select an example in the table, choose a generator, and press Generate"


def total(page):
    return page.total()


def wait(page, condition, what, timeout=20):
    return page.wait(condition, what, timeout)


def all_examples(page):
    n = total(page)
    out = []
    for offset in range(0, n, 1000):
        out += page.server.get(f"/api/datasets/{DATASET}/examples?offset={offset}&limit=1000")["examples"]
    return {e["id"]: e for e in out}


def find(page, css):
    return page.d.find_element(By.CSS_SELECTOR, f"{CF} {css}")


def finds(page, css):
    return page.d.find_elements(By.CSS_SELECTOR, f"{CF} {css}")


def open_cf(page):
    n = total(page)
    page.open(f"#dataset={DATASET}&models=bert-tiny&tab=counterfactuals", wait_rows=False)
    wait(page, lambda d: page.js("return window.loupe.data.examples.length") == n, "the dataset to load")
    return n


def select_example(page, ex_id):
    """Clicks the example's table row (falls back to the shared state when the table draws no such row)."""
    rows = page.d.find_elements(By.CSS_SELECTOR, f'section[data-module="table"] [data-row-id="{ex_id}"]')
    if rows:
        page.js("arguments[0].scrollIntoView({block: 'center'})", rows[0])
        rows[0].click()
    else:
        page.js("window.loupe.state.select([arguments[0]], 'test', arguments[0])", ex_id)
    wait(page, lambda d: page.state()["primary"] == ex_id, f"example {ex_id} to be the primary")


def choose(page, generator, **config):
    Select(find(page, '[data-control="generator"]')).select_by_value(generator)
    for name, value in config.items():
        box = find(page, f'[data-field="{name}"]')
        box.clear()
        box.send_keys(str(value))


def generate(page, count):
    find(page, '[data-action="generate"]').click()
    wait(page, lambda d: len(finds(page, "tr[data-cf-id]")) == count and not finds(page, ".cf-review .loading"),
              f"{count} generated rows")
    return finds(page, "tr[data-cf-id]")


def add_and_check(page, before, button, texts, parent):
    """Presses `button`; the dataset grows by len(texts), the new examples keep `parent` and become selected."""
    find(page, f'[data-action="{button}"]').click()
    wait(page, lambda d: total(page) == before + len(texts), "the examples to be added on the server")
    wait(page, lambda d: len(page.state()["selection"]) == len(texts)
              and all(i in page.js("return [...window.loupe.data.byId.keys()]") for i in page.state()["selection"]),
              "the added examples to be selected")
    stored = all_examples(page)
    selected = page.state()["selection"]
    assert sorted(stored[i]["text"] for i in selected) == sorted(texts)
    assert all(stored[i]["parent"] == parent for i in selected)
    assert page.state()["primary"] in selected
    # The rows now say they were added (and as which id).
    wait(page, lambda d: sorted(r.get_attribute("data-added") for r in finds(page, "tr[data-added]")) == sorted(selected),
              "the rows to be marked as added")
    return selected


def test_word_replacer_children_are_added_with_their_parent_and_selected(page):
    n = open_cf(page)
    wait(page, lambda d: find(page, ".cf-review .empty").text == EMPTY, "the empty state")
    assert find(page, '[data-action="generate"]').get_attribute("disabled") is not None
    # Example 3: "the acting , costumes , music , cinematography and sound are all astounding given …"
    select_example(page, "3")
    rule = "astounding -> dreadful | dull"
    choose(page, "word-replacer", substitutions=rule)
    rows = generate(page, 2)
    want = page.server.post("/api/counterfactuals", {"model": "bert-tiny", "generator": "word-replacer",
                                                      "config": {"substitutions": rule}, "dataset": DATASET, "ids": ["3"]})
    want = want["counterfactuals"]
    parent_label = page.server.post("/api/predict", {"model": "bert-tiny", "dataset": DATASET, "ids": ["3"]})["predictions"][0]["label"]
    assert [r.find_element(By.CSS_SELECTOR, ".cf-text").get_attribute("data-text") for r in rows] == [c["example"]["text"] for c in want]
    # The edit is highlighted: the replaced word struck out, its replacement marked.
    assert rows[0].find_element(By.CSS_SELECTOR, ".cf-text").text.endswith("all astoundingdreadful given the production 's austere locales .")
    assert [r.find_element(By.CSS_SELECTOR, "ins.cf-to").text for r in rows] == ["dreadful", "dull"]
    assert [r.find_element(By.CSS_SELECTOR, "del.cf-from").text for r in rows] == ["astounding", "astounding"]
    for r, c in zip(rows, want):
        assert r.find_element(By.CSS_SELECTOR, ".cf-pred").text.startswith(c["prediction"]["label"])
        assert r.get_attribute("data-flip") == str(c["prediction"]["label"] != parent_label).lower()
    assert find(page, "div.cf-parent").get_attribute("data-parent-id") == "3"
    assert find(page, '[data-action="add-selected"]').get_attribute("disabled") is not None
    find(page, '[data-check="all"]').click()
    assert find(page, '[data-action="add-selected"]').text == "Add selected (2)"
    added = add_and_check(page, n, "add-selected", [c["example"]["text"] for c in want], "3")
    # The list outlives the primary moving to an added child; the table (when drawn) shows the new rows.
    assert len(finds(page, "tr[data-cf-id]")) == 2
    if page.d.find_elements(By.CSS_SELECTOR, 'section[data-module="table"] [data-row-id]'):
        wait(page, lambda d: page.d.find_elements(By.CSS_SELECTOR, f'section[data-module="table"] [data-row-id="{added[0]}"]'),
                  "the table to show the added row")
    page.screenshot("counterfactuals", page.module("counterfactuals"))
    assert page.console_errors() == []


def test_scrambler_children_are_added_and_a_new_primary_drops_the_list(page):
    n = open_cf(page)
    select_example(page, "3")
    choose(page, "scrambler", samples=3)
    rows = generate(page, 3)
    parent = all_examples(page)["3"]["text"]
    texts = [r.find_element(By.CSS_SELECTOR, ".cf-text").get_attribute("data-text") for r in rows]
    # Shuffles of the parent's words, no edits marked (every word moves).
    assert all(sorted(t.split()) == sorted(parent.split()) for t in texts)
    assert not finds(page, "ins.cf-to")
    for box in finds(page, 'input[data-check="row"]'):
        box.click()
    assert find(page, '[data-action="add-selected"]').text == "Add selected (3)"
    add_and_check(page, n, "add-selected", texts, "3")
    # Another primary (not one of the children): the list goes, the empty state comes back.
    select_example(page, "7")
    wait(page, lambda d: not finds(page, "tr[data-cf-id]"), "the list to be dropped")
    assert "example 7" in find(page, ".cf-review .empty").text
    assert page.console_errors() == []


def test_hotflip_flips_are_marked_and_add_all_flips_adds_them(page):
    n = open_cf(page)
    select_example(page, "6")  # "a sometimes tedious film ." — BERT-tiny is unsure of it, so swaps flip it
    choose(page, "hotflip")
    want = page.server.post("/api/counterfactuals", {"model": "bert-tiny", "generator": "hotflip", "config": {},
                                                      "dataset": DATASET, "ids": ["6"]})["counterfactuals"]
    parent_label = page.server.post("/api/predict", {"model": "bert-tiny", "dataset": DATASET, "ids": ["6"]})["predictions"][0]["label"]
    flips = [c["example"]["text"] for c in want if c["prediction"]["label"] != parent_label]
    assert flips, "the fixture should give HotFlip flips on example 6"
    rows = generate(page, len(want))
    marked = [r for r in rows if r.get_attribute("data-flip") == "true"]
    assert [r.find_element(By.CSS_SELECTOR, ".cf-text").get_attribute("data-text") for r in marked] == flips
    assert all(r.find_elements(By.CSS_SELECTOR, ".cf-flip-badge") for r in marked)
    assert find(page, '[data-action="add-flips"]').text == f"Add all flips ({len(flips)})"
    add_and_check(page, n, "add-flips", flips, "6")
    assert find(page, '[data-action="add-flips"]').get_attribute("disabled") is not None
    assert page.console_errors() == []


def test_a_large_selection_is_generated_in_batches(page):
    # More examples than one call may name (the server's maxExplainExamples, 64).
    if total(page) <= 64:
        page.server.post("/api/examples", {"dataset": DATASET, "examples": [
            {"text": f"a filler sentence number {k} ."} for k in range(65 - total(page))]})
    n = open_cf(page)
    ids = page.js("return window.loupe.data.examples.map(e => e.id)")
    page.js("window.loupe.state.select(arguments[0], 'test', arguments[0][0])", ids)
    choose(page, "scrambler")
    find(page, '[data-scope="selection"]').click()
    assert "the selection (%d)" % n in find(page, ".cf-run").text
    find(page, '[data-action="generate"]').click()
    wait(page, lambda d: len(finds(page, "tr.cf-parent")) == n and not finds(page, ".cf-review .loading"),
              "one group per selected example", timeout=60)
    assert len(finds(page, "tr[data-cf-id]")) == n
    assert f"{n} new from {n} examples" in find(page, '[data-role="summary"]').text
    assert page.console_errors() == []
