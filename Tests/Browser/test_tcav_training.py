"""Browser tests of TCAV and the training curves. TCAV: a concept of 6 selected examples against a seeded random
sample runs and shows the score, p-value and significance badge that /api/tcav gives for the same ids and seed;
the concept is kept in the URL; GPT-2 gets a reason instead of the module. Training curves: one point per line
of the fixture run's metrics.jsonl in each chart, best evaluations marked, hover and arrow keys read values; a
server without --run says how to get curves."""
import json
import os

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import DATASET, DATASET_FILE, FIXTURES, Page, Server

TCAV = 'section.module[data-module="tcav"][data-model="bert-tiny"]'
TRAIN = 'section.module[data-module="training"]'
RUN = os.path.join(FIXTURES, "ui", "run", "metrics.jsonl")
CONCEPT = ["0", "2", "3", "5", "8", "10"]  # six positive reviews of the fixture


def total(page):
    return page.total()


def wait(page, condition, what, timeout=20):
    return page.wait(condition, what, timeout)


def find(page, scope, css):
    return page.d.find_element(By.CSS_SELECTOR, f"{scope} {css}")


def read(page, scope, css, how=lambda e: e.text):
    """Reads an element, finding it again if the module redrew it between the find and the read."""
    return page.wait(lambda d: (how(find(page, scope, css)),), f"a readable {css}")[0]


def finds(page, scope, css):
    return page.d.find_elements(By.CSS_SELECTOR, f"{scope} {css}")


def open_tab(page, tab, extra=""):
    n = total(page)
    page.open(f"#dataset={DATASET}&models=bert-tiny&tab={tab}{extra}", wait_rows=False)
    wait(page, lambda d: page.js("return window.loupe.data.examples.length") == n, "the dataset to load")
    return n


def select(page, ids):
    """Clicks then ctrl-clicks the table rows (the shared state when the table draws no such rows)."""
    table = 'section[data-module="table"]'
    if all(page.d.find_elements(By.CSS_SELECTOR, f'{table} [data-row-id="{i}"]') for i in ids):
        for k, i in enumerate(ids):
            row = page.d.find_element(By.CSS_SELECTOR, f'{table} [data-row-id="{i}"]')
            page.js("arguments[0].scrollIntoView({block: 'center'})", row)
            if k == 0:
                row.click()
            else:
                ActionChains(page.d).key_down(Keys.CONTROL).click(row).key_up(Keys.CONTROL).perform()
    else:
        page.js("window.loupe.state.select(arguments[0], 'test', arguments[0][0])", ids)
    wait(page, lambda d: sorted(page.state()["selection"]) == sorted(ids), "the selection")


def test_tcav_runs_on_the_selected_concept_and_matches_the_api(page):
    open_tab(page, "tcav")
    assert "Use selection as concept" in read(page, TCAV, ".tcav-result .empty")
    assert read(page, TCAV, '[data-action="run"]', lambda e: e.get_attribute("disabled")) is not None
    select(page, CONCEPT)
    assert read(page, TCAV, '[data-action="use-selection"]') == "Use selection as concept (6)"
    find(page, TCAV, '[data-action="use-selection"]').click()
    wait(page, lambda d: sorted(page.state()["params"].get("tcav.concept", "").split(",")) == sorted(CONCEPT),
              "the concept in the shared state")
    concept = read(page, TCAV, '[data-set="concept"] details', lambda e: e.get_attribute("data-ids")).split(",")
    assert sorted(concept) == sorted(CONCEPT)
    random_ids = read(page, TCAV, '[data-set="random"] details', lambda e: e.get_attribute("data-ids")).split(",")
    known = set(page.js("return window.loupe.data.examples.map(e => e.id)"))
    assert len(random_ids) == 6 and not set(random_ids) & set(CONCEPT) and set(random_ids) <= known
    assert read(page, TCAV, '[data-set="random"] details', lambda e: e.get_attribute("data-seed")) == "0"
    assert Select(find(page, TCAV, '[data-control="class"]')).first_selected_option.text == "positive"
    find(page, TCAV, '[data-action="run"]').click()
    wait(page, lambda d: finds(page, TCAV, ".tcav-score"), "the TCAV result", timeout=60)
    want = page.server.post("/api/tcav", {"model": "bert-tiny", "dataset": DATASET, "concept_ids": concept,
                                          "random_ids": random_ids, "class": "positive", "layer": 2, "runs": 10, "seed": 0})
    assert find(page, TCAV, ".tcav-score").text == f"{want['score']:.3f}"
    p_text = find(page, TCAV, '[data-stat="p_value"] .tcav-stat-value').text
    assert p_text == (f"{want['p_value']:.1e}".replace("e-0", "e-") if want["p_value"] < 0.001 else f"{want['p_value']:.3f}")
    assert find(page, TCAV, '[data-stat="random_mean"] .tcav-stat-value').text == f"{want['random_mean']:.3f}"
    assert find(page, TCAV, '[data-stat="cav_accuracy"] .tcav-stat-value').text == f"{100 * want['cav_accuracy']:.1f}%"
    badge = find(page, TCAV, "[data-significant]")
    assert badge.get_attribute("data-significant") == str(want["significant"]).lower()
    assert badge.text == ("significant" if want["significant"] else "not significant")
    assert len(finds(page, TCAV, 'circle[data-kind="concept"]')) == len(want["scores"])
    assert len(finds(page, TCAV, 'circle[data-kind="random"]')) == len(want["random_scores"])
    assert not finds(page, TCAV, ".tcav-stale")
    page.screenshot("tcav", page.module("tcav"))
    # Another seed draws another random sample, and the shown result says it is out of date.
    seed = find(page, TCAV, '[data-control="seed"]')
    seed.clear()
    seed.send_keys("5", Keys.TAB)
    wait(page, lambda d: find(page, TCAV, '[data-set="random"] details').get_attribute("data-seed") == "5", "the new sample")
    assert read(page, TCAV, '[data-set="random"] details', lambda e: e.get_attribute("data-ids")).split(",") != random_ids
    assert finds(page, TCAV, ".tcav-stale")
    assert page.state()["params"]["tcav.seed"] == "5"
    assert page.console_errors() == []


def test_tcav_concept_comes_back_from_the_url_and_gpt2_gets_a_reason(page):
    open_tab(page, "tcav", "&p.tcav.concept=" + "%2C".join(CONCEPT))
    wait(page, lambda d: finds(page, TCAV, '[data-set="concept"] details'), "the concept from the URL")
    assert read(page, TCAV, '[data-set="concept"] details', lambda e: e.get_attribute("data-ids")).split(",") == CONCEPT
    assert read(page, TCAV, '[data-action="run"]', lambda e: e.get_attribute("disabled")) is None
    page.open(f"#dataset={DATASET}&models=gpt2&tab=tcav", wait_rows=False)
    section = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, 'section[data-module="tcav"][data-model="gpt2"]'), "gpt2's TCAV")[0]
    assert "unsupported" in section.get_attribute("class")
    assert "needs a BERT sequence-classification model; gpt2 is a causal-lm" in section.text
    assert page.console_errors() == []


def test_training_curves_show_each_evaluation_with_the_best_marked(page):
    lines = [json.loads(line) for line in open(RUN) if line.strip()]
    best = [i for i, e in enumerate(lines) if e["best"]]
    page.open(f"#dataset={DATASET}&models=bert-tiny&tab=training", wait_rows=False)
    wait(page, lambda d: len(finds(page, TRAIN, '[data-metric="accuracy"] circle.tr-point')) == len(lines), "the curves")
    for metric in ["accuracy", "macro_f1", "loss", "learning_rate"]:
        points = finds(page, TRAIN, f'[data-metric="{metric}"] circle.tr-point')
        assert [int(p.get_attribute("data-step")) for p in points] == [e["step"] for e in lines], metric
        assert [int(p.get_attribute("data-index")) for p in points if p.get_attribute("data-best") == "true"] == best
        final = [int(p.get_attribute("data-index")) for p in points if p.get_attribute("data-final-best") == "true"]
        assert final == [best[-1]]
        assert len(finds(page, TRAIN, f'[data-metric="{metric}"] .tr-star')) == 1
    top = max((e for e in lines if e["best"]), key=lambda e: e["step"])
    assert f"best accuracy {top['accuracy']:.4f} at step {top['step']}" in find(page, TRAIN, ".tr-run").text
    # Hovering a point reads its evaluation; arrow keys walk to the next one.
    second = finds(page, TRAIN, '[data-metric="macro_f1"] circle.tr-point')[1]
    ActionChains(page.d).move_to_element(second).perform()
    readout = find(page, TRAIN, ".tr-readout")
    wait(page, lambda d: f"step {lines[1]['step']}" in readout.text, "the hovered evaluation")
    assert f"macro f1 {lines[1]['macro_f1']:.4f}" in readout.text and f"accuracy {lines[1]['accuracy']:.4f}" in readout.text
    assert len(finds(page, TRAIN, "circle.tr-point.hovered")) == 4  # the same evaluation in every chart
    page.screenshot("training", page.module("training"))
    ActionChains(page.d).move_by_offset(0, 400).perform()
    page.js("arguments[0].focus()", find(page, TRAIN, '[data-metric="accuracy"] svg'))
    wait(page, lambda d: f"step {lines[0]['step']}" in readout.text, "the first evaluation on focus")
    find(page, TRAIN, '[data-metric="accuracy"] svg').send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait(page, lambda d: f"step {lines[2]['step']}" in readout.text, "the arrow keys to move")
    assert page.console_errors() == []


def test_training_without_a_run_says_how_to_get_curves(driver):
    other = Server(models=[("bert-tiny", os.path.join(FIXTURES, "bert_tiny_cls.h5"))], datasets=[(DATASET, DATASET_FILE)])
    try:
        page = Page(driver, other)
        page.open(f"#dataset={DATASET}&models=bert-tiny&tab=training", wait_rows=False)
        wait(page, lambda d: finds(page, TRAIN, ".empty"), "the empty state")
        assert find(page, TRAIN, ".empty").text == \
            "Start loupe serve with --run DIR (a loupe finetune --out directory) to see its curves"
        assert page.console_errors() == []
    finally:
        other.stop()
