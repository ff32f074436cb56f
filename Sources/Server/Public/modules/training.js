// Training curves (issue 14, module 11): the evaluations of each `loupe serve --run DIR` (its metrics.jsonl) as
// line charts against the step, best checkpoints marked, refreshed every 10 s while shown (a run may still train).
import {LoupeModule} from '../module.js';
import {h, svg, replace, emptyState, spinner, fmt} from '../dom.js';
import {category} from '../colors.js';
/** @typedef {import('../types.js').Evaluation} Evaluation */
/** @typedef {import('../types.js').TrainingRun} TrainingRun */
/** @typedef {{run: number, index: number}} Point */

const POLL_MS = 10_000;

/** @type {{key: 'accuracy' | 'macro_f1' | 'loss' | 'learning_rate', title: string, format: (v: number) => string}[]} */
const METRICS = [
  {key: 'accuracy', title: 'Accuracy', format: v => fmt(v, 4)},
  {key: 'macro_f1', title: 'Macro F1', format: v => fmt(v, 4)},
  {key: 'loss', title: 'Loss', format: v => fmt(v, 4)},
  {key: 'learning_rate', title: 'Learning rate', format: v => v.toExponential(2)},
];

/**
 * About `count` round tick values covering [lo, hi].
 * @param {number} lo @param {number} hi @param {number} count
 */
export function ticks(lo, hi, count) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(s => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export class TrainingCurves extends LoupeModule {
  static id = 'training';
  static title = 'Training curves';
  static help = 'Accuracy, macro F1, loss and learning rate of each fine-tuning run given to `loupe serve --run DIR`, by step; best checkpoints are ringed.';
  static perModel = false;

  /**
   * @param {import('../module.js').Context} ctx
   * @param {HTMLElement} body
   * @param {import('../types.js').ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    /** @type {TrainingRun[] | null} */
    this.runs = null;
    this.json = '';
    /** @type {Point | null} */
    this.hover = null;
    /** @type {AbortController | null} */
    this.inflight = null;
    this.failed = false;
    this.readout = h('div', {class: 'tr-readout', 'aria-live': 'polite'});
    // Polls only while the page and this module are visible: hidden tabs cost the server nothing.
    this.timer = setInterval(() => {
      if (document.visibilityState === 'visible' && this.body.isConnected && this.body.offsetParent !== null) this.fetch();
    }, POLL_MS);
  }

  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) {
    if (changed.has('shown')) {
      if (this.runs === null) replace(this.body, spinner('Reading the runs…'));
      this.fetch();
    }
  }

  async fetch() {
    if (this.inflight) return; // a slow answer is still coming: do not pile up polls
    const controller = new AbortController();
    this.inflight = controller;
    try {
      const r = await this.api.get('/api/runs', controller.signal);
      this.failed = false;
      const json = JSON.stringify(r.runs);
      if (json !== this.json) { this.json = json; this.runs = r.runs; this.render(); }
    } catch (e) {
      // Said once, not every 10 s while the server is away.
      if (!controller.signal.aborted && !this.failed) this.api.report(e);
      this.failed = true;
      if (this.runs === null) replace(this.body, emptyState('Could not read /api/runs; the page retries every 10 s.'));
    } finally {
      if (this.inflight === controller) this.inflight = null;
    }
  }

  render() {
    const runs = (this.runs ?? []).filter(r => r.evaluations.length > 0);
    if (!this.runs || this.runs.length === 0) {
      replace(this.body, emptyState('Start loupe serve with --run DIR (a loupe finetune --out directory) to see its curves'));
      return;
    }
    if (runs.length === 0) {
      replace(this.body, emptyState(`${this.runs.map(r => r.name).join(', ')}: no evaluation yet (the run may still be training; this refreshes every 10 s)`));
      return;
    }
    const legend = h('div', {class: 'tr-runs'}, ...runs.map((run, i) => {
      const best = bestOf(run);
      return h('div', {class: 'tr-run', 'data-run': run.name},
        h('span', {class: 'tr-swatch', style: {background: category(i)}}), h('strong', {}, run.name),
        h('span', {class: 'muted'}, ` ${run.evaluations.length} evaluation${run.evaluations.length === 1 ? '' : 's'}`),
        best ? h('span', {class: 'muted'}, ` · best accuracy ${fmt(best.accuracy, 4)} at step ${best.step} (epoch ${fmt(best.epoch, 2)})`) : null);
    }));
    const charts = METRICS.map(m => this.chart(runs, m));
    legend.append(h('div', {class: 'muted tr-key'}, '○ best so far (a best.h5 was saved) · ★ the run\'s best checkpoint · refreshed every 10 s'));
    replace(this.body, legend, this.readout, h('div', {class: 'tr-grid'}, ...charts));
    if (this.hover && !runs[this.hover.run]?.evaluations[this.hover.index]) this.hover = null;
    this.showHover();
  }

  /**
   * One metric against the step, a line per run; points keyed by run and index for hover and tests.
   * @param {TrainingRun[]} runs
   * @param {typeof METRICS[number]} metric
   */
  chart(runs, metric) {
    const W = 360, H = 170, L = 52, R = 12, T = 10, B = 26;
    const value = (/** @type {Evaluation} */ e) => /** @type {number | undefined} */ (e[metric.key]);
    const all = runs.flatMap(r => r.evaluations);
    const values = /** @type {number[]} */ (all.map(value).filter(v => typeof v === 'number' && Number.isFinite(v)));
    const figure = h('figure', {class: 'tr-chart', 'data-metric': metric.key}, h('figcaption', {}, metric.title));
    if (values.length === 0) { figure.append(h('div', {class: 'muted tr-none'}, `no ${metric.title.toLowerCase()} recorded`)); return figure; }
    const steps = all.map(e => e.step);
    let [x0, x1] = [Math.min(...steps), Math.max(...steps)];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    let [y0, y1] = [Math.min(...values), Math.max(...values)];
    const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 1;
    y0 -= pad; y1 += pad;
    if (metric.key === 'learning_rate' || metric.key === 'loss') y0 = Math.max(0, y0);
    const x = (/** @type {number} */ v) => L + (v - x0) / (x1 - x0) * (W - L - R);
    const y = (/** @type {number} */ v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
    const g = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'tr-svg', tabindex: 0, role: 'img',
      'aria-label': `${metric.title} by step; arrow keys move between evaluations`});
    for (const v of ticks(y0, y1, 4)) {
      g.append(svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'tr-gridline'}));
      g.append(text(L - 6, y(v) + 4, metric.key === 'learning_rate' && v !== 0 ? v.toExponential(1) : String(Number(v.toFixed(4))), 'end'));
    }
    for (const v of ticks(x0, x1, 4)) if (v >= x0 && v <= x1) g.append(text(x(v), H - 8, String(v), 'middle'));
    g.append(text(L - 6, H - 8, 'step', 'end'));
    g.append(svg('line', {x1: L, x2: L, y1: T, y2: H - B, class: 'tr-axis'}));
    g.append(svg('line', {x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'tr-axis'}));
    const guide = svg('line', {y1: T, y2: H - B, class: 'tr-guide', visibility: 'hidden'});
    g.append(guide);
    runs.forEach((run, r) => {
      /** @type {{e: Evaluation, i: number, v: number}[]} */
      const pts = [];
      run.evaluations.forEach((e, i) => { const v = value(e); if (typeof v === 'number' && Number.isFinite(v)) pts.push({e, i, v}); });
      const color = category(r);
      g.append(svg('path', {d: pts.map((p, k) => `${k ? 'L' : 'M'}${x(p.e.step).toFixed(1)},${y(p.v).toFixed(1)}`).join(''),
        class: 'tr-line', stroke: color}));
      const finalBest = lastBestIndex(run);
      for (const p of pts) {
        const c = svg('circle', {cx: x(p.e.step), cy: y(p.v), r: p.e.best ? 4.5 : 3,
          class: `tr-point${p.e.best ? ' best' : ''}${p.i === finalBest ? ' final' : ''}`, stroke: color, fill: p.e.best ? '#fff' : color,
          'data-run': r, 'data-index': p.i, 'data-step': p.e.step, 'data-best': String(p.e.best), 'data-final-best': String(p.i === finalBest)});
        const title = svg('title');
        title.textContent = `${run.name} step ${p.e.step}: ${metric.title.toLowerCase()} ${metric.format(p.v)}${p.e.best ? ' (best so far)' : ''}`;
        c.append(title);
        g.append(c);
        if (p.i === finalBest) g.append(text(x(p.e.step), y(p.v) - 8, '★', 'middle', 'tr-star'));
      }
    });
    // The nearest evaluation to the pointer is shown (no need to hit a 3-pixel dot).
    g.addEventListener('mousemove', e => {
      const box = g.getBoundingClientRect();
      const px = (e.clientX - box.left) / box.width * W;
      /** @type {Point | null} */
      let best = null;
      let dist = Infinity;
      runs.forEach((run, r) => run.evaluations.forEach((ev, i) => {
        const d = Math.abs(x(ev.step) - px) + r * 1e-6;
        if (d < dist) { dist = d; best = {run: r, index: i}; }
      }));
      this.setHover(best);
    });
    g.addEventListener('mouseleave', () => this.setHover(null));
    g.addEventListener('focus', () => { if (!this.hover) this.setHover({run: 0, index: 0}); });
    g.addEventListener('blur', () => this.setHover(null));
    g.addEventListener('keydown', e => this.onKey(e, runs));
    figure.append(g);
    /** Where a step is drawn, for the hover guide. */
    guideOf.set(figure, {guide, x});
    return figure;
  }

  /**
   * Arrow keys walk the evaluations (left/right) and the runs (up/down); Escape hides the readout.
   * @param {KeyboardEvent} e
   * @param {TrainingRun[]} runs
   */
  onKey(e, runs) {
    const p = this.hover ?? {run: 0, index: 0};
    let {run, index} = p;
    if (e.key === 'ArrowRight') index++;
    else if (e.key === 'ArrowLeft') index--;
    else if (e.key === 'ArrowDown') run++;
    else if (e.key === 'ArrowUp') run--;
    else if (e.key === 'Home') index = 0;
    else if (e.key === 'End') index = Infinity;
    else if (e.key === 'Escape') { this.setHover(null); return; }
    else return;
    e.preventDefault();
    run = Math.max(0, Math.min(runs.length - 1, run));
    index = Math.max(0, Math.min(runs[run].evaluations.length - 1, index));
    this.setHover({run, index});
  }

  /** @param {Point | null} p */
  setHover(p) {
    if (JSON.stringify(p) === JSON.stringify(this.hover)) return;
    this.hover = p;
    this.showHover();
  }

  /** Marks the hovered evaluation in every chart and writes its values in the readout. */
  showHover() {
    for (const el of this.body.querySelectorAll('.tr-point.hovered')) el.classList.remove('hovered');
    const runs = (this.runs ?? []).filter(r => r.evaluations.length > 0);
    const p = this.hover;
    const ev = p ? runs[p.run]?.evaluations[p.index] : undefined;
    for (const fig of this.body.querySelectorAll('figure.tr-chart')) {
      const g = guideOf.get(/** @type {HTMLElement} */ (fig));
      if (!g) continue;
      g.guide.setAttribute('visibility', ev ? 'visible' : 'hidden');
      if (ev) { g.guide.setAttribute('x1', String(g.x(ev.step))); g.guide.setAttribute('x2', String(g.x(ev.step))); }
    }
    if (!p || !ev) {
      this.readout.textContent = 'Hover a chart (or focus it and use the arrow keys) to read an evaluation.';
      this.readout.classList.add('muted');
      return;
    }
    for (const el of this.body.querySelectorAll(`.tr-point[data-run="${p.run}"][data-index="${p.index}"]`)) el.classList.add('hovered');
    this.readout.classList.remove('muted');
    const parts = [`${runs[p.run].name}`, `step ${ev.step}`, `epoch ${fmt(ev.epoch, 2)}`,
      ...METRICS.filter(m => typeof ev[m.key] === 'number').map(m => `${m.title.toLowerCase()} ${m.format(/** @type {number} */ (ev[m.key]))}`),
      `${fmt(ev.examples_per_second, 0)} ex/s`, ev.best ? 'best so far' : ''];
    this.readout.textContent = parts.filter(s => s).join(' · ');
  }

  dispose() {
    clearInterval(this.timer);
    this.inflight?.abort();
  }
}

/** Each chart's hover guide and step → x map (kept off the DOM). */
/** @type {WeakMap<HTMLElement, {guide: SVGElement, x: (v: number) => number}>} */
const guideOf = new WeakMap();

/**
 * @param {number} x @param {number} y @param {string} s @param {string} anchor @param {string} [cls]
 */
function text(x, y, s, anchor, cls = 'tr-tick') {
  const t = svg('text', {x, y, 'text-anchor': anchor, class: cls});
  t.textContent = s;
  return t;
}

/**
 * The index of the run's last "best" evaluation: the checkpoint its best.h5 holds.
 * @param {TrainingRun} run
 */
function lastBestIndex(run) {
  for (let i = run.evaluations.length - 1; i >= 0; i--) if (run.evaluations[i].best) return i;
  return -1;
}

/** @param {TrainingRun} run */
function bestOf(run) {
  const i = lastBestIndex(run);
  return i >= 0 ? run.evaluations[i] : null;
}
