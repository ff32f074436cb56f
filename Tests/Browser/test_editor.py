"""Browser tests of the datapoint editor: editing a text and analysing adds an example (parent kept) that is
selected and whose prediction shows in the editor and in the table row; a label change (Ctrl+Enter); Reset; a new
example written with nothing selected."""
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import DATASET

EDITOR = 'section.module[data-module="editor"]'
TABLE = 'section.module[data-module="table"]'


def total(page):
    return page.server.get(f"/api/datasets/{DATASET}/examples?limit=1")["total"]


def example(page, ex_id):
    n = total(page)
    for offset in range(0, n, 1000):
        for e in page.server.get(f"/api/datasets/{DATASET}/examples?offset={offset}&limit=1000")["examples"]:
            if e["id"] == ex_id:
                return e
    return None


def open_editor(page, ex_id=None):
    n = total(page)
    page.open(f"#dataset={DATASET}&models=bert-tiny" + (f"&selection={ex_id}&primary={ex_id}" if ex_id else ""))
    page.wait(lambda d: page.js("return window.loupe.data.examples.length") == n, "the dataset to load")
    return n


def find(page, css):
    return page.d.find_element(By.CSS_SELECTOR, f"{EDITOR} {css}")


def text_box(page):
    return find(page, "textarea")


def analyse_new(page, before):
    """Waits until the analysed example is added and selected; returns its id."""
    page.wait(lambda d: total(page) == before + 1, "the example to be added on the server")
    page.wait(lambda d: page.js("return window.loupe.data.byId.has(window.loupe.state.primary) && "
                                "!/^\\d+$/.test(window.loupe.state.primary)"), "the new example to be the primary")
    return page.state()["primary"]


def test_edit_and_analyse_adds_a_selected_row_with_its_prediction(page):
    n = open_editor(page, "4")
    original = example(page, "4")
    page.wait(lambda d: text_box(page).get_attribute("value") == original["text"], "the editor to show example 4")
    assert find(page, ".ed-head").get_attribute("data-example-id") == "4"
    assert find(page, '[data-action="analyse"]').get_attribute("disabled") is not None  # nothing changed yet
    new_text = "it 's fast -- very , very fast and wonderful ."
    box = text_box(page)
    box.clear()
    box.send_keys(new_text)
    find(page, '[data-action="analyse"]').click()
    new_id = analyse_new(page, n)
    stored = example(page, new_id)
    assert stored["text"] == new_text and stored["parent"] == "4" and stored["label"] == original["label"]
    assert page.state()["selection"] == [new_id]
    want = page.server.post("/api/predict", {"model": "bert-tiny", "examples": [{"text": new_text}]})["predictions"][0]["label"]
    # The editor shows the new example, its parent and its prediction.
    page.wait(lambda d: find(page, '.ed-pred[data-model="bert-tiny"]').get_attribute("data-prediction") == want,
              "the editor to show the new example's prediction")
    assert find(page, ".ed-head").get_attribute("data-example-id") == new_id
    assert find(page, ".ed-parent").get_attribute("data-parent") == "4"
    assert text_box(page).get_attribute("value") == new_text
    # The table shows the new row (scrolled into view, selected) with the same prediction.
    row = page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-row-id="{new_id}"]')
    assert row.get_attribute("aria-selected") == "true" and row.get_attribute("data-primary") == "true"
    page.wait(lambda d: row.find_element(By.CSS_SELECTOR, ".dt-c-pred").text == want, "the table row's prediction")
    assert new_text in row.find_element(By.CSS_SELECTOR, ".dt-c-text").get_attribute("title")
    assert f"Added {new_id}" in find(page, ".ed-note").text
    page.screenshot("editor", page.module("editor"))
    # The parent link selects the parent.
    find(page, ".ed-parent button").click()
    page.wait(lambda d: page.state()["primary"] == "4", "the parent link to select example 4")
    page.wait(lambda d: text_box(page).get_attribute("value") == original["text"], "the editor to show example 4 again")
    assert page.console_errors() == []


def test_a_label_change_is_analysed_with_ctrl_enter(page):
    n = open_editor(page, "1")
    original = example(page, "1")
    assert original["label"] == "0"
    page.wait(lambda d: text_box(page).get_attribute("value") == original["text"], "the editor to show example 1")
    Select(find(page, "select.ed-label")).select_by_value("1")
    assert find(page, '[data-action="analyse"]').get_attribute("disabled") is None
    text_box(page).send_keys(Keys.CONTROL, Keys.ENTER)
    new_id = analyse_new(page, n)
    stored = example(page, new_id)
    assert stored["label"] == "1" and stored["text"] == original["text"] and stored["parent"] == "1"
    row = page.d.find_element(By.CSS_SELECTOR, f'{TABLE} [data-row-id="{new_id}"]')
    page.wait(lambda d: row.find_element(By.CSS_SELECTOR, ".dt-c-label").text == "positive", "the new row's gold label")
    assert Select(find(page, "select.ed-label")).first_selected_option.get_attribute("value") == "1"
    assert page.console_errors() == []


def test_reset_restores_the_original(page):
    open_editor(page, "2")
    original = example(page, "2")
    page.wait(lambda d: text_box(page).get_attribute("value") == original["text"], "the editor to show example 2")
    reset = find(page, '[data-action="reset"]')
    assert reset.get_attribute("disabled") is not None
    text_box(page).send_keys(" and more")
    Select(find(page, "select.ed-label")).select_by_value("")
    assert reset.get_attribute("disabled") is None
    assert find(page, '[data-action="analyse"]').get_attribute("disabled") is None
    reset.click()
    assert text_box(page).get_attribute("value") == original["text"]
    assert Select(find(page, "select.ed-label")).first_selected_option.get_attribute("value") == original["label"]
    assert reset.get_attribute("disabled") is not None
    assert find(page, '[data-action="analyse"]').get_attribute("disabled") is not None
    assert page.console_errors() == []


def test_a_new_example_without_a_selection(page):
    n = open_editor(page)
    assert page.state()["primary"] is None
    hint = find(page, ".ed-head").text
    assert "Select an example in the table to edit it, or type a new sentence here" in hint
    text_box(page).send_keys("a brand new sentence about a dull film .")
    Select(find(page, "select.ed-label")).select_by_value("0")
    find(page, '[data-action="analyse"]').click()
    new_id = analyse_new(page, n)
    stored = example(page, new_id)
    assert stored["text"] == "a brand new sentence about a dull film ." and stored["label"] == "0"
    assert stored.get("parent") is None
    page.wait(lambda d: find(page, '.ed-pred[data-model="bert-tiny"]').get_attribute("data-prediction") in ("negative", "positive"),
              "the new example's prediction")
    # "New" starts over from a selected example: the next analyse has no parent.
    find(page, '[data-action="new"]').click()
    assert text_box(page).get_attribute("value") == "" and "New example" in find(page, ".ed-head").text
    assert page.console_errors() == []
