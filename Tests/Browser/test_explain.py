"""Browser tests of the Predictions and Salience maps modules: what a selected example shows (class bars, token
chips) against the API's own answers, IG on request, the shared salience controls, pinning, the latency of a
selection (< 100 ms with BERT-tiny), and GPT-2 (next tokens, picking a generated token, two models side by side)."""
import json
import os
import re
import statistics

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ARTIFACTS, DATASET

PRED = 'section.module[data-module="predictions"][data-model="{m}"]'
SAL = 'section.module[data-module="salience"][data-model="{m}"]'


def total(page):
    return page.server.get(f"/api/datasets/{DATASET}/examples?limit=1")["total"]


def open_page(page, models="bert-tiny"):
    page.open(f"#dataset={DATASET}&models={models}", wait_rows=False)
    n = total(page)
    page.wait(lambda d: page.js("return window.loupe.data.byId.size") >= n, "the dataset to load")
    return n


def select(page, ex_id):
    """Selects one example as the user does (a click on its table row) or, while the row is not drawn, as the
    table would (state.select)."""
    rows = page.d.find_elements(By.CSS_SELECTOR, f'section[data-module="table"] [data-row-id="{ex_id}"]')
    if rows and rows[0].is_displayed():
        rows[0].click()
    else:
        page.js("window.loupe.state.select([arguments[0]], 'test', arguments[0])", ex_id)
    page.wait(lambda d: page.state()["primary"] == ex_id, f"example {ex_id} to be primary")


def css(page, selector):
    return page.d.find_elements(By.CSS_SELECTOR, selector)


def chips(page, model, method, ex_id, slot="primary"):
    return css(page, f'{SAL.format(m=model)} [data-method="{method}"] .sal-example[data-slot="{slot}"]'
                     f'[data-example-id="{ex_id}"] .sal-chips .chip[data-token-index]')


def wait_chips(page, model, method, ex_id, n, slot="primary"):
    page.wait(lambda d: len(chips(page, model, method, ex_id, slot)) == n,
              f"{n} {method} chips of #{ex_id} ({slot})")
    return chips(page, model, method, ex_id, slot)


def explain(page, **body):
    return page.server.post("/api/explain", {"dataset": DATASET, **body})["explanations"][0]


def rgb(el):
    return tuple(int(x) for x in re.findall(r"\d+", el.value_of_css_property("background-color"))[:3])


def check_chips(els, e):
    """One chip per token of the API's explanation, in order, with its score."""
    assert [c.get_attribute("data-token-index") for c in els] == [str(i) for i in range(len(e["tokens"]))]
    assert [c.text for c in els] == [t.replace("\n", "↵") for t in e["tokens"]]
    for c, s in zip(els, e["scores"]):
        assert abs(float(c.get_attribute("data-score")) - s) < 1e-9


def test_selected_example_shows_prediction_and_gradient_maps(page):
    open_page(page)
    assert "Select an example" in page.module("predictions").text
    select(page, "3")
    card = f'{PRED.format(m="bert-tiny")} .pred-card[data-role="primary"][data-example-id="3"]'
    page.wait(lambda d: len(css(page, card + " .bar-track[data-probability]")) == 2, "two class bars")
    api = page.server.post("/api/predict", {"model": "bert-tiny", "dataset": DATASET, "ids": ["3"]})["predictions"][0]
    bars = {b.get_attribute("data-label"): float(b.get_attribute("data-probability"))
            for b in css(page, card + " .bar-track")}
    assert set(bars) == {"negative", "positive"}
    assert abs(sum(bars.values()) - 1) < 1e-6
    for label, p in api["probabilities"].items():
        assert abs(bars[label] - p) < 1e-9
        # The visible percentage and the bar's width say the same.
        track = css(page, f'{card} .bar-track[data-label="{label}"]')[0]
        fill = track.find_element(By.CSS_SELECTOR, ".bar-fill")
        assert abs(fill.size["width"] / track.size["width"] - p) < 0.02
        assert f"{100 * p:.1f}%" in css(page, card)[0].text
    top = css(page, card + " .bar-label.top")[0]
    assert top.get_attribute("data-label") == api["label"]
    gold = page.js("return window.loupe.data.goldName('bert-tiny', '3')")
    assert css(page, f'{card} .bar-label[data-label="{gold}"] .gold-mark')
    badge = css(page, card + " [data-correct]")[0]
    assert badge.get_attribute("data-correct") == ("true" if gold == api["label"] else "false")

    # Gradient × input and gradient norm run by themselves: one chip per token of the API's explanation.
    gi = explain(page, model="bert-tiny", method="grad-input", ids=["3"])
    els = wait_chips(page, "bert-tiny", "grad-input", "3", len(gi["tokens"]))
    check_chips(els, gi)
    # Signed scale: the most positive token is cyan-ish, the most negative magenta-ish; [CLS]/[SEP] muted.
    hi = max(range(len(gi["scores"])), key=lambda i: gi["scores"][i])
    lo = min(range(len(gi["scores"])), key=lambda i: gi["scores"][i])
    assert rgb(els[hi])[1] > rgb(els[hi])[0] and rgb(els[lo])[0] > rgb(els[lo])[1]
    assert "special" in els[0].get_attribute("class") and "special" in els[-1].get_attribute("class")
    gn = explain(page, model="bert-tiny", method="grad-norm", ids=["3"])
    gn_els = wait_chips(page, "bert-tiny", "grad-norm", "3", len(gn["tokens"]))
    check_chips(gn_els, gn)
    legend = css(page, f'{SAL.format(m="bert-tiny")} [data-method="grad-norm"] .legend')[0]
    assert float(legend.get_attribute("data-min")) == 0
    assert abs(float(legend.get_attribute("data-max")) - max(gn["scores"])) < 1e-9
    assert css(page, f'{SAL.format(m="bert-tiny")} [data-method="grad-norm"] [data-stat="seconds"]')

    # Hovering a chip sets the shared hover and outlines the same token in the other panel.
    ActionChains(page.d).move_to_element(els[2]).perform()
    page.wait(lambda d: page.state()["hover"] == {"id": "3", "token": 2}, "the hover state")
    page.wait(lambda d: "hovered" in chips(page, "bert-tiny", "grad-norm", "3")[2].get_attribute("class"),
              "the grad-norm chip to be outlined")
    # Nothing on request-only methods ran: their panels are closed and empty.
    assert not css(page, f'{SAL.format(m="bert-tiny")} [data-method="ig"] .sal-chips')
    page.screenshot("predictions", page.module("predictions"))
    page.screenshot("salience", page.module("salience"))
    assert page.console_errors() == []


def test_ig_on_request_and_shared_controls(page):
    open_page(page)
    select(page, "5")
    sal = SAL.format(m="bert-tiny")
    ig = css(page, f'{sal} details[data-method="ig"]')[0]
    assert ig.get_attribute("open") is None
    ig.find_element(By.TAG_NAME, "summary").click()
    page.wait(lambda d: "Press Run" in ig.text, "IG's call to action")
    assert not chips(page, "bert-tiny", "ig", "5")
    steps = ig.find_element(By.CSS_SELECTOR, 'input[data-field="steps"]')
    steps.clear()
    steps.send_keys("8", Keys.ENTER)  # Enter in the form runs it
    api = explain(page, model="bert-tiny", method="ig", ids=["5"], config={"steps": 8})
    check_chips(wait_chips(page, "bert-tiny", "ig", "5", len(api["tokens"])), api)
    delta = ig.find_element(By.CSS_SELECTOR, '[data-stat="delta"]')
    assert abs(float(delta.get_attribute("data-value")) - api["delta"]) < 1e-9
    assert "delta" in delta.text
    assert ig.find_element(By.CSS_SELECTOR, '[data-stat="steps"]').text == "steps 8"

    # An invalid field is said, and nothing runs.
    steps.clear()
    steps.send_keys("0")
    ig.find_element(By.CSS_SELECTOR, '[data-action="run"]').click()
    page.wait(lambda d: "steps must be at least 1" in ig.find_element(By.CSS_SELECTOR, ".sal-errors").text,
              "the form's error")

    # Merge words: fewer chips, exactly the API's merged tokens.
    css(page, f'{sal} [data-control="merge-words"]')[0].click()
    merged = explain(page, model="bert-tiny", method="grad-input", ids=["5"], merge_words=True)
    check_chips(wait_chips(page, "bert-tiny", "grad-input", "5", len(merged["tokens"])), merged)
    assert page.state()["params"].get("salience.merge") == "1"

    # Target class: the negative class's salience, as the API gives it.
    target = css(page, f'{sal} select[data-control="target"]')[0]
    target.find_element(By.CSS_SELECTOR, 'option[value="negative"]').click()
    neg = explain(page, model="bert-tiny", method="grad-input", ids=["5"], merge_words=True, target="negative")
    page.wait(lambda d: css(page, f'{sal} [data-method="grad-input"] [data-stat="target"][data-value="negative"]'),
              "the negative target")
    check_chips(chips(page, "bert-tiny", "grad-input", "5"), neg)

    # Gamma: shared by the panels, in the URL, recolours the chips.
    before = [rgb(c) for c in chips(page, "bert-tiny", "grad-norm", "5")]
    page.js("const s = arguments[0]; s.value = '5'; s.dispatchEvent(new Event('input'));",
            css(page, f'{sal} [data-control="gamma"]')[0])
    page.wait(lambda d: page.state()["params"].get("salience.gamma") == "5", "gamma in the state")
    page.wait(lambda d: [rgb(c) for c in chips(page, "bert-tiny", "grad-norm", "5")] != before, "recoloured chips")
    assert "salience.gamma=5" in page.js("return decodeURIComponent(location.hash)")

    # Export: the JSON holds what is shown.
    page.js("""window.__blobs = []; URL.createObjectURL = b => { window.__blobs.push(b); return 'about:blank'; };
               HTMLAnchorElement.prototype.click = function () {};""")
    css(page, f'{sal} [data-action="export"]')[0].click()
    doc = json.loads(page.d.execute_async_script(
        "const done = arguments[arguments.length - 1]; window.__blobs[0].text().then(done);"))
    methods = {p["method"]: p for p in doc["panels"]}
    # IG ran with other options (no merging, predicted class): it waits for Run again, so it is not exported.
    assert set(methods) == {"grad-norm", "grad-input"}
    assert "Press Run" in ig.text
    assert methods["grad-input"]["explanations"][0]["scores"] == neg["scores"]
    assert doc["options"] == {"target": "negative", "merge_words": True}
    assert page.console_errors() == []


def test_pinned_example_and_selection_summary(page):
    open_page(page)
    select(page, "3")
    pred = PRED.format(m="bert-tiny")
    page.wait(lambda d: css(page, f'{pred} .pred-pin'), "the pin button")
    css(page, f'{pred} .pred-card[data-role="primary"] .pred-pin')[0].click()
    page.wait(lambda d: page.state()["pinned"] == "3", "example 3 pinned")
    select(page, "7")
    page.wait(lambda d: len(css(page, f'{pred} .pred-card[data-role="pinned"][data-example-id="3"] .bar-track')) == 2
              and len(css(page, f'{pred} .pred-card[data-role="primary"][data-example-id="7"] .bar-track')) == 2,
              "primary and pinned cards")
    for ex, slot in (("7", "primary"), ("3", "pinned")):
        e = explain(page, model="bert-tiny", method="grad-input", ids=[ex])
        check_chips(wait_chips(page, "bert-tiny", "grad-input", ex, len(e["tokens"]), slot), e)
    # A selection of several: the primary's card and a summary line with the accuracy on them.
    ids = ["7", "8", "9", "10"]
    page.js("window.loupe.state.select(arguments[0], 'test', '7')", ids)
    preds = page.server.post("/api/predict", {"model": "bert-tiny", "dataset": DATASET, "ids": ids})["predictions"]
    gold = [page.js("return window.loupe.data.goldName('bert-tiny', arguments[0])", i) for i in ids]
    acc = sum(p["label"] == g for p, g in zip(preds, gold)) / len(ids)
    summary = page.wait(lambda d: css(page, f'{pred} .pred-summary[data-selected="4"]'), "the summary")[0]
    assert abs(float(summary.get_attribute("data-accuracy")) - acc) < 1e-9
    assert summary.text.startswith("4 selected") and f"{100 * acc:.1f}%" in summary.text
    assert page.console_errors() == []


LATENCY_JS = """
const id = arguments[0], done = arguments[arguments.length - 1];
const pred = `section[data-module=predictions][data-model="bert-tiny"] .pred-card[data-role=primary][data-example-id="${id}"] .bar-track[data-probability]`;
const chip = `section[data-module=salience][data-model="bert-tiny"] [data-method=grad-input] .sal-example[data-slot=primary][data-example-id="${id}"] .chip[data-token-index]`;
const seen = () => document.querySelector(pred) && document.querySelector(chip);
const t0 = performance.now();
const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); done(performance.now() - t0); } });
observer.observe(document.body, {childList: true, subtree: true});
window.loupe.state.select([id], 'test', id);
setTimeout(() => { observer.disconnect(); done(-1); }, 5000);
"""


def test_selection_latency_bert_tiny(page):
    n = open_page(page)
    page.wait(lambda d: page.js("return window.loupe.data.predictions.get('bert-tiny')?.size ?? 0") >= n,
              "every prediction to be cached", timeout=60)
    select(page, "0")  # warm up the page's code paths (not measured)
    page.wait(lambda d: chips(page, "bert-tiny", "grad-input", "0"), "the first chips")
    ids = [str(i) for i in range(11, 21)]  # not shown before in this page: nothing of theirs is cached client-side
    times = [page.d.execute_async_script(LATENCY_JS, i) for i in ids]
    os.makedirs(ARTIFACTS, exist_ok=True)
    median = statistics.median(times)
    with open(os.path.join(ARTIFACTS, "explain-latency.json"), "w") as f:
        json.dump({"ids": ids, "ms": times, "median_ms": median, "max_ms": max(times)}, f, indent=1)
    print(f"selection → predictions + grad-input chips: median {median:.1f} ms, all {[round(t, 1) for t in times]}")
    assert all(t >= 0 for t in times), f"some selection never showed its chips: {times}"
    assert median < 100, f"median {median:.1f} ms: {times}"
    assert page.console_errors() == []


def test_gpt2_next_tokens_generated_picker_and_comparison(page):
    open_page(page)
    page.d.find_element(By.CSS_SELECTOR, '#controls input[data-model="gpt2"]').click()
    page.wait(lambda d: page.state()["models"] == ["bert-tiny", "gpt2"], "two models")
    # Two copies of each module side by side, one per model.
    left, right = page.module("predictions", "bert-tiny"), page.module("predictions", "gpt2")
    assert abs(left.location["y"] - right.location["y"]) < 2 and right.location["x"] > left.location["x"] + 100
    assert page.module("salience", "bert-tiny") and page.module("salience", "gpt2")
    page.d.find_element(By.CSS_SELECTOR, '#controls input[data-model="bert-tiny"]').click()
    page.wait(lambda d: page.state()["models"] == ["gpt2"], "gpt2 alone")
    select(page, "1")
    api = page.server.post("/api/predict", {"model": "gpt2", "dataset": DATASET, "ids": ["1"]})["predictions"][0]
    card = f'{PRED.format(m="gpt2")} .pred-card[data-example-id="1"]'
    bars = page.wait(lambda d: css(page, card + ' .bar-track[data-kind="next-token"]'), "next-token bars")
    assert [(b.get_attribute("data-token"), float(b.get_attribute("data-probability"))) for b in bars] == \
        [(t["token"], t["probability"]) for t in api["next_tokens"]]

    e = explain(page, model="gpt2", method="grad-input", ids=["1"])
    panel = f'{SAL.format(m="gpt2")} [data-method="grad-input"]'
    gen = page.wait(lambda d: css(page, f"{panel} .gen-chip[data-target-index]"), "generated tokens")
    assert len(gen) == len(e["targets"])
    first = e["targets"][0]
    els = wait_chips(page, "gpt2", "grad-input", "1", len(first["scores"]))
    assert [float(c.get_attribute("data-score")) for c in els] == first["scores"]
    # Picking another generated token shows its salience over the prompt (and what came before it).
    css(page, f'{panel} .gen-chip[data-target-index="3"]')[0].click()
    page.wait(lambda d: page.state()["params"].get("salience.target") == "3", "the picked token in the state")
    pick = e["targets"][3]
    els = wait_chips(page, "gpt2", "grad-input", "1", len(pick["scores"]))
    assert [float(c.get_attribute("data-score")) for c in els] == pick["scores"]
    assert css(page, f'{panel} [data-stat="target"]')[0].get_attribute("data-value") == pick["token"]
    assert css(page, f'{panel} .gen-chip.chosen')[0].get_attribute("data-target-index") == "3"
    # Arrow keys move the pick.
    css(page, f'{panel} .gen-chip.chosen')[0].send_keys(Keys.ARROW_RIGHT)
    page.wait(lambda d: page.state()["params"].get("salience.target") == "4", "the arrow key's pick")
    # A contrast token: the first generated token explained against the runner-up, as the API explains it (the first
    # one that is whole text: a byte-level token holding part of a UTF-8 character shows as U+FFFD and cannot be typed).
    runner_up = next(t["token"] for t in api["next_tokens"][1:] if "\ufffd" not in t["token"])
    box = css(page, f'{SAL.format(m="gpt2")} input[data-control="contrast"]')[0]
    box.send_keys(runner_up, Keys.ENTER)
    page.wait(lambda d: page.state()["params"].get("salience.contrast") == runner_up, "the contrast in the state")
    c = explain(page, model="gpt2", method="grad-input", ids=["1"], contrast=runner_up)
    assert len(c["targets"]) == 1 and c["targets"][0]["token"] == first["token"]
    assert c["targets"][0]["scores"] != first["scores"]
    page.wait(lambda d: [float(x.get_attribute("data-score")) for x in chips(page, "gpt2", "grad-input", "1")]
              == c["targets"][0]["scores"], "the contrastive scores")
    # The stats line names both tokens: the explained one and the one it is weighed against.
    assert css(page, f'{panel} [data-stat="target"]')[0].get_attribute("data-value") == first["token"]
    assert css(page, f'{panel} [data-stat="contrast"]')[0].get_attribute("data-value") == runner_up
    # Methods GPT-2 cannot use are listed with the reason.
    note = css(page, f'{SAL.format(m="gpt2")} .sal-incompatible')[0].text
    assert "lime" in note and "[MASK]" in note
    page.screenshot("salience-gpt2", page.module("salience", "gpt2"))
    assert page.console_errors() == []
