// Metrics (LIT's metrics and confusion-matrix modules): accuracy, macro F1 and per-class P/R/F1 for the dataset, the
// selection, gold-label facets and saved slices; a confusion matrix whose cells select their examples; for two
// classes a precision–recall curve with a threshold slider (metrics-pr.js).
import {LoupeModule} from '../module.js';
import {h, replace, emptyState, spinner, fmt, pct} from '../dom.js';
import {heat} from '../colors.js';
import {PRPanel} from './metrics-pr.js';
/** @typedef {import('../types.js').ClassificationMetrics} ClassificationMetrics */
/** @typedef {import('../types.js').MetricsResult} MetricsResult */
/** @typedef {import('../types.js').PRPoint} PRPoint */
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('../state.js').AppState} AppState */
/**
 * One line of the table. `ids` are the scored (labelled) examples of the line.
 * @typedef {{key: string, name: string, kind: 'all' | 'selection' | 'label' | 'slice', metrics: ClassificationMetrics,
 *   ids: () => string[]}} Row
 */

const SELECTION = '@selection';
const SLICE = 'slice:';
const PARAM = 'metrics.slices';
/** The param's value when the slices live in localStorage. */
const LOCAL = '@local';
/** Longer slice lists go to localStorage: the hash must stay shareable (state.js caps the selection likewise). */
const MAX_PARAM = 2000;
const MAX_CLASS_COLUMNS = 8;
const MAX_MATRIX = 40;
/** The server refuses bodies above 1 MiB; the selection slice is left out beyond this. */
const MAX_BODY = 900_000;
const DEBOUNCE_MS = 250;

/**
 * Metrics of a confusion matrix with the server's definitions (Sources/Training/Metrics.swift: zero where a
 * denominator is zero). The gold-label facets are rows of the whole matrix, so they cost no call and no ids.
 * @param {number[][]} confusion `confusion[gold][predicted]`
 * @param {string[]} labels
 * @returns {ClassificationMetrics}
 */
export function fromConfusion(confusion, labels) {
  const k = labels.length;
  const n = confusion.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c][c];
  const perClass = labels.map((label, c) => {
    const tp = confusion[c][c];
    const predicted = confusion.reduce((s, row) => s + row[c], 0);
    const actual = confusion[c].reduce((a, b) => a + b, 0);
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = actual > 0 ? tp / actual : 0;
    const f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    return {label, precision, recall, f1, support: actual};
  });
  const macro = k ? perClass.reduce((s, p) => s + p.f1, 0) / k : 0;
  return {examples: n, accuracy: n ? correct / n : 0, per_class: perClass, macro_f1: macro,
    f1: k === 2 ? perClass[1].f1 : macro, confusion};
}

/**
 * Saved slices: `name:id,id;name:id` (each part URI-encoded) in the URL param, or in localStorage (per dataset) when
 * that would make the link too long; the param then says `@local`.
 * @param {AppState} state
 * @returns {{name: string, ids: string[]}[]}
 */
function readSlices(state) {
  let raw = state.param(PARAM) ?? '';
  if (raw === LOCAL) {
    try { raw = localStorage.getItem(`loupe.${PARAM}.${state.dataset}`) ?? ''; } catch { raw = ''; }
  }
  return raw.split(';').filter(s => s.includes(':')).map(part => {
    const [name, list] = part.split(':');
    return {name: decodeURIComponent(name), ids: list.split(',').filter(s => s.length > 0).map(decodeURIComponent)};
  });
}

/**
 * @param {AppState} state
 * @param {{name: string, ids: string[]}[]} slices
 * @param {unknown} source
 */
function writeSlices(state, slices, source) {
  const raw = slices.map(s => `${encodeURIComponent(s.name)}:${s.ids.map(encodeURIComponent).join(',')}`).join(';');
  const key = `loupe.${PARAM}.${state.dataset}`;
  try {
    if (raw.length <= MAX_PARAM) localStorage.removeItem(key); else localStorage.setItem(key, raw);
  } catch { /* storage off: the param keeps them */ }
  state.setParam(PARAM, raw.length === 0 ? undefined : raw.length <= MAX_PARAM ? raw : LOCAL, source);
}

export class Metrics extends LoupeModule {
  static id = 'metrics';
  static title = 'Metrics';
  static help = 'Accuracy and per-class precision/recall/F1 for the dataset, the selection and slices; a confusion matrix whose cells select; a PR curve for two classes.';
  static perModel = true;

  /** @type {typeof LoupeModule.unsupported} */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is active; tick one in the header';
    if (!model.operations.includes('metrics') || model.labels.length === 0) {
      return `needs a classifier (a sequence-classification model); ${model.name} is a ${model.task}`;
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
    this.labels = this.m.labels;
    /** @type {MetricsResult | null} */
    this.result = null;
    this.lastKey = '';
    /** @type {string[]} the labelled ids the result scores */
    this.scored = [];
    /** The row whose confusion matrix and PR curve are shown. */
    this.chosen = 'all';
    /** @type {{key: string, curve: PRPoint[], best: PRPoint | null} | null} */
    this.rowCurve = null;
    this.timer = 0;
    const prefix = `metrics-${this.m.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    this.prefix = prefix;
    this.nameInput = h('input', {type: 'text', placeholder: 'slice name', 'aria-label': 'Name of the new slice', size: 14,
      'data-control': 'slice-name', onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter') this.saveSlice(); }});
    this.saveButton = h('button', {type: 'button', 'data-action': 'save-slice', onclick: () => this.saveSlice()}, 'Save selection as slice');
    this.note = h('span', {class: 'muted metrics-note'});
    this.table = h('div', {class: 'metrics-table-wrap'});
    this.matrix = h('div', {class: 'confusion-panel'});
    this.pr = this.labels.length === 2 ? new PRPanel(this.labels[1], prefix) : null;
    this.view = h('div', {class: 'metrics-view'}, this.table,
      h('div', {class: 'metrics-lower'}, this.matrix, this.pr ? this.pr.element : null));
    replace(this.body, h('div', {class: 'toolbar'}, this.nameInput, this.saveButton, h('span', {class: 'spacer'}), this.note),
      h('div', {class: 'metrics-content'}, spinner('Waiting for the dataset…')));
  }

  /** @param {Set<Change>} changed */
  update(changed) {
    if (changed.has('selection')) this.saveButton.disabled = this.state.selection.length === 0;
    const relevant = ['shown', 'examples', 'predictions', 'selection', 'params', 'models'];
    if (!relevant.some(k => changed.has(/** @type {Change} */ (k)))) return;
    // Predictions arrive chunk by chunk and selections change per click: one call after they settle.
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.refresh(), DEBOUNCE_MS);
  }

  dispose() { clearTimeout(this.timer); }

  get content() { return /** @type {HTMLElement} */ (this.body.querySelector('.metrics-content')); }

  /** The request for the current dataset, selection and slices; skipped when it equals the last one answered. */
  async refresh() {
    const model = this.m.name;
    const {data, state} = this;
    const examples = data.examples;
    this.saveButton.disabled = state.selection.length === 0;
    if (!examples.length) { replace(this.content, spinner('Waiting for the dataset…')); return; }
    const labelled = examples.filter(e => data.goldIndex(this.m, e) !== null).map(e => e.id);
    const unlabelled = examples.length - labelled.length;
    if (!labelled.length) {
      replace(this.content, emptyState(`No example of ${state.dataset} has a gold label ${model} knows (${this.labels.join(', ')}): metrics need gold labels.`));
      return;
    }
    const known = new Set(labelled);
    /** @type {{model: string, dataset: string, ids?: string[], slices?: Record<string, string[]>}} */
    const body = {model, dataset: state.dataset};
    if (unlabelled) body.ids = labelled;
    /** @type {Record<string, string[]>} */
    const slices = {};
    for (const s of readSlices(state)) slices[SLICE + s.name] = s.ids.filter(id => known.has(id));
    const selected = state.selection.filter(id => known.has(id));
    let dropped = false;
    if (selected.length) {
      slices[SELECTION] = selected;
      if (JSON.stringify(slices).length > MAX_BODY) { delete slices[SELECTION]; dropped = true; }
    }
    if (Object.keys(slices).length) body.slices = slices;
    const key = `${JSON.stringify(body)}|${examples.length}`;
    this.note.textContent = [`${labelled.length} scored`, unlabelled ? `${unlabelled} without a gold label left out` : '',
      dropped ? 'selection too large to score' : ''].filter(Boolean).join(' · ');
    if (key === this.lastKey && this.result) { this.render(); return; }
    if (!this.result) replace(this.content, spinner(`Computing metrics of ${model}…`));
    else this.view.classList.add('busy');
    const result = await this.api.latest(`metrics-${model}`, async signal => {
      // The table's predictions and the server's come from the same cache; waiting for them first means the server
      // does not predict the dataset twice, and the confusion cells can list their ids.
      const pending = data.pending.get(model);
      if (pending) await pending;
      await data.predictIds(model, labelled, signal);
      return /** @type {Promise<MetricsResult>} */ (this.api.post('/api/metrics', body, signal));
    });
    this.view.classList.remove('busy');
    if (!result) return;
    this.result = result;
    this.lastKey = key;
    this.scored = labelled;
    this.rowCurve = null;
    this.render();
  }

  /** @returns {Row[]} */
  rows() {
    const r = /** @type {MetricsResult} */ (this.result);
    const scored = this.scored;
    /** @type {Row[]} */
    const rows = [{key: 'all', name: `${this.state.dataset} (all)`, kind: 'all', metrics: r.metrics, ids: () => scored}];
    const sel = r.slices?.[SELECTION];
    if (sel && this.state.selection.length) {
      const known = new Set(scored);
      rows.push({key: SELECTION, name: `selection (${this.state.selection.length})`, kind: 'selection', metrics: sel,
        ids: () => this.state.selection.filter(id => known.has(id))});
    }
    this.labels.forEach((label, c) => {
      const confusion = r.metrics.confusion.map((row, i) => i === c ? row.slice() : row.map(() => 0));
      if (confusion[c].every(v => v === 0)) return;
      rows.push({key: `label:${label}`, name: `gold = ${label}`, kind: 'label', metrics: fromConfusion(confusion, this.labels),
        ids: () => scored.filter(id => this.data.goldIndex(this.m, this.data.byId.get(id)) === c)});
    });
    for (const s of readSlices(this.state)) {
      const m = r.slices?.[SLICE + s.name];
      if (!m) continue;
      const known = new Set(scored);
      rows.push({key: SLICE + s.name, name: s.name, kind: 'slice', metrics: m, ids: () => s.ids.filter(id => known.has(id))});
    }
    return rows;
  }

  render() {
    if (!this.result) return;
    if (this.content.firstChild !== this.view) replace(this.content, this.view);
    const rows = this.rows();
    const row = rows.find(x => x.key === this.chosen) ?? rows[0];
    this.chosen = row.key;
    this.renderTable(rows);
    this.renderMatrix(row);
    this.renderCurve(row);
  }

  /** @param {Row[]} rows */
  renderTable(rows) {
    const classes = this.labels.slice(0, MAX_CLASS_COLUMNS);
    const head1 = h('tr', {}, h('th', {rowSpan: 2, colSpan: 2}, 'examples'), h('th', {rowSpan: 2, class: 'num'}, 'n'),
      h('th', {rowSpan: 2, class: 'num'}, 'accuracy'), h('th', {rowSpan: 2, class: 'num'}, 'macro F1'),
      ...classes.map(c => h('th', {colSpan: 3, class: 'class-head'}, c)));
    const head2 = h('tr', {}, ...classes.flatMap(() => ['P', 'R', 'F1'].map(t => h('th', {class: 'num'}, t))));
    /** @param {string} col @param {number} v @param {string} text */
    const num = (col, v, text) => h('td', {class: 'num', 'data-col': col, 'data-value': v}, text);
    const body = rows.map(row => {
      const m = row.metrics;
      const radio = h('input', {type: 'radio', name: `${this.prefix}-row`, checked: row.key === this.chosen,
        'aria-label': `Show the confusion matrix of ${row.name}`, 'data-control': 'choose-row',
        onchange: () => { this.chosen = row.key; this.render(); }});
      const name = h('button', {type: 'button', class: 'link row-name', 'data-action': 'select-row',
        title: `Select the ${row.ids().length} examples of ${row.name}`,
        onclick: () => this.state.select(row.ids(), this)}, row.name);
      const remove = row.kind === 'slice' ? h('button', {type: 'button', class: 'icon', 'data-action': 'delete-slice',
        'aria-label': `Delete slice ${row.name}`, title: 'Delete this slice',
        onclick: () => this.deleteSlice(row.name)}, '×') : null;
      return h('tr', {'data-row-key': row.key, 'data-kind': row.kind, class: row.key === this.chosen ? 'chosen' : ''},
        h('td', {class: 'pick'}, radio), h('td', {class: 'name'}, name, remove),
        num('n', m.examples, String(m.examples)), num('accuracy', m.accuracy, pct(m.accuracy)),
        num('macro_f1', m.macro_f1, fmt(m.macro_f1)),
        ...m.per_class.slice(0, MAX_CLASS_COLUMNS).flatMap(p => [num(`precision:${p.label}`, p.precision, fmt(p.precision)),
          num(`recall:${p.label}`, p.recall, fmt(p.recall)), num(`f1:${p.label}`, p.f1, fmt(p.f1))]));
    });
    const more = this.labels.length > MAX_CLASS_COLUMNS
      ? h('p', {class: 'muted'}, `Per-class columns show the first ${MAX_CLASS_COLUMNS} of ${this.labels.length} classes.`) : null;
    replace(this.table, h('table', {class: 'grid metrics-table'}, h('thead', {}, head1, head2), h('tbody', {}, ...body)), more);
  }

  /**
   * Gold × predicted counts of `row` (rows: gold), coloured by count; a cell, row or column header selects its
   * examples, whose ids come from the shared predictions so the selection has exactly the count shown.
   * @param {Row} row
   */
  renderMatrix(row) {
    const confusion = row.metrics.confusion;
    const k = Math.min(this.labels.length, MAX_MATRIX);
    const max = Math.max(1, ...confusion.flat());
    const colTotals = this.labels.map((_, j) => confusion.reduce((s, r) => s + r[j], 0));
    /** @param {(g: number, p: number) => boolean} keep @param {string} what */
    const pick = async (keep, what) => {
      const ids = row.ids();
      const preds = await this.data.predictIds(this.m.name, ids);
      const byId = new Map(preds.map(p => [p.id, this.labels.indexOf(p.label ?? '')]));
      const chosen = ids.filter(id => keep(this.data.goldIndex(this.m, this.data.byId.get(id)) ?? -1, byId.get(id) ?? -1));
      this.state.select(chosen, this);
      this.api.status.info(`selected ${chosen.length} examples: ${what} (${row.name})`);
    };
    /** @param {string} text @param {Record<string, any>} attrs @param {() => void} act */
    const header = (text, attrs, act) => h('th', {...attrs, tabIndex: 0, role: 'button', class: 'axis-head',
      onclick: act, onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); act(); } }}, text);
    const thead = h('tr', {}, h('th', {class: 'corner', title: 'rows: gold label, columns: prediction'}, 'gold ╲ predicted'),
      ...this.labels.slice(0, k).map((l, j) => header(l, {'data-pred': j, title: `Select the examples predicted ${l}`},
        () => pick((_, p) => p === j, `predicted ${l}`))),
      h('th', {class: 'num muted'}, 'total'));
    const bodyRows = this.labels.slice(0, k).map((gold, i) => h('tr', {},
      header(gold, {'data-gold': i, title: `Select the examples labelled ${gold}`}, () => pick(g => g === i, `gold ${gold}`)),
      ...this.labels.slice(0, k).map((pred, j) => {
        const count = confusion[i][j];
        const t = count / max;
        const act = () => pick((g, p) => g === i && p === j, `gold ${gold}, predicted ${pred}`);
        return h('td', {class: `cell${i === j ? ' diagonal' : ''}`, tabIndex: 0, role: 'button', 'data-gold': i, 'data-pred': j,
          'data-count': count, 'aria-label': `gold ${gold}, predicted ${pred}: ${count} examples; Enter selects them`,
          style: {background: heat(t), color: t > 0.55 ? '#fff' : 'var(--ink)'},
          onclick: act, onkeydown: (/** @type {KeyboardEvent} */ e) => this.cellKey(e, i, j, k, act)}, String(count));
      }),
      h('td', {class: 'num muted total', 'data-gold-total': i}, String(confusion[i].reduce((a, b) => a + b, 0)))));
    const foot = h('tr', {}, h('th', {class: 'muted'}, 'total'),
      ...colTotals.slice(0, k).map((v, j) => h('td', {class: 'num muted total', 'data-pred-total': j}, String(v))),
      h('td', {class: 'num total', 'data-total': ''}, String(row.metrics.examples)));
    replace(this.matrix, h('div', {class: 'pr-title'}, 'Confusion matrix', h('span', {class: 'muted'}, ` · ${row.name}`)),
      h('table', {class: 'confusion', 'data-row-key': row.key}, h('thead', {}, thead), h('tbody', {}, ...bodyRows), h('tfoot', {}, foot)),
      this.labels.length > k ? h('p', {class: 'muted'}, `First ${k} of ${this.labels.length} classes.`) : null,
      h('p', {class: 'muted hint'}, 'Click a cell or a label (or Enter on it) to select those examples.'));
  }

  /**
   * Enter/Space selects the cell's examples; arrow keys move between cells.
   * @param {KeyboardEvent} e @param {number} i @param {number} j @param {number} k @param {() => void} act
   */
  cellKey(e, i, j, k, act) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); act(); return; }
    /** @type {Record<string, number[]>} */
    const moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
    const mv = moves[e.key];
    if (!mv) return;
    e.preventDefault();
    const gi = Math.max(0, Math.min(k - 1, i + mv[0])), pj = Math.max(0, Math.min(k - 1, j + mv[1]));
    /** @type {HTMLElement | null} */ (this.matrix.querySelector(`td.cell[data-gold="${gi}"][data-pred="${pj}"]`))?.focus();
  }

  /**
   * The PR curve of the chosen row: the main answer's for the whole dataset, one more call for another row.
   * @param {Row} row
   */
  async renderCurve(row) {
    const pr = this.pr;
    const r = this.result;
    if (!pr || !r) return;
    if (row.key === 'all') { pr.setCurve(r.pr_curve ?? [], r.best_threshold ?? null, row.name); return; }
    const ids = row.ids();
    const key = `${row.key}|${ids.join(',')}`;
    if (this.rowCurve?.key === key) { pr.setCurve(this.rowCurve.curve, this.rowCurve.best, row.name); return; }
    if (!ids.length) { pr.setCurve([], null, row.name); return; }
    const out = await this.api.latest(`metrics-pr-${this.m.name}`, signal =>
      /** @type {Promise<MetricsResult>} */ (this.api.post('/api/metrics', {model: this.m.name, dataset: this.state.dataset, ids}, signal)));
    if (!out || this.chosen !== row.key) return;
    this.rowCurve = {key, curve: out.pr_curve ?? [], best: out.best_threshold ?? null};
    pr.setCurve(this.rowCurve.curve, this.rowCurve.best, row.name);
  }

  saveSlice() {
    const ids = this.state.selection;
    if (!ids.length) { this.api.status.error('select examples first: a slice is saved from the selection'); return; }
    const slices = readSlices(this.state);
    const name = this.nameInput.value.trim() || `slice ${slices.length + 1}`;
    const next = [...slices.filter(s => s.name !== name), {name, ids: [...ids]}];
    writeSlices(this.state, next, this);
    this.nameInput.value = '';
    this.api.status.info(`saved slice “${name}” (${ids.length} examples)`);
    clearTimeout(this.timer);
    this.refresh();
  }

  /** @param {string} name */
  deleteSlice(name) {
    writeSlices(this.state, readSlices(this.state).filter(s => s.name !== name), this);
    clearTimeout(this.timer);
    this.refresh();
  }
}
