"""Embeddings projector: one point per example, colour-by recolours the points, a box drag selects exactly the points
inside it (computed from the same projection through the canvas's transform), hover shows the example's text."""
import json
import math

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import DATASET
from test_metrics import all_examples, gold_index

MODEL = "bert-tiny"
LABEL_COLORS = ["#4e79a7", "#f28e2b"]  # colors.js category(0), category(1)
CORRECT, WRONG = "#59a14f", "#e15759"


def rgb(hex_):
    return [int(hex_[k:k + 2], 16) for k in (1, 3, 5)]


def canvas(page):
    return page.module("projector").find_element(By.CSS_SELECTOR, "canvas.proj-canvas")


def open_projector(page, server, method=None):
    total = server.get(f"/api/datasets/{DATASET}/examples?limit=1")["total"]
    page.open("#tab=embeddings" + (f"&p.projector.method={method}" if method else ""))
    page.wait(lambda d: canvas(page).get_attribute("data-points-count") == str(total)
              and (method is None or canvas(page).get_attribute("data-method") == method), "the projection", timeout=60)
    return total


def screen_points(page, server, method):
    """Every point's position on the canvas (CSS px), from the API's projection and the canvas's transform."""
    r = server.post("/api/project", {"model": MODEL, "dataset": DATASET, "method": method, "dims": 2})
    t = json.loads(canvas(page).get_attribute("data-transform"))
    return {p["id"]: (t["ox"] + t["s"] * p["coordinates"][0], t["oy"] - t["s"] * p["coordinates"][1]) for p in r["points"]}, r


def pixels(page, pts):
    """The canvas pixel under each point's centre."""
    return page.js("""
        const c = arguments[0], pts = arguments[1], dpr = window.devicePixelRatio || 1, g = c.getContext('2d');
        return pts.map(([x, y]) => Array.from(g.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data).slice(0, 3));
    """, canvas(page), pts)


def share_matching(page, pts, colours):
    got = pixels(page, [pts[i] for i in colours])
    want = [rgb(colours[i]) for i in colours]
    return sum(all(abs(a - b) <= 6 for a, b in zip(g, w)) for g, w in zip(got, want)) / len(want)


def isolated(pts, w, h, gap=16):
    """A point at least `gap` px from every other point and from the canvas edges."""
    for i, (x, y) in pts.items():
        if gap < x < w - gap and gap < y < h - gap and all(math.dist((x, y), q) >= gap for j, q in pts.items() if j != i):
            return i
    raise AssertionError("no isolated point")


def move_to(page, x, y):
    c = canvas(page)
    w, h = c.size["width"], c.size["height"]
    return ActionChains(page.d).move_to_element_with_offset(c, round(x - w / 2), round(y - h / 2))


def test_points_and_colour_by(page, server):
    total = open_projector(page, server)
    # LIT's default: UMAP up to 1000 examples, PCA above; the method select says which.
    method_select = Select(page.module("projector").find_element(By.CSS_SELECTOR, "select[data-control=method]"))
    assert method_select.first_selected_option.get_attribute("value") == ("umap" if total <= 1000 else "pca")
    method_select.select_by_value("pca")
    page.wait(lambda d: canvas(page).get_attribute("data-method") == "pca", "the PCA projection", timeout=60)
    assert page.state()["params"]["projector.method"] == "pca"
    assert canvas(page).get_attribute("data-points-count") == str(total)
    pts, r = screen_points(page, server, "pca")
    assert len(pts) == total
    info = page.module("projector").find_element(By.CSS_SELECTOR, "[data-explained-variance]")
    assert [float(v) for v in info.get_attribute("data-explained-variance").split(",")] == r["explained_variance_ratio"]
    # Gold label colours, then correctness colours after the header's colour-by changes.
    labels = next(m for m in server.get("/api/info")["models"] if m["name"] == MODEL)["labels"]
    examples = {e["id"]: e for e in all_examples(server)}
    gold = {i: g for i in pts if (g := gold_index(labels, examples[i].get("label"))) is not None}
    page.wait(lambda d: share_matching(page, pts, {i: LABEL_COLORS[g] for i, g in gold.items()}) > 0.8, "label colours")
    preds = {p["id"]: p["label"] for p in server.post("/api/predict", {"model": MODEL, "dataset": DATASET, "ids": list(gold)})["predictions"]}
    correct = {i: CORRECT if preds[i] == labels[g] else WRONG for i, g in gold.items()}
    assert share_matching(page, pts, correct) < 0.5  # the two schemes differ on screen
    Select(page.d.find_element(By.ID, "color-by")).select_by_value("correct")
    page.wait(lambda d: share_matching(page, pts, correct) > 0.8, "correctness colours")
    legend = page.module("projector").find_element(By.CSS_SELECTOR, ".proj-legend").text
    assert "correctness" in legend and "wrong" in legend
    assert page.console_errors() == []


def test_box_select_and_hover(page, server):
    open_projector(page, server, method="pca")
    pts, _ = screen_points(page, server, "pca")
    c = canvas(page)
    w, h = c.size["width"], c.size["height"]
    # A box over the left half, its edges nudged so that no point sits within 3 px of one (mouse positions are whole px).
    def clear(v, axis):
        while any(abs(p[axis] - v) < 3 for p in pts.values()):
            v += 1
        return v
    x0, x1, y0, y1 = clear(round(w * 0.05), 0), clear(round(w * 0.5), 0), clear(round(h * 0.05), 1), clear(round(h * 0.95), 1)
    inside = sorted(i for i, (x, y) in pts.items() if x0 <= x <= x1 and y0 <= y <= y1)
    assert 0 < len(inside) < len(pts)
    move_to(page, x0, y0).click_and_hold().move_by_offset(20, 20).move_by_offset(x1 - x0 - 20, y1 - y0 - 20).release().perform()
    page.wait(lambda d: sorted(page.state()["selection"]) == inside, "the box's points selected")
    assert c.get_attribute("data-selected-count") == str(len(inside))
    # Hover shows the example's text; a click selects that one point.
    target = isolated(pts, w, h)
    text = page.js("return window.loupe.data.byId.get(arguments[0]).text", target)
    move_to(page, *pts[target]).perform()
    tip = page.module("projector").find_element(By.CSS_SELECTOR, ".proj-tooltip")
    page.wait(lambda d: tip.is_displayed() and tip.get_attribute("data-id") == target, "the tooltip")
    assert text[:200] in tip.text
    move_to(page, *pts[target]).click().perform()
    page.wait(lambda d: page.state()["selection"] == [target] and page.state()["primary"] == target, "the clicked point")
    page.screenshot("projector", page.module("projector"))
    assert page.console_errors() == []
