// The data table (LIT's data table): every example with its gold label and each model's prediction; sort, search
// and filters (kept in the URL); mouse and keyboard selection; pin; CSV/JSON export. The rows are virtual
// (table-view.js) and search/sort run over keys computed once per change (table-rows.js), so 67k rows stay smooth.
import {LoupeModule} from '../module.js';
import {h, replace, emptyState, spinner, download} from '../dom.js';
import {category, CORRECT, WRONG, UNKNOWN} from '../colors.js';
import {RowIndex, rowFilter, predText, confidenceOf, exportText, NO_LABEL} from './table-rows.js';
import {VirtualRows} from './table-view.js';
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('./table-view.js').Column} Column */

export class DataTable extends LoupeModule {
  static id = 'table';
  static title = 'Data table';
  static help = 'Every example of the dataset with its gold label and each model\'s prediction. Click, Ctrl-click or ' +
    'Shift-click rows; on the table ↑/↓ (Shift extends), Home/End, Space toggles, P pins, / searches; Escape clears.';

  /**
   * @param {import('../module.js').Context} ctx
   * @param {HTMLElement} body
   * @param {import('../types.js').ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    this.index = new RowIndex();
    this.predVersion = 0;
    /** @type {string | null} the keyboard's row (the grid's focus; differs from the primary after Ctrl+arrows or Space) */
    this.cursor = null;
    /** @type {string | null} where Shift-click and Shift+arrows extend from */
    this.anchor = null;
    /** @type {{center: boolean} | null} scroll the primary into view once shown (centred when another module chose it) */
    this.reveal = {center: true};
    this.primaryFromElsewhere = true;
    this.paramSig = '';
    this.unsubscribe = this.state.subscribe((changed, source) => {
      if (changed.has('primary')) this.primaryFromElsewhere = source !== this;
    });
    this.view = new VirtualRows({idOf: i => this.index.source[i].id, mark: el => this.mark(el), onSort: key => this.cycleSort(key),
      onClick: e => this.onClick(e), onKey: e => this.onKey(e)});
    const ds = ctx.info.datasets.find(d => d.name === this.state.dataset);
    this.search = h('input', {type: 'search', class: 'dt-search', placeholder: 'Search text or /regex/',
      'aria-label': 'Search the examples (text, or /regular expression/)', oninput: () => this.setParam('q', this.search.value)});
    this.labelFilter = h('select', {'aria-label': 'Filter by gold label', onchange: () => this.setParam('label', this.labelFilter.value)},
      h('option', {value: ''}, 'All labels'), ...(ds?.labels ?? []).map(l => h('option', {value: l}, this.labelName(l))),
      h('option', {value: NO_LABEL}, 'No label'));
    this.okFilter = h('select', {'aria-label': 'Filter by correctness', onchange: () => this.setParam('ok', this.okFilter.value)});
    this.onlySelected = h('input', {type: 'checkbox', onchange: () => this.setParam('only', this.onlySelected.checked ? '1' : '')});
    this.pinButton = h('button', {type: 'button', class: 'dt-pin', title: 'Pin the primary example to compare others with it (P)',
      onclick: () => this.togglePin()}, 'Pin');
    this.count = h('span', {class: 'dt-count muted', 'aria-live': 'polite'});
    const exportButton = (/** @type {'csv' | 'json'} */ kind) => h('button', {type: 'button', 'data-export': kind,
      title: `Download the selection (or every shown row) with the predictions as ${kind.toUpperCase()}`, onclick: () => this.export(kind)}, kind.toUpperCase());
    replace(this.body,
      h('div', {class: 'toolbar dt-toolbar'}, this.search, this.labelFilter, this.okFilter,
        h('label', {class: 'dt-only'}, this.onlySelected, ' only selected')),
      this.view.grid,
      h('div', {class: 'dt-footer'}, this.count, h('span', {class: 'dt-actions'}, this.pinButton, exportButton('csv'), exportButton('json'))));
    this.body.classList.add('dt-body');
  }

  dispose() { this.unsubscribe(); this.view.dispose(); }

  /** @param {string} key */
  param(key) { return this.state.param(`table.${key}`) ?? ''; }
  /** @param {string} key @param {string} value */
  setParam(key, value) { this.state.setParam(`table.${key}`, value || undefined, this); }

  /** @returns {{key: string, dir: 1 | -1} | null} */
  get sort() {
    const s = this.param('sort');
    const cut = s.lastIndexOf(':');
    return cut > 0 ? {key: s.slice(0, cut), dir: s.slice(cut + 1) === 'desc' ? -1 : 1} : null;
  }

  /** Ascending, descending, then the dataset's order. */
  /** @param {string} key */
  cycleSort(key) {
    const s = this.sort;
    this.setParam('sort', !s || s.key !== key ? `${key}:asc` : s.dir === 1 ? `${key}:desc` : '');
  }

  /** The first active model with classes: what the swatch, the gold label names and the correctness filter use. */
  get classifier() {
    return this.state.models.map(n => this.data.model(n)).find(m => m && m.labels.length > 0) ?? null;
  }

  /** @param {string} raw a gold label as the dataset writes it */
  labelName(raw) {
    const m = this.classifier;
    const i = m ? this.data.goldIndex(m, {id: '', text: '', label: raw}) : null;
    return m && i !== null && m.labels[i] !== raw ? `${m.labels[i]} (${raw})` : raw;
  }

  // ---- columns ----

  /** @param {boolean} reshape whether the models (so the cells of a row) changed */
  buildColumns(reshape) {
    const d = this.data;
    const src = () => this.index.source;
    /** @type {Column[]} */
    const cols = [
      {key: 'color', title: '', help: `Colour: ${this.state.colorBy} (“Colour by” in the header)`, cls: 'dt-c-swatch', width: '14px',
        text: () => '', decorate: (cell, i) => cell.style.setProperty('--swatch', this.colorOf(i))},
      {key: 'id', title: 'id', help: 'Example id', cls: 'dt-c-id', width: '64px',
        sortKey: i => { const id = src()[i].id; return /^\d+$/.test(id) ? Number(id) : id; }, text: i => src()[i].id},
      {key: 'text', title: 'text', help: 'The example', cls: 'dt-c-text', width: 'minmax(80px, 1fr)',
        sortKey: i => this.index.lower[i], text: i => src()[i].text, decorate: (cell, i) => { cell.title = src()[i].text; }},
      {key: 'label', title: 'label', help: 'Gold label', cls: 'dt-c-label', width: '72px',
        sortKey: i => src()[i].label ?? null, text: i => this.goldText(i)},
    ];
    const two = this.state.models.length > 1;
    for (const name of this.state.models) {
      const m = d.model(name);
      if (!m || !m.operations.includes('predict')) continue;
      cols.push(
        {key: `pred:${name}`, model: name, title: two ? name : 'prediction', help: `${name}'s prediction${m.labels.length ? '' : ' (most likely next token)'}`,
          cls: 'dt-c-pred', width: two ? '76px' : '84px', sortKey: i => predText(d, name, src()[i].id), text: i => predText(d, name, src()[i].id) ?? '…'},
        {key: `conf:${name}`, model: name, title: 'p', help: `${name}'s probability of its prediction`, cls: 'dt-c-conf', width: '42px',
          sortKey: i => confidenceOf(d, name, src()[i].id), text: i => confidenceOf(d, name, src()[i].id)?.toFixed(2) ?? ''});
      if (m.labels.length) cols.push(
        {key: `ok:${name}`, model: name, title: '✓', help: `Whether ${name} predicts the gold label`, cls: 'dt-c-ok', width: '20px',
          sortKey: i => { const c = d.correct(name, src()[i].id); return c === null ? null : c ? 1 : 0; },
          text: i => { const c = d.correct(name, src()[i].id); return c === null ? '' : c ? '✓' : '✗'; },
          decorate: (cell, i) => { const c = d.correct(name, src()[i].id); cell.dataset.correct = String(c); cell.title = c === null ? '' : c ? 'correct' : 'wrong'; }});
    }
    this.view.setColumns(cols, reshape);
    this.view.renderSort(this.sort);
    const ok = this.classifier;
    const classifiers = this.state.models.filter(n => (d.model(n)?.labels.length ?? 0) > 0).length;
    replace(this.okFilter, h('option', {value: ''}, ok ? `Any (${ok.name})` : 'Any'), h('option', {value: 'correct'}, 'Correct'),
      h('option', {value: 'wrong'}, 'Wrong'), h('option', {value: 'none'}, 'No prediction yet'),
      classifiers > 1 ? h('option', {value: 'disagree'}, 'Models disagree') : null);
    this.okFilter.value = this.param('ok');
    this.okFilter.disabled = !ok;
    this.okFilter.title = ok ? `Correctness of ${ok.name}` : 'No active model predicts classes';
  }

  /** @param {number} i */
  goldText(i) {
    const e = this.index.source[i], m = this.classifier;
    if (e.label === undefined || e.label === null || e.label === '') return '';
    return m ? this.data.goldName(m.name, e.id) ?? e.label : e.label;
  }

  /** The swatch's colour under the state's colour-by. */
  /** @param {number} i */
  colorOf(i) {
    const m = this.classifier, e = this.index.source[i];
    if (this.state.colorBy === 'label') {
      const k = m ? this.data.goldIndex(m, e) : (this.ctx.info.datasets.find(d => d.name === this.state.dataset)?.labels.indexOf(e.label ?? '') ?? -1);
      return k === null || k < 0 ? UNKNOWN : category(k);
    }
    if (!m) return UNKNOWN;
    if (this.state.colorBy === 'prediction') {
      const p = this.data.prediction(m.name, e.id);
      return p?.label ? category(m.labels.indexOf(p.label)) : UNKNOWN;
    }
    const c = this.data.correct(m.name, e.id);
    return c === null ? UNKNOWN : c ? CORRECT : WRONG;
  }

  // ---- update ----

  /** @param {Set<Change>} changed */
  update(changed) {
    let refilter = false, refill = false;
    const source = this.index.source;
    if (changed.has('examples') && this.index.sync(this.data.examples)) {
      refilter = true;
      if (source !== this.index.source) this.view.setColumns(this.view.columns, true); // another dataset: new rows
    }
    if (changed.has('models') || this.view.columns.length === 0) { this.buildColumns(true); refilter = true; }
    if (changed.has('colorBy')) { this.buildColumns(false); refill = true; }
    if (changed.has('predictions')) {
      this.predVersion++;
      refill = true;
      if (this.param('ok') || this.sort?.key.includes(':')) refilter = true;
    }
    const sig = ['q', 'label', 'ok', 'only', 'sort'].map(k => this.param(k)).join('\u0000');
    if (sig !== this.paramSig) { this.paramSig = sig; this.syncControls(); refilter = true; }
    if (changed.has('selection') && this.param('only')) refilter = true;
    if (changed.has('primary')) {
      if (this.primaryFromElsewhere || !this.cursor) this.cursor = this.state.primary;
      if (this.state.primary !== null) this.reveal = {center: this.primaryFromElsewhere};
    }
    if (refilter) this.refilter();
    if (refilter || refill) this.view.refill();
    else if (changed.has('selection') || changed.has('primary') || changed.has('pinned')) this.view.markAll();
    if (this.reveal) this.revealPrimary();
    this.renderStatus();
  }

  /** Puts the URL's settings in the controls (a reload or a shared link restores them). */
  syncControls() {
    if (document.activeElement !== this.search) this.search.value = this.param('q');
    this.labelFilter.value = this.param('label');
    this.okFilter.value = this.param('ok');
    this.onlySelected.checked = this.param('only') === '1';
    this.view.renderSort(this.sort);
  }

  /** Recomputes the shown rows: the sort's cached order, then one pass of every filter (timed, for the tests). */
  refilter() {
    const t0 = performance.now();
    const sort = this.sort;
    const col = sort ? this.view.columns.find(c => c.key === sort.key && c.sortKey) : undefined;
    const order = sort && col && col.sortKey
      ? this.index.order(col.key, sort.dir, col.sortKey, col.model ? this.predVersion : 0) : this.index.identity();
    const m = this.classifier;
    const other = this.state.models.find(n => n !== m?.name && (this.data.model(n)?.labels.length ?? 0) > 0) ?? null;
    const {keep, error} = rowFilter(this.index, this.data, {query: this.param('q'), label: this.param('label'), ok: this.param('ok'),
      only: this.param('only') === '1', selected: this.state.selected, model: m?.name ?? null, other});
    this.search.setAttribute('aria-invalid', String(error !== null));
    this.search.title = error ? `Not a regular expression: ${error}` : '';
    const rows = this.index.filter(order, keep);
    this.view.grid.dataset.filterMs = (performance.now() - t0).toFixed(2);
    this.view.setRows(rows, this.index.size);
    const overlay = this.view.overlay;
    const size = this.ctx.info.datasets.find(d => d.name === this.state.dataset)?.size ?? 0;
    if (this.index.size === 0) replace(overlay, size === 0 ? emptyState('This dataset has no examples: write one in the editor below.') : spinner(`Loading ${this.state.dataset}…`));
    else if (rows.length === 0) replace(overlay, emptyState('No example matches the search and filters.'),
      h('div', {class: 'dt-center'}, h('button', {type: 'button', onclick: () => this.clearFilters()}, 'Clear search and filters')));
    else replace(overlay);
    overlay.hidden = overlay.childElementCount === 0;
  }

  clearFilters() {
    const params = {...this.state.fields.params};
    for (const k of ['q', 'label', 'ok', 'only']) delete params[`table.${k}`];
    this.state.update({params}, this);
  }

  /** Selection, primary, pinned and keyboard marks of a drawn row. */
  /** @param {HTMLElement} el */
  mark(el) {
    const id = el.dataset.rowId ?? '', s = this.state;
    const selected = s.selected.has(id);
    el.setAttribute('aria-selected', String(selected));
    el.classList.toggle('selected', selected);
    el.classList.toggle('primary', s.primary === id);
    el.classList.toggle('pinned', s.pinned === id);
    el.classList.toggle('cursor', this.cursor === id);
    if (s.primary === id) el.dataset.primary = 'true'; else delete el.dataset.primary;
    if (s.pinned === id) el.dataset.pinned = 'true'; else delete el.dataset.pinned;
    if (this.cursor === id) this.view.grid.setAttribute('aria-activedescendant', el.id);
  }

  renderStatus() {
    const s = this.state, shown = this.view.rows.length, total = this.index.size, n = (/** @type {number} */ x) => x.toLocaleString('en-US');
    Object.assign(this.count.dataset, {shown: String(shown), total: String(total), selected: String(s.selection.length)});
    this.count.textContent = `${n(shown)} of ${n(total)} rows · ${n(s.selection.length)} selected${s.pinned !== null ? ` · pinned ${s.pinned}` : ''}`;
    const pinned = s.primary !== null && s.pinned === s.primary;
    this.pinButton.textContent = pinned ? 'Unpin' : 'Pin';
    this.pinButton.setAttribute('aria-pressed', String(pinned));
    this.pinButton.disabled = s.primary === null && s.pinned === null;
  }

  /** Scrolls the primary into view once its row is loaded: centred when another module chose it. */
  revealPrimary() {
    const id = this.state.primary;
    const i = id === null ? undefined : this.index.indexOf.get(id);
    if (i === undefined) { if (id === null || this.data.byId.has(id)) this.reveal = null; return; } // else: not loaded yet
    const pos = this.view.posOf[i];
    if (pos >= 0) this.view.scrollTo(pos, this.reveal?.center ?? false);
    this.reveal = null;
  }

  // ---- selection ----

  /** @param {number} pos */
  idAt(pos) { return this.index.source[this.view.rows[pos]].id; }

  /** @param {string | null} id */
  posOfId(id) {
    const i = id === null ? undefined : this.index.indexOf.get(id);
    return i === undefined ? -1 : this.view.posOf[i];
  }

  /** @param {MouseEvent} e */
  onClick(e) {
    const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest('[data-row-id]'));
    const id = row?.dataset.rowId;
    if (!id) return;
    this.cursor = id;
    if (e.shiftKey) this.selectRange(id, e.ctrlKey || e.metaKey);
    else if (e.ctrlKey || e.metaKey) this.toggle(id);
    else { this.anchor = id; this.state.select([id], this, id); }
  }

  /** Adds or removes one row (Ctrl-click, Space); an added row becomes the primary. */
  /** @param {string} id */
  toggle(id) {
    const s = this.state;
    this.anchor = id;
    if (s.selected.has(id)) s.select(s.selection.filter(x => x !== id), this, s.primary === id ? null : s.primary);
    else s.select([...s.selection, id], this, id);
    this.view.markAll();
  }

  /** Selects the shown rows from the anchor to `id` (added to the selection with Ctrl); `id` becomes the primary. */
  /** @param {string} id @param {boolean} add */
  selectRange(id, add) {
    const b = this.posOfId(id);
    let a = this.posOfId(this.anchor ?? this.state.primary);
    if (a < 0) { a = b; this.anchor = id; }
    const ids = [];
    for (let p = Math.min(a, b); p <= Math.max(a, b); p++) ids.push(this.idAt(p));
    this.state.select(add ? [...this.state.selection, ...ids] : ids, this, id);
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.dataset.sortKey && (e.key === 'Enter' || e.key === ' ')) { this.cycleSort(target.dataset.sortKey); e.preventDefault(); return; }
    const n = this.view.rows.length, ctrl = e.ctrlKey || e.metaKey, s = this.state;
    const pos = this.posOfId(this.cursor);
    /** @type {Record<string, () => number>} */
    const moves = {ArrowDown: () => pos + 1, ArrowUp: () => (pos < 0 ? 0 : pos - 1), PageDown: () => Math.max(pos, 0) + this.view.page,
      PageUp: () => Math.max(pos, 0) - this.view.page, Home: () => 0, End: () => n - 1};
    if (e.key in moves && n > 0) {
      const next = Math.max(0, Math.min(n - 1, moves[e.key]()));
      const id = this.idAt(next);
      this.cursor = id;
      if (e.shiftKey) this.selectRange(id, ctrl);
      else if (ctrl) this.view.markAll(); // moves the focus only (then Space adds)
      else { this.anchor = id; s.select([id], this, id); }
      this.view.scrollTo(next, false);
    } else if (e.key === ' ' && this.cursor !== null && pos >= 0) this.toggle(this.cursor);
    else if (e.key === 'Enter' && this.cursor !== null && pos >= 0) s.select(s.selected.has(this.cursor) ? s.selection : [...s.selection, this.cursor], this, this.cursor);
    else if ((e.key === 'p' || e.key === 'P') && !ctrl && !e.altKey) this.togglePin();
    else if (e.key === 'a' && ctrl) s.select(Array.from(this.view.rows, i => this.index.source[i].id), this);
    else if (e.key === '/') this.search.focus();
    else return;
    e.preventDefault();
  }

  togglePin() {
    const s = this.state;
    s.update({pinned: s.pinned !== null && (s.pinned === s.primary || s.primary === null) ? null : s.primary}, this);
  }

  /** Downloads the selection (or, with none, every shown row) with each active model's prediction. */
  /** @param {'csv' | 'json'} kind */
  export(kind) {
    const sel = this.state.selection;
    const ids = sel.length ? sel : Array.from(this.view.rows, i => this.index.source[i].id);
    const models = this.state.models.filter(n => this.data.model(n)?.operations.includes('predict'));
    const name = `${this.state.dataset}-${sel.length ? 'selection' : 'rows'}.${kind}`;
    download(name, exportText(this.data, ids, models, kind), kind === 'csv' ? 'text/csv' : 'application/json');
  }
}
