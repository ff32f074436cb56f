// Embeddings projector (LIT's embeddings module): PCA or UMAP of the first active model's sentence embeddings, points
// coloured by gold label / prediction / correctness; hover shows the text, click, box and lasso select.
import {LoupeModule} from '../module.js';
import {h, replace, emptyState, spinner, pct} from '../dom.js';
import {category, CORRECT, WRONG, UNKNOWN} from '../colors.js';
import {ScatterPlot} from './projector-plot.js';
/** @typedef {import('../types.js').Projection} Projection */
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('./projector-plot.js').Tool} Tool */

/** The server projects at most this many points (`maxProjectionPoints`); larger datasets are sampled evenly. */
const MAX_POINTS = 10_000;
/** LIT's default: PCA above this many examples (UMAP is slower), UMAP below. */
const UMAP_UP_TO = 1000;

export class Projector extends LoupeModule {
  static id = 'projector';
  static title = 'Embeddings';
  static help = 'PCA or UMAP of the sentence embeddings; hover a point for its text, click, drag (box) or Shift+drag (lasso) to select; the wheel zooms.';

  /** @type {typeof LoupeModule.unsupported} */
  static unsupported(ctx, model) {
    if (!model) return 'no model is active; tick one in the header';
    if (!model.operations.includes('project')) {
      // It projects with the first ticked model (one plot, not one per model): say which other model would do.
      const other = ctx.state.models.find(n => ctx.info.models.find(m => m.name === n)?.operations.includes('project'));
      return `needs a model with sentence embeddings (a BERT model); ${model.name} is a ${model.task}` +
        (other ? `. It uses the first ticked model: untick ${model.name} to project with ${other}` : '');
    }
    return null;
  }

  /**
   * @param {import('../module.js').Context} ctx
   * @param {HTMLElement} body
   * @param {import('../types.js').ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    this.m = /** @type {import('../types.js').ModelInfo} */ (model);
    /** @type {(Projection & {key: string, sampled: boolean}) | null} */
    this.projection = null;
    /** @type {Map<string, number>} id → point index */
    this.index = new Map();
    this.timer = 0;
    this.plot = new ScatterPlot({
      hover: (i, x, y) => this.tooltip(i, x, y),
      pick: (i, additive) => this.pick(i, additive),
      area: (indices, additive) => this.area(indices, additive),
      step: i => { const id = this.idAt(i); if (id) this.state.select([id], this, id); },
    });
    /** @param {string} key @param {string} label @param {[string, string][]} options */
    const select = (key, label, options) => h('label', {}, `${label} `, h('select', {'data-control': key,
      onchange: (/** @type {Event} */ e) => this.state.setParam(`projector.${key}`, /** @type {HTMLSelectElement} */ (e.target).value, this)},
      ...options.map(([v, t]) => h('option', {value: v}, t))));
    this.controls = {
      method: select('method', 'Method', [['pca', 'PCA'], ['umap', 'UMAP']]),
      dims: select('dims', 'Dims', [['2', '2-D'], ['3', '3-D']]),
      field: select('field', 'Vector', [['embedding', 'mean of tokens'], ['cls', '[CLS]']]),
    };
    /** @type {Record<Tool, HTMLButtonElement>} */
    this.tools = {
      box: h('button', {type: 'button', 'data-tool': 'box', title: 'Drag to select a box', onclick: () => this.setTool('box')}, '▭ Box'),
      lasso: h('button', {type: 'button', 'data-tool': 'lasso', title: 'Drag to draw a lasso (or Shift+drag in box mode)', onclick: () => this.setTool('lasso')}, '◌ Lasso'),
      rotate: h('button', {type: 'button', 'data-tool': 'rotate', title: 'Drag to rotate (3-D)', onclick: () => this.setTool('rotate')}, '⟲ Rotate'),
    };
    this.reset = h('button', {type: 'button', 'data-action': 'reset-view', hidden: true, title: 'Back to the whole projection (0)',
      onclick: () => this.plot.resetView()}, 'Reset zoom');
    this.plot.onView = () => { this.reset.hidden = this.plot.view.k === 1; };
    this.recompute = h('button', {type: 'button', 'data-action': 'recompute', onclick: () => this.project()}, 'Recompute');
    this.info = h('div', {class: 'proj-info muted'});
    this.stale = h('div', {class: 'proj-stale', hidden: true, role: 'status'});
    this.legend = h('div', {class: 'proj-legend', 'aria-label': 'Colour legend'});
    this.tip = h('div', {class: 'proj-tooltip', hidden: true, role: 'tooltip'});
    this.plot.wrap.append(this.tip);
    this.stage = h('div', {class: 'proj-stage'});
    replace(this.body, h('div', {class: 'toolbar'}, this.controls.method, this.controls.dims, this.controls.field,
      h('span', {class: 'proj-tools', role: 'group', 'aria-label': 'Drag tool'}, this.tools.box, this.tools.lasso, this.tools.rotate),
      h('span', {class: 'spacer'}), this.reset, this.recompute), this.stale, this.stage, h('div', {class: 'proj-foot'}, this.legend, this.info));
    this.setTool('box');
  }

  dispose() { clearTimeout(this.timer); this.plot.dispose(); }

  /** The settings in the URL (`projector.method`, `.dims`, `.field`), with LIT's size-based default method. */
  settings() {
    const size = Math.max(this.data.examples.length, this.ctx.info.datasets.find(d => d.name === this.state.dataset)?.size ?? 0);
    const method = this.state.param('projector.method') ?? (size > UMAP_UP_TO ? 'pca' : 'umap');
    const dims = this.state.param('projector.dims') === '3' ? 3 : 2;
    const field = this.state.param('projector.field') === 'cls' ? 'cls' : 'embedding';
    return {method: method === 'pca' ? 'pca' : 'umap', dims, field, key: `${method}|${dims}|${field}`};
  }

  /** @param {Set<Change>} changed */
  update(changed) {
    const s = this.settings();
    for (const [k, el] of Object.entries(this.controls)) {
      const sel = /** @type {HTMLSelectElement} */ (el.querySelector('select'));
      sel.value = String(/** @type {any} */ (s)[k]);
    }
    this.tools.rotate.hidden = s.dims !== 3;
    if (s.dims !== 3 && this.plot.tool === 'rotate') this.setTool('box');
    if (['shown', 'examples', 'params'].some(k => changed.has(/** @type {Change} */ (k)))) this.check();
    if (['colorBy', 'predictions', 'examples'].some(k => changed.has(/** @type {Change} */ (k)))) this.recolor();
    if (['selection', 'primary', 'pinned', 'shown'].some(k => changed.has(/** @type {Change} */ (k)))) this.restyle();
  }

  /** Projects when nothing is shown or the settings changed; new examples: PCA again, UMAP says it is stale. */
  check() {
    const {data} = this;
    const size = this.ctx.info.datasets.find(d => d.name === this.state.dataset)?.size ?? 0;
    if (!this.projection) {
      if (data.examples.length === 0 || data.examples.length < size) {
        replace(this.stage, spinner(`Loading the dataset (${data.examples.length}/${size})…`));
        return;
      }
      this.project();
      return;
    }
    if (this.projection.key !== this.settings().key) { this.project(); return; }
    const missing = this.projection.sampled ? 0 : data.examples.filter(e => !this.index.has(e.id)).length;
    if (!missing) { this.stale.hidden = true; return; }
    if (this.projection.method === 'pca') {
      // PCA is quick and exact: follow the dataset (debounced, as examples may arrive in a burst).
      clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.project(), 400);
      return;
    }
    replace(this.stale, `Stale: ${missing} new example${missing > 1 ? 's are' : ' is'} not in this UMAP layout. `,
      h('button', {type: 'button', 'data-action': 'recompute-stale', onclick: () => this.project()}, 'Recompute'));
    this.stale.hidden = false;
  }

  async project() {
    clearTimeout(this.timer);
    const s = this.settings();
    const all = this.data.examples;
    /** @type {Record<string, any>} */
    const body = {model: this.m.name, dataset: this.state.dataset, method: s.method, dims: s.dims, field: s.field};
    const sampled = all.length > MAX_POINTS;
    if (sampled) {
      const step = all.length / MAX_POINTS;
      body.ids = Array.from({length: MAX_POINTS}, (_, k) => all[Math.floor(k * step)].id);
    }
    if (!this.projection) replace(this.stage, spinner(`${s.method === 'umap' ? 'UMAP' : 'PCA'} of ${sampled ? MAX_POINTS : all.length} embeddings…`));
    else this.stage.classList.add('busy');
    this.recompute.disabled = true;
    const r = /** @type {Projection | null} */ (await this.api.latest('projector', signal => this.api.post('/api/project', body, signal)));
    this.recompute.disabled = false;
    this.stage.classList.remove('busy');
    if (!r) { if (!this.projection) replace(this.stage, emptyState('The projection failed (see the status bar); press Recompute to try again.')); return; }
    this.projection = {...r, key: s.key, sampled};
    this.index = new Map(r.points.map((p, i) => [p.id, i]));
    if (this.stage.firstChild !== this.plot.wrap) replace(this.stage, this.plot.wrap);
    this.plot.canvas.dataset.method = r.method;
    this.plot.setPoints(r.points.map(p => p.coordinates), r.dims);
    this.plot.resize();
    this.stale.hidden = true;
    const ev = r.explained_variance_ratio;
    const what = `${r.method === 'pca' ? 'PCA' : 'UMAP'} of ${r.points.length}${sampled ? ` (every ${Math.round(all.length / MAX_POINTS)}th of ${all.length})` : ''} ${s.field === 'cls' ? '[CLS] vectors' : 'sentence embeddings'} of ${this.m.name}`;
    replace(this.info, what, ev ? h('span', {'data-explained-variance': ev.join(',')},
      ` · explained variance ${ev.map((v, i) => `PC${i + 1} ${pct(v)}`).join(', ')} (${pct(ev.reduce((a, b) => a + b, 0))} in all)`) : null);
    this.recolor();
    this.restyle();
  }

  /** @param {number} i */
  idAt(i) { return this.projection?.points[i]?.id ?? null; }

  /**
   * The colour class of example `id` under the current colour-by.
   * @param {string} id
   * @returns {{key: string, name: string, color: string}}
   */
  colorOf(id) {
    const {data, m} = this;
    const by = this.state.colorBy;
    if (by === 'correct') {
      const c = data.correct(m.name, id);
      return c === null ? {key: 'unknown', name: 'not known', color: UNKNOWN}
        : c ? {key: 'correct', name: 'correct', color: CORRECT} : {key: 'wrong', name: 'wrong', color: WRONG};
    }
    if (by === 'prediction') {
      const label = data.prediction(m.name, id)?.label;
      const i = label ? m.labels.indexOf(label) : -1;
      return i < 0 ? {key: 'none', name: 'no prediction yet', color: UNKNOWN} : {key: `p${i}`, name: `predicted ${label}`, color: category(i)};
    }
    const e = data.byId.get(id);
    const gold = data.goldIndex(m, e);
    if (gold !== null) return {key: `g${gold}`, name: m.labels[gold], color: category(gold)};
    // A model without classes (or a label it does not know): the dataset's own label names.
    const raw = e?.label ?? null;
    const dsLabels = this.ctx.info.datasets.find(d => d.name === this.state.dataset)?.labels ?? [];
    const k = raw === null ? -1 : dsLabels.indexOf(raw);
    return k < 0 ? {key: 'none', name: 'no label', color: UNKNOWN} : {key: `d${k}`, name: String(raw), color: category(k)};
  }

  recolor() {
    const p = this.projection;
    if (!p) return;
    /** @type {Map<string, {name: string, color: string, count: number}>} */
    const groups = new Map();
    this.plot.colors = p.points.map(pt => {
      const c = this.colorOf(pt.id);
      const g = groups.get(c.key);
      if (g) g.count++; else groups.set(c.key, {name: c.name, color: c.color, count: 1});
      return c.color;
    });
    this.plot.canvas.dataset.colorBy = this.state.colorBy;
    const title = {label: 'gold label', prediction: 'prediction', correct: 'correctness'}[this.state.colorBy];
    replace(this.legend, h('span', {class: 'muted'}, `${title}:`),
      ...[...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([key, g]) =>
        h('span', {class: 'legend-item', 'data-key': key, 'data-color': g.color},
          h('span', {class: 'swatch', style: {background: g.color}}), `${g.name} (${g.count})`)));
    this.plot.draw();
  }

  restyle() {
    if (!this.projection) return;
    const sel = new Set();
    for (const id of this.state.selection) { const i = this.index.get(id); if (i !== undefined) sel.add(i); }
    this.plot.selected = sel;
    this.plot.primary = this.state.primary === null ? -1 : this.index.get(this.state.primary) ?? -1;
    this.plot.pinned = this.state.pinned === null ? -1 : this.index.get(this.state.pinned) ?? -1;
    this.plot.canvas.dataset.selectedCount = String(sel.size);
    this.plot.draw();
  }

  /** @param {Tool} tool */
  setTool(tool) {
    this.plot.tool = tool;
    for (const [k, b] of Object.entries(this.tools)) b.setAttribute('aria-pressed', String(k === tool));
  }

  /**
   * Click: select the point (Ctrl/⌘: add or remove it); on empty space, clear the selection.
   * @param {number} i @param {boolean} additive
   */
  pick(i, additive) {
    const id = this.idAt(i);
    if (!id) { if (!additive) this.state.select([], this, null); return; }
    if (!additive) { this.state.select([id], this, id); return; }
    const has = this.state.selected.has(id);
    this.state.select(has ? this.state.selection.filter(x => x !== id) : [...this.state.selection, id], this, has ? undefined : id);
  }

  /**
   * Box or lasso: select the points inside (Ctrl/⌘: add them to the selection).
   * @param {number[]} indices @param {boolean} additive
   */
  area(indices, additive) {
    const ids = /** @type {string[]} */ (indices.map(i => this.idAt(i)).filter(id => id !== null));
    this.state.select(additive ? [...this.state.selection, ...ids] : ids, this);
    this.api.status.info(`selected ${ids.length} point${ids.length === 1 ? '' : 's'} in the projector`);
  }

  /**
   * The hovered example's text, gold label and prediction, next to the pointer.
   * @param {number} i @param {number} x @param {number} y
   */
  tooltip(i, x, y) {
    const id = this.idAt(i);
    const e = id ? this.data.byId.get(id) : undefined;
    if (!id || !e) { this.tip.hidden = true; delete this.tip.dataset.id; return; }
    const p = this.data.prediction(this.m.name, id);
    const conf = this.data.confidence(this.m.name, id);
    const gold = this.data.goldName(this.m.name, id);
    const text = e.text.length > 280 ? `${e.text.slice(0, 280)}…` : e.text;
    replace(this.tip, h('div', {class: 'tip-text'}, text), h('div', {class: 'muted'}, `#${id}`,
      gold !== null ? ` · gold ${gold}` : '', p?.label ? ` · predicted ${p.label}${conf !== null ? ` (${conf.toFixed(2)})` : ''}` : ''));
    this.tip.dataset.id = id;
    this.tip.hidden = false;
    const w = this.plot.width;
    this.tip.style.left = `${Math.min(x + 12, Math.max(0, w - 300))}px`;
    // Below the pointer, or above it near the bottom edge.
    this.tip.style.top = y + 14 + this.tip.offsetHeight > this.plot.height ? `${Math.max(0, y - 10 - this.tip.offsetHeight)}px` : `${y + 14}px`;
  }
}
