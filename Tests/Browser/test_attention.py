"""The attention module: a layers × heads grid of thumbnails, bertviz's head view (one line per active head, query
and key; toggling heads and changing the layer change what is drawn; hovering a token isolates its lines), a
head's matrix, the rollout, settings restored from the URL, GPT-2, and the canvas with top-k lines on long inputs."""
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

MODULE = 'section.module[data-module="attention"]'
TOP_K = 8  # attention-draw.js: strongest keys per query and head drawn on the canvas above 64 tokens


def attention(server, model, id_):
    return server.post("/api/attention", {"model": model, "dataset": "sst2-dev", "id": id_})


def model_info(server, name):
    return next(m for m in server.get("/api/info")["models"] if m["name"] == name)


def select(page, id_):
    """Clicks the table's row when it is on screen, else selects through the shared state."""
    for _ in range(5):  # the virtual table may redraw its rows between finding and clicking one
        try:
            rows = page.d.find_elements(By.CSS_SELECTOR, f'section[data-module="table"] [data-row-id="{id_}"]')
            if rows and rows[0].is_displayed():
                rows[0].click()
            else:
                page.js("window.loupe.state.select([arguments[0]], 'test', arguments[0])", id_)
            break
        except StaleElementReferenceException:
            continue
    page.wait(lambda d: page.state()["primary"] == id_, f"example {id_} to be primary")


def head_view(page, model="bert-tiny"):
    return page.module("attention", model).find_element(By.CSS_SELECTOR, ".attn-head-view")


def lines(page, model="bert-tiny"):
    """The head view's drawn lines as (head, query, key, opacity), read from the SVG the user sees (lines in a
    hidden group are not counted)."""
    return page.js("""
      const view = document.querySelector(arguments[0] + '[data-model="' + arguments[1] + '"] .attn-head-view');
      return [...view.querySelectorAll('svg line')].filter(l => getComputedStyle(l.parentNode).display !== 'none')
        .map(l => [+l.dataset.head, +l.dataset.query, +l.dataset.key, +l.getAttribute('stroke-opacity')]);""",
                   MODULE, model)


def wait_lines(page, count, what, model="bert-tiny"):
    page.wait(lambda d: len(lines(page, model)) == count, what)


def open_with(page, id_="3", hash_="#tab=attention&models=bert-tiny"):
    page.open(hash_)
    select(page, id_)
    page.wait(lambda d: page.js(f"return !!document.querySelector('{MODULE} .attn-head-view, {MODULE} [data-view=matrix]')"),
              "the attention views")


def test_empty_until_an_example_is_selected(page):
    page.open("#tab=attention&models=bert-tiny")
    page.wait(lambda d: "Select an example to see its attention" in page.module("attention").text, "the empty state")
    assert page.d.find_elements(By.CSS_SELECTOR, f"{MODULE} .attn-thumb") == []
    assert page.console_errors() == []


def test_a_failed_call_says_so_and_offers_a_retry(page):
    page.open("#tab=attention&models=bert-tiny")
    page.js("window.loupe.state.select(['no-such-id'], 'test', 'no-such-id')")
    page.wait(lambda d: "failed" in page.module("attention").text, "the module to say the call failed")
    assert "unknown example id" in page.d.find_element(By.ID, "status").text
    assert page.module("attention").find_element(By.CSS_SELECTOR, ".attn-retry button").text == "Retry"
    select(page, "3")
    page.wait(lambda d: len(page.d.find_elements(By.CSS_SELECTOR, f"{MODULE} .attn-head-view")) == 1, "example 3's view")
    # The browser logs the 404 response itself; nothing else may be an error.
    assert [e for e in page.console_errors() if "404" not in e["message"]] == []


def test_grid_head_toggles_layer_and_hover(page, server):
    info = model_info(server, "bert-tiny")
    api = attention(server, "bert-tiny", "3")
    n, heads = len(api["tokens"]), info["heads"]
    open_with(page)
    # Model view: one thumbnail per layer and head, as /api/info says.
    thumbs = page.d.find_elements(By.CSS_SELECTOR, f"{MODULE} .attn-thumb")
    assert len(thumbs) == info["layers"] * heads
    assert sorted({(t.get_attribute("data-layer"), t.get_attribute("data-head")) for t in thumbs}) == \
        sorted((str(l), str(h)) for l in api["layers"] for h in range(heads))
    # Head view: every active head's line for every (query, key), opacity = weight / active heads.
    wait_lines(page, heads * n * n, "every head's lines")
    assert head_view(page).get_attribute("data-line-count") == str(heads * n * n)
    drawn = {(h, q, k): o for h, q, k, o in lines(page)}
    for h, q, k in [(0, 1, 2), (1, 5, 0), (1, n - 1, n - 2)]:
        assert drawn[(h, q, k)] == pytest.approx(api["attention"][0][h][q][k] / heads, rel=1e-3, abs=1e-6)
    tokens = [t.text for t in head_view(page).find_elements(By.CSS_SELECTOR, '.attn-token[data-side="query"]')]
    assert len(tokens) == n
    page.screenshot("attention", page.module("attention"))

    # A click toggles a head: its lines go, the others stay; the URL keeps the choice.
    page.module("attention").find_element(By.CSS_SELECTOR, '.attn-head-toggle[data-head="1"]').click()
    wait_lines(page, (heads - 1) * n * n, "head 2's lines to go")
    assert {h for h, *_ in lines(page)} == set(range(heads)) - {1}
    assert page.state()["params"]["attention.heads"] == ",".join(str(h + 1) for h in range(heads) if h != 1)
    assert "p.attention.heads=" in page.js("return location.hash")
    one = {(h, q, k): o for h, q, k, o in lines(page)}
    assert one[(0, 1, 2)] == pytest.approx(api["attention"][0][0][1][2] / (heads - 1), rel=1e-3, abs=1e-6)
    # Double-click shows only that head; "all" brings every head back.
    ActionChains(page.d).double_click(page.module("attention").find_element(
        By.CSS_SELECTOR, '.attn-head-toggle[data-head="1"]')).perform()
    page.wait(lambda d: {h for h, *_ in lines(page)} == {1}, "only head 2")
    assert len(lines(page)) == n * n
    page.module("attention").find_element(By.CSS_SELECTOR, '[data-control="all-heads"]').click()
    wait_lines(page, heads * n * n, "every head again")

    # Another layer draws that layer's weights.
    before = {(h, q, k): o for h, q, k, o in lines(page)}
    layer2 = api["layers"][1]
    page.module("attention").find_element(By.CSS_SELECTOR, f'[data-control="layer"] option[value="{layer2}"]').click()
    page.wait(lambda d: head_view(page).get_attribute("data-layer") == str(layer2), "layer 2's head view")
    after = {(h, q, k): o for h, q, k, o in lines(page)}
    for h, q, k in [(0, 1, 2), (1, 3, 4)]:
        assert after[(h, q, k)] == pytest.approx(api["attention"][1][h][q][k] / heads, rel=1e-3, abs=1e-6)
    assert after != before
    assert page.state()["params"]["attention.layer"] == str(layer2)

    # Hovering a query token keeps its lines only, and shares the hover.
    token = head_view(page).find_element(By.CSS_SELECTOR, '.attn-token[data-side="query"][data-token-index="4"]')
    ActionChains(page.d).move_to_element(token).perform()
    wait_lines(page, heads * n, "the hovered token's lines")
    assert {q for _, q, _, _ in lines(page)} == {4}
    assert page.state()["hover"] == {"id": "3", "token": 4}
    # … and a key token keeps the lines that end at it.
    key = head_view(page).find_element(By.CSS_SELECTOR, '.attn-token[data-side="key"][data-token-index="2"]')
    ActionChains(page.d).move_to_element(key).perform()
    page.wait(lambda d: {k for _, _, k, _ in lines(page)} == {2}, "the key's lines")
    assert len(lines(page)) == heads * n
    ActionChains(page.d).move_to_element(page.d.find_element(By.ID, "tabs")).perform()
    wait_lines(page, heads * n * n, "every line after the mouse leaves")
    assert page.state()["hover"] is None
    # A hover set elsewhere (the salience module's chips) highlights the same token here.
    page.js("window.loupe.state.update({hover: {id: '3', token: 6}}, 'salience')")
    page.wait(lambda d: "hovered" in head_view(page).find_element(
        By.CSS_SELECTOR, '.attn-token[data-side="query"][data-token-index="6"]').get_attribute("class"), "token 6 highlighted")
    wait_lines(page, heads * n, "token 6's lines")
    page.js("window.loupe.state.update({hover: null}, 'salience')")
    wait_lines(page, heads * n * n, "every line again")
    assert page.console_errors() == []


def canvas_ink(page, css):
    """How many pixels of the canvas are drawn darker than the page's near-white (0: blank)."""
    return page.js("""
      const c = document.querySelector(arguments[0]);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] + d[i + 1] + d[i + 2] < 600) ink++;
      return ink;""", css)


def test_thumbnails_matrix_rollout_and_the_link(page, server):
    api = attention(server, "bert-tiny", "3")
    n, heads = len(api["tokens"]), len(api["attention"][0])
    open_with(page)
    sec = page.module("attention")
    assert canvas_ink(page, f'{MODULE} .attn-thumb[data-layer="1"][data-head="0"] canvas') > 0
    # A thumbnail click shows that layer and head.
    sec.find_element(By.CSS_SELECTOR, '.attn-thumb[data-layer="2"][data-head="1"]').click()
    page.wait(lambda d: head_view(page).get_attribute("data-layer") == "2", "layer 2")
    wait_lines(page, n * n, "head 2's lines only")
    assert {h for h, *_ in lines(page)} == {1}
    params = page.state()["params"]
    assert (params["attention.layer"], params["attention.head"], params["attention.heads"]) == ("2", "2", "2")
    assert sec.find_element(By.CSS_SELECTOR, '.attn-thumb[data-layer="2"][data-head="1"]').get_attribute("aria-pressed") == "true"
    # Arrow keys move between thumbnails, Enter chooses.
    thumb = sec.find_element(By.CSS_SELECTOR, '.attn-thumb[data-layer="2"][data-head="1"]')
    thumb.send_keys(Keys.ARROW_UP)
    focused = page.d.switch_to.active_element
    assert (focused.get_attribute("data-layer"), focused.get_attribute("data-head")) == ("1", "1")
    focused.send_keys(Keys.ARROW_LEFT)
    page.d.switch_to.active_element.send_keys(Keys.ENTER)
    page.wait(lambda d: page.state()["params"].get("attention.layer") == "1"
              and page.state()["params"].get("attention.head") == "1", "Enter to choose layer 1, head 1")
    page.wait(lambda d: {h for h, *_ in lines(page)} == {0}, "head 1's lines")

    # The matrix of the chosen head, read out under the mouse.
    sec.find_element(By.CSS_SELECTOR, '[data-control="view"][data-value="matrix"]').click()
    page.wait(lambda d: page.js(f"return !!document.querySelector('{MODULE} [data-view=matrix] canvas')"), "the matrix")
    matrix = sec.find_element(By.CSS_SELECTOR, "[data-view=matrix]")
    assert (matrix.get_attribute("data-layer"), matrix.get_attribute("data-head")) == ("1", "0")
    canvas = matrix.find_element(By.TAG_NAME, "canvas")
    # The last cell (query n-1, key n-1) is the canvas's bottom-right corner.
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(page.d).move_to_element_with_offset(canvas, w // 2 - 3, h // 2 - 3).perform()
    want = api["attention"][0][0][n - 1][n - 1]
    page.wait(lambda d: f"{want:.3f}" in sec.find_element(By.CSS_SELECTOR, ".attn-detail .attn-readout").text,
              f"the readout to show {want:.3f}")
    # The rollout, as a heat map.
    assert page.d.find_elements(By.CSS_SELECTOR, f"{MODULE} [data-view=rollout]") == []
    sec.find_element(By.CSS_SELECTOR, '[data-control="rollout"]').click()
    page.wait(lambda d: page.js(f"return !!document.querySelector('{MODULE} [data-view=rollout] canvas')"), "the rollout")
    assert canvas_ink(page, f"{MODULE} [data-view=rollout] canvas") > n * n
    assert page.state()["params"]["attention.rollout"] == "1"
    page.screenshot("attention-matrix", page.module("attention"))

    # A link restores the settings.
    page.d.refresh()
    page.wait(lambda d: page.js(f"return !!document.querySelector('{MODULE} [data-view=rollout] canvas')"), "the restored rollout")
    sec = page.module("attention")
    assert sec.find_element(By.CSS_SELECTOR, '[data-control="rollout"]').is_selected()
    assert sec.find_element(By.CSS_SELECTOR, '[data-control="view"][data-value="matrix"]').get_attribute("aria-pressed") == "true"
    assert sec.find_element(By.CSS_SELECTOR, '[data-control="layer"]').get_attribute("value") == "1"
    sec.find_element(By.CSS_SELECTOR, '[data-control="rollout"]').click()
    page.wait(lambda d: page.d.find_elements(By.CSS_SELECTOR, f"{MODULE} [data-view=rollout]") == [], "the rollout to go")
    assert "attention.rollout" not in page.state()["params"]
    assert page.console_errors() == []


def test_gpt2_side_by_side(page, server):
    api = attention(server, "gpt2", "3")
    n, heads = len(api["tokens"]), len(api["attention"][0])
    open_with(page)
    page.d.find_element(By.CSS_SELECTOR, '#controls input[data-model="gpt2"]').click()
    page.wait(lambda d: page.state()["models"] == ["bert-tiny", "gpt2"], "gpt2 to be active")
    page.wait(lambda d: len(page.d.find_elements(By.CSS_SELECTOR, f'{MODULE}[data-model="gpt2"] .attn-head-view')) == 1,
              "gpt2's head view")
    assert len(page.d.find_elements(By.CSS_SELECTOR, f'{MODULE}[data-model="gpt2"] .attn-thumb')) == \
        model_info(server, "gpt2")["layers"] * heads
    wait_lines(page, heads * n * n, "gpt2's lines", "gpt2")
    drawn = {(h, q, k): o for h, q, k, o in lines(page, "gpt2")}
    assert drawn[(0, 0, 1)] == 0  # causal: a token never attends to a later one
    assert drawn[(1, 3, 2)] == pytest.approx(api["attention"][0][1][3][2] / heads, rel=1e-3, abs=1e-6)
    # Hovering a gpt2 token isolates it there and leaves bert-tiny's view whole (their tokens differ).
    bert_lines = len(lines(page, "bert-tiny"))
    token = head_view(page, "gpt2").find_element(By.CSS_SELECTOR, '.attn-token[data-side="query"][data-token-index="3"]')
    ActionChains(page.d).move_to_element(token).perform()
    wait_lines(page, heads * n, "gpt2's hovered lines", "gpt2")
    assert len(lines(page, "bert-tiny")) == bert_lines
    page.screenshot("attention-gpt2", page.d.find_element(By.ID, "right"))
    assert page.console_errors() == []


def test_long_input_draws_top_k_on_a_canvas(page, server):
    text = " ".join(["a gorgeous , witty , seductive movie that never quite finds its footing"] * 8)
    added = server.post("/api/examples", {"dataset": "sst2-dev", "examples": [{"text": text, "label": "1"}]})
    id_ = added["examples"][0]["id"]
    api = attention(server, "bert-tiny", id_)
    n, heads = len(api["tokens"]), len(api["attention"][0])
    assert n > 64
    page.open("#tab=attention&models=bert-tiny")
    page.wait(lambda d: page.js("return window.loupe.data.byId.has(arguments[0])", id_), "the added example")
    select(page, id_)
    page.wait(lambda d: page.js(f"return document.querySelector('{MODULE} .attn-head-view')?.dataset.renderer") == "canvas",
              "the canvas head view")
    view = head_view(page)
    assert view.get_attribute("data-line-count") == str(heads * n * min(TOP_K, n))
    assert f"{TOP_K} strongest keys" in page.module("attention").find_element(By.CSS_SELECTOR, ".attn-note").text
    assert canvas_ink(page, f"{MODULE} .attn-head-view canvas") > 0
    token = view.find_element(By.CSS_SELECTOR, '.attn-token[data-side="query"][data-token-index="5"]')
    page.js("arguments[0].scrollIntoView({block: 'center'})", token)
    ActionChains(page.d).move_to_element(token).perform()
    page.wait(lambda d: view.get_attribute("data-line-count") == str(heads * n), "all of token 5's lines")
    assert page.console_errors() == []
