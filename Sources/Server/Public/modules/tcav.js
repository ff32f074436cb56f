// TCAV (issue 14, module 10): does a concept, given by the selected examples, push a classifier towards a class?
// Concept = a selection, random = a seeded sample of the rest of the same size; score and significance as
// /api/tcav computes them (Kim et al. 2018, LIT's TCAV), with the run scores against the random runs' scores.
import {LoupeModule} from '../module.js';
import {h, svg, replace, emptyState, spinner, fmt, pct} from '../dom.js';
/** @typedef {import('../types.js').ModelInfo} ModelInfo */
/**
 * /api/tcav's answer (TCAVResult in Sources/Workbench/TCAV.swift).
 * @typedef {{target_class: string, layer: number, score: number, scores: number[], mean_score: number,
 *   random_scores: number[], random_mean: number, p_value: number, significant: boolean, cav_accuracy: number,
 *   accuracies: number[], runs: number, measured: string[], derivatives: number[]}} TCAVResult
 */

/** Concepts longer than this are kept in the module only (the URL would grow without bound). */
const URL_CONCEPT = 200;
/** The server's smallest concept and random sets (TCAV.swift), and its most examples per set (maxExamples). */
const MIN_CONCEPT = 3;
const MIN_RANDOM = 6;
const MAX_SET = 1024;

/**
 * A small seeded generator (mulberry32), so a seed gives the same random sample on every machine.
 * @param {number} seed
 */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` ids drawn without replacement from `pool` (kept in pool order), seeded.
 * @param {string[]} pool
 * @param {number} n
 * @param {number} seed
 */
export function sample(pool, n, seed) {
  if (n >= pool.length) return [...pool];
  const next = rng(seed);
  const idx = pool.map((_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(next() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, n).sort((a, b) => a - b).map(i => pool[i]);
}

export class TCAV extends LoupeModule {
  static id = 'tcav';
  static title = 'TCAV';
  static help = 'Testing with Concept Activation Vectors: does a concept, given by example sentences, push the classifier towards a class? Significance is tested against random concepts.';
  static perModel = true;

  /**
   * @param {import('../module.js').Context} ctx
   * @param {ModelInfo | null} model
   */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is active';
    if (!model.operations.includes('tcav')) return `needs a BERT sequence-classification model; ${model.name} is a ${model.task}`;
    return null;
  }

  /**
   * @param {import('../module.js').Context} ctx
   * @param {HTMLElement} body
   * @param {ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    this.m = /** @type {ModelInfo} */ (model);
    /** @type {string[]} */
    this.concept = (this.state.param('tcav.concept') ?? '').split(',').filter(s => s);
    /** @type {{key: string, result: TCAVResult} | null} */
    this.last = null;
    this.running = false;
    this.ui = this.build();
  }

  build() {
    const m = this.m;
    const id = (/** @type {string} */ s) => `tcav-${m.name}-${s}`;
    const labels = m.labels.length ? m.labels : ['0'];
    const wantedClass = this.state.param('tcav.class');
    const classSel = h('select', {id: id('class'), 'data-control': 'class', onchange: () => this.setParam('class', classSel.value)},
      ...labels.map(l => h('option', {value: l, selected: l === (labels.includes(wantedClass ?? '') ? wantedClass : labels[labels.length - 1])}, l)));
    const wantedLayer = Number(this.state.param('tcav.layer') ?? m.layers);
    const layerSel = h('select', {id: id('layer'), 'data-control': 'layer', onchange: () => this.setParam('layer', layerSel.value)},
      ...Array.from({length: m.layers}, (_, i) => i + 1).map(l =>
        h('option', {value: String(l), selected: l === wantedLayer}, l === m.layers ? `${l} (last)` : String(l))));
    const runs = h('input', {type: 'number', id: id('runs'), min: 2, max: 100, step: 1, value: this.state.param('tcav.runs') ?? '10',
      'data-control': 'runs', onchange: () => this.setParam('runs', runs.value)});
    const seed = h('input', {type: 'number', id: id('seed'), min: 0, step: 1, value: this.state.param('tcav.seed') ?? '0',
      'data-control': 'seed', onchange: () => this.setParam('seed', seed.value)});
    const useSel = h('button', {'data-action': 'use-selection', onclick: () => this.useSelection()});
    const clear = h('button', {'data-action': 'clear-concept', onclick: () => this.setConcept([])}, 'Clear');
    const runButton = h('button', {class: 'primary', 'data-action': 'run', onclick: () => this.run()}, 'Run TCAV');
    const conceptLine = h('div', {class: 'tcav-set', 'data-set': 'concept'});
    const randomLine = h('div', {class: 'tcav-set', 'data-set': 'random'});
    const hint = h('div', {class: 'tcav-hint muted', role: 'note'});
    const result = h('div', {class: 'tcav-result', 'aria-live': 'polite'});
    const label = (/** @type {string} */ s, /** @type {string} */ text) => h('label', {for: id(s), class: 'muted'}, text);
    replace(this.body,
      h('div', {class: 'toolbar'}, useSel, clear),
      conceptLine, randomLine,
      h('div', {class: 'toolbar tcav-settings'}, label('class', 'Class'), classSel, label('layer', 'Layer'), layerSel,
        label('runs', 'Runs'), runs, label('seed', 'Seed'), seed, runButton),
      hint, result);
    return {classSel, layerSel, runs, seed, useSel, clear, runButton, conceptLine, randomLine, hint, result};
  }

  /** @param {string} key @param {string} value */
  setParam(key, value) {
    this.state.setParam(`tcav.${key}`, value, this);
    this.render();
  }

  useSelection() { this.setConcept([...this.state.selection]); }

  /** @param {string[]} ids */
  setConcept(ids) {
    this.concept = ids;
    this.state.setParam('tcav.concept', ids.length && ids.length <= URL_CONCEPT ? ids.join(',') : undefined, this);
    this.render();
  }

  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) {
    if (changed.has('params')) {
      // A link or the back button changed the concept: follow it (a concept too long for the URL has no param).
      const p = this.state.param('tcav.concept');
      const fromURL = (p ?? '').split(',').filter(s => s);
      if (p !== undefined ? fromURL.join(',') !== this.concept.join(',') : this.concept.length <= URL_CONCEPT && this.concept.length > 0) this.concept = fromURL;
    }
    if (['shown', 'selection', 'examples', 'params', 'models'].some(k => changed.has(/** @type {any} */ (k)))) this.render();
  }

  /** The request the controls describe (null with the reason when it cannot run yet). */
  request() {
    const byId = this.data.byId;
    const concept = this.concept.filter(id => byId.has(id)).slice(0, MAX_SET);
    const taken = new Set(concept);
    const pool = this.data.examples.map(e => e.id).filter(id => !taken.has(id));
    const seed = Math.max(0, Math.floor(Number(this.ui.seed.value) || 0));
    const random = sample(pool, Math.min(MAX_SET, Math.max(concept.length, MIN_RANDOM)), seed);
    const runs = Math.floor(Number(this.ui.runs.value));
    /** @type {Record<string, any>} */
    const body = {model: this.m.name, dataset: this.state.dataset, concept_ids: concept, random_ids: random,
      class: this.ui.classSel.value, layer: Number(this.ui.layerSel.value), runs, seed};
    // Measured inputs: the whole dataset (the server's default) unless it is larger than a call may name.
    if (this.data.examples.length > MAX_SET) body.ids = sample(this.data.examples.map(e => e.id), MAX_SET, seed);
    let problem = null;
    if (concept.length < MIN_CONCEPT) problem = `A concept needs at least ${MIN_CONCEPT} examples: select them in the table (e.g. with its search) and press “Use selection as concept”.`;
    else if (random.length < MIN_RANDOM) problem = `The rest of the dataset has ${random.length} examples; random needs at least ${MIN_RANDOM}.`;
    else if (!Number.isInteger(runs) || runs < 2 || runs > 100) problem = 'Runs must be a whole number from 2 to 100.';
    return {body, concept, random, pool: pool.length, problem};
  }

  render() {
    const n = this.state.selection.length;
    const ui = this.ui;
    ui.useSel.textContent = `Use selection as concept (${n})`;
    ui.useSel.disabled = n === 0;
    ui.clear.disabled = this.concept.length === 0;
    const r = this.request();
    const list = (/** @type {string[]} */ ids) => h('ol', {class: 'tcav-list'}, ...ids.slice(0, 50).map(id =>
      h('li', {'data-id': id}, h('span', {class: 'muted'}, `${id} `), this.data.byId.get(id)?.text ?? '')));
    // Redrawn only when their ids change, so an opened list stays open while the selection moves.
    const conceptKey = `${r.concept.join(',')}|${this.concept.length}`;
    if (ui.conceptLine.dataset.key !== conceptKey) {
      ui.conceptLine.dataset.key = conceptKey;
      replace(ui.conceptLine, h('span', {class: 'tcav-set-name'}, 'Concept'),
        r.concept.length ? h('details', {'data-ids': r.concept.join(',')}, h('summary', {}, `${r.concept.length} example${r.concept.length === 1 ? '' : 's'}`), list(r.concept))
          : h('span', {class: 'muted'}, this.concept.length ? 'waiting for the dataset…' : 'none yet'));
    }
    const randomKey = `${r.random.join(',')}|${r.pool}|${r.body.seed}`;
    if (ui.randomLine.dataset.key !== randomKey) {
      ui.randomLine.dataset.key = randomKey;
      replace(ui.randomLine, h('span', {class: 'tcav-set-name'}, 'Random'),
        h('details', {'data-ids': r.random.join(','), 'data-seed': r.body.seed},
          h('summary', {}, `${r.random.length} examples drawn from the other ${r.pool} (seed ${r.body.seed})`), list(r.random)));
    }
    ui.hint.textContent = r.problem ?? `Score: the share of inputs predicted “${r.body.class}” whose “${r.body.class}” logit rises along the concept's direction at layer ${r.body.layer}. Significant when the concept's runs differ from random-vs-random runs (t-test, p < 0.05).`;
    ui.runButton.disabled = r.problem !== null || this.running;
    this.renderResult(JSON.stringify(r.body), this.concept.length === 0);
  }

  async run() {
    const r = this.request();
    if (r.problem || this.running) return;
    const key = JSON.stringify(r.body);
    this.running = true;
    this.render();
    const result = await this.api.latest(`tcav-${this.m.name}`, signal => this.api.post('/api/tcav', r.body, signal));
    this.running = false;
    if (result) this.last = {key, result};
    this.render();
  }

  /**
   * @param {string} key the current request, to tell a result whose settings have changed since
   * @param {boolean} noConcept
   */
  renderResult(key, noConcept) {
    const el = this.ui.result;
    if (this.running) { replace(el, spinner(`Training ${2 * (Number(this.ui.runs.value) || 10)} CAVs…`)); return; }
    if (!this.last) {
      replace(el, emptyState(noConcept
        ? 'Select examples that share a concept in the table, press “Use selection as concept”, then Run TCAV'
        : 'Press Run TCAV to test the concept'));
      return;
    }
    const t = this.last.result;
    const stale = this.last.key !== key;
    const stat = (/** @type {string} */ name, /** @type {string} */ value, /** @type {string} */ title) =>
      h('div', {class: 'tcav-stat', title, 'data-stat': name}, h('div', {class: 'tcav-stat-value'}, value), h('div', {class: 'muted'}, name.replace(/_/g, ' ')));
    replace(el,
      stale ? h('div', {class: 'tcav-stale muted', role: 'note'}, 'The settings changed since this result: press Run TCAV again.') : null,
      h('div', {class: stale ? 'tcav-card stale' : 'tcav-card'},
        h('div', {class: 'tcav-head'},
          h('span', {class: 'tcav-score', 'data-stat': 'score'}, fmt(t.score, 3)),
          h('span', {class: 'muted'}, `TCAV score for “${t.target_class}” at layer ${t.layer}`),
          h('span', {class: t.significant ? 'badge ok' : 'badge', 'data-significant': String(t.significant)},
            t.significant ? 'significant' : 'not significant')),
        h('div', {class: 'tcav-stats'},
          stat('p_value', t.p_value < 0.001 ? t.p_value.toExponential(1) : fmt(t.p_value, 3), 'Two-sided t-test of the concept runs\' scores against the random runs\''),
          stat('mean_score', fmt(t.mean_score, 3), 'Mean TCAV score over the concept runs'),
          stat('random_mean', fmt(t.random_mean, 3), 'Mean score of the random-vs-random CAVs'),
          stat('cav_accuracy', pct(t.cav_accuracy), 'Held-out accuracy of the reported CAV: how well the layer separates concept from random'),
          stat('runs', String(t.runs), 'Concept runs (and as many random runs)'),
          stat('measured', String(t.measured.length), 'Inputs whose directional derivative was measured')),
        strip(t)));
  }

  dispose() { this.api.inflight.get(`tcav-${this.m.name}`)?.abort(); }
}

/**
 * Each run's score as a dot on [0, 1], concept runs above random runs, with each row's mean (a tick) and the
 * reported score (a ring): a glance shows whether the two sets overlap.
 * @param {TCAVResult} t
 */
function strip(t) {
  const W = 460, H = 84, L = 64, R = 12, rowY = [22, 50];
  const x = (/** @type {number} */ v) => L + v * (W - L - R);
  const g = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'tcav-strip', role: 'img',
    'aria-label': `Run scores: concept mean ${fmt(t.mean_score, 2)}, random mean ${fmt(t.random_mean, 2)}`});
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    g.append(svg('line', {x1: x(v), x2: x(v), y1: 10, y2: 62, class: 'tcav-grid'}));
    const label = svg('text', {x: x(v), y: 76, 'text-anchor': 'middle', class: 'tcav-axis'});
    label.textContent = String(v);
    g.append(label);
  }
  /** @type {[string, number[], number, string][]} */
  const rows = [['concept', t.scores, t.mean_score, 'concept'], ['random', t.random_scores, t.random_mean, 'random']];
  rows.forEach(([name, scores, mean, cls], r) => {
    const y = rowY[r];
    const label = svg('text', {x: L - 8, y: y + 4, 'text-anchor': 'end', class: 'tcav-axis'});
    label.textContent = name;
    g.append(label);
    scores.forEach((s, i) => {
      // A small fixed vertical jitter so equal scores (often 0 or 1) stay countable.
      const dot = svg('circle', {cx: x(s), cy: y + ((i % 5) - 2) * 2.2, r: 3.2, class: `tcav-dot ${cls}`, 'data-kind': cls, 'data-score': s});
      const title = svg('title');
      title.textContent = `${name} run ${i + 1}: ${fmt(s, 3)}`;
      dot.append(title);
      g.append(dot);
    });
    g.append(svg('line', {x1: x(mean), x2: x(mean), y1: y - 9, y2: y + 9, class: `tcav-mean ${cls}`}));
  });
  g.append(svg('circle', {cx: x(t.score), cy: rowY[0], r: 6, class: 'tcav-reported'}));
  return h('figure', {class: 'tcav-figure'}, g,
    h('figcaption', {class: 'muted'}, 'Each dot is one run’s score; ticks are the means; the ring is the reported score (the most accurate concept CAV).'));
}
