"""Browser test of the data table at 67,349 rows (SST-2 train's size): scroll frame times, search and sort times."""
import json
import os
import re
import shutil
import tempfile

import pytest

from conftest import ARTIFACTS, DATASET_FILE, FIXTURES, Page, Server
from test_table import count, grid

BIG = 67349


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
