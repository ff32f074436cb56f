"""Metrics module: the table equals POST /api/metrics, a confusion-matrix cell selects exactly its examples (and the
data table shows them), the selection and saved-slice rows appear, and the PR threshold slider moves the operating
point and its numbers."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import DATASET

MODEL = "bert-tiny"


def all_examples(server):
    out, offset = [], 0
    while True:
        page = server.get(f"/api/datasets/{DATASET}/examples?offset={offset}&limit=1000")
        out += page["examples"]
        offset += 1000
        if offset >= page["total"]:
            return out


def gold_index(labels, label):
    if label in labels:
        return labels.index(label)
    try:
        i = int(label)
    except (TypeError, ValueError):
        return None
    return i if 0 <= i < len(labels) else None


def expected(server):
    """What the module asks: the whole dataset, or its labelled examples when some have no label."""
    labels = next(m for m in server.get("/api/info")["models"] if m["name"] == MODEL)["labels"]
    examples = all_examples(server)
    gold = {e["id"]: gold_index(labels, e.get("label")) for e in examples}
    labelled = [i for i, g in gold.items() if g is not None]
    body = {"model": MODEL, "dataset": DATASET}
    if len(labelled) < len(examples):
        body["ids"] = labelled
    return labels, gold, server.post("/api/metrics", body)


def predicted(server, labels, ids):
    out = {}
    for k in range(0, len(ids), 1024):
        r = server.post("/api/predict", {"model": MODEL, "dataset": DATASET, "ids": ids[k:k + 1024]})
        out.update({p["id"]: labels.index(p["label"]) for p in r["predictions"]})
    return out


def open_metrics(page):
    page.open("#tab=metrics")
    page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, 'section[data-module=metrics] tr[data-row-key=all] td[data-col=accuracy]'),
              "the metrics table")
    return page.module("metrics", MODEL)


def cell(section, row_key, col):
    return section.find_element(By.CSS_SELECTOR, f'tr[data-row-key="{row_key}"] td[data-col="{col}"]')


def test_table_equals_api(page, server):
    labels, gold, api = expected(server)
    section = open_metrics(page)
    m = api["metrics"]
    acc = cell(section, "all", "accuracy")
    assert float(acc.get_attribute("data-value")) == pytest.approx(m["accuracy"])
    assert acc.text == f"{100 * m['accuracy']:.1f}%"
    assert int(cell(section, "all", "n").text) == m["examples"]
    assert float(cell(section, "all", "macro_f1").get_attribute("data-value")) == pytest.approx(m["macro_f1"])
    for pc in m["per_class"]:
        assert float(cell(section, "all", f"recall:{pc['label']}").get_attribute("data-value")) == pytest.approx(pc["recall"])
    # One facet row per gold label present, with that label's support.
    for pc in m["per_class"]:
        if pc["support"]:
            assert int(cell(section, f"label:{pc['label']}", "n").text) == pc["support"]
    # The matrix shows the API's counts.
    for i, row in enumerate(m["confusion"]):
        for j, count in enumerate(row):
            td = section.find_element(By.CSS_SELECTOR, f'table.confusion td.cell[data-gold="{i}"][data-pred="{j}"]')
            assert int(td.text) == count
    assert page.console_errors() == []


def test_confusion_cell_selects_its_examples(page, server):
    labels, gold, api = expected(server)
    section = open_metrics(page)
    confusion = api["metrics"]["confusion"]
    # The fullest off-diagonal cell (the fixture predicts one class), else the fullest cell.
    cells = sorted(((c, i, j) for i, r in enumerate(confusion) for j, c in enumerate(r)), key=lambda t: (t[1] != t[2], t[0]))
    count, gi, pj = cells[-1]
    assert count > 0
    td = section.find_element(By.CSS_SELECTOR, f'table.confusion td.cell[data-gold="{gi}"][data-pred="{pj}"]')
    assert int(td.get_attribute("data-count")) == count
    td.click()
    page.wait(lambda d: len(page.state()["selection"]) == count, f"{count} selected examples")
    selection = page.state()["selection"]
    preds = predicted(server, labels, selection)
    assert all(gold[i] == gi and preds[i] == pj for i in selection)
    # The data table shows that many selected; with its 'only selected' filter, only those rows.
    table = page.module("table")
    page.wait(lambda d: table.find_element(By.CSS_SELECTOR, ".dt-count").get_attribute("data-selected") == str(count),
              "the table's selected count")
    only = table.find_elements(By.CSS_SELECTOR, "label.dt-only input[type=checkbox]")
    if only:
        only[0].click()
        page.wait(lambda d: table.find_element(By.CSS_SELECTOR, ".dt-count").get_attribute("data-shown") == str(count),
                  "the table filtered to the selection")
        rows = page.rows()
        assert rows and all(r.get_attribute("data-row-id") in selection for r in rows)
    # The selection gets its own row, scored like the API scores it.
    sel_api = server.post("/api/metrics", {"model": MODEL, "dataset": DATASET, "slices": {"s": selection}})["slices"]["s"]
    page.wait(lambda d: section.find_elements(By.CSS_SELECTOR, 'tr[data-row-key="@selection"]'), "the selection row")
    assert int(cell(section, "@selection", "n").text) == count
    assert float(cell(section, "@selection", "accuracy").get_attribute("data-value")) == pytest.approx(sel_api["accuracy"])
    # Enter on a row header (gold label) selects that whole row of the matrix.
    head = section.find_element(By.CSS_SELECTOR, f'table.confusion th[data-gold="{gi}"]')
    head.send_keys(Keys.ENTER)
    page.wait(lambda d: len(page.state()["selection"]) == sum(confusion[gi]), "the gold row selected")
    # Saving the selection as a slice adds a row and keeps it in the URL's state.
    section.find_element(By.CSS_SELECTOR, "input[data-control=slice-name]").send_keys("gold-row")
    section.find_element(By.CSS_SELECTOR, "button[data-action=save-slice]").click()
    page.wait(lambda d: section.find_elements(By.CSS_SELECTOR, 'tr[data-row-key="slice:gold-row"]'), "the slice row")
    assert int(cell(section, "slice:gold-row", "n").text) == sum(confusion[gi])
    assert page.state()["params"]["metrics.slices"].startswith("gold-row:")
    page.screenshot("metrics", section)
    assert page.console_errors() == []


def test_pr_threshold_slider(page, server):
    labels, gold, api = expected(server)
    if len(labels) != 2:
        pytest.skip("PR curve is for two classes")
    section = open_metrics(page)
    curve = api["pr_curve"]

    def at(t):  # the module's operating point: smallest threshold >= t
        out = None
        for p in curve:
            if p["threshold"] >= t:
                out = p
            else:
                break
        return out

    point = section.find_element(By.CSS_SELECTOR, "svg.pr-plot circle.pr-point")
    stat = lambda k: section.find_element(By.CSS_SELECTOR, f'.pr-readout dd[data-stat="{k}"]')
    page.wait(lambda d: point.get_attribute("cx"), "the PR point")
    before = (point.get_attribute("cx"), point.get_attribute("cy"))
    assert float(stat("recall").get_attribute("data-value")) == pytest.approx(at(0.5)["recall"])
    # Move the threshold to where the operating point differs (between two curve thresholds above 0.5).
    target = next(round(t / 100, 2) for t in range(51, 100) if at(t / 100) and at(t / 100) != at(0.5))
    slider = section.find_element(By.CSS_SELECTOR, "input[data-control=threshold]")
    slider.send_keys(*[Keys.ARROW_RIGHT] * round((target - 0.5) * 100))
    page.wait(lambda d: abs(float(point.get_attribute("data-threshold")) - target) < 1e-9, f"threshold {target}")
    expect = at(target)
    assert (point.get_attribute("cx"), point.get_attribute("cy")) != before
    assert float(stat("precision").get_attribute("data-value")) == pytest.approx(expect["precision"])
    assert float(stat("recall").get_attribute("data-value")) == pytest.approx(expect["recall"])
    assert float(stat("f1").get_attribute("data-value")) == pytest.approx(expect["f1"])
    # The best-F1 threshold is marked and one click away.
    best = api["best_threshold"]
    assert section.find_element(By.CSS_SELECTOR, "svg.pr-plot [data-best]")
    section.find_element(By.CSS_SELECTOR, "button[data-action=best-threshold]").click()
    page.wait(lambda d: float(stat("f1").get_attribute("data-value")) == pytest.approx(best["f1"]), "the best F1")
    assert page.console_errors() == []
