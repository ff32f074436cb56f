// Counterfactuals (issue 14, module 8): new examples from the primary example or the selection by one of the
// model's generators, reviewed with their predictions and label flips, the chosen ones added to the dataset.
import {LoupeModule} from '../module.js';
import {h, replace, emptyState, spinner, pct} from '../dom.js';
import {configForm} from '../form.js';
/** @typedef {import('../types.js').ModelInfo} ModelInfo */
/** @typedef {import('../types.js').Counterfactual} Counterfactual */
/** @typedef {import('../types.js').Prediction} Prediction */
/** @typedef {import('../types.js').Example} Example */
/** @typedef {{start: number, end: number, from: string, to: string, estimate?: number}} Edit */
/** @typedef {{cf: Counterfactual, checked: boolean, added: string | null}} Item */

/** Examples per /api/counterfactuals call: the server's `ServerConfiguration.maxExplainExamples`. */
const BATCH = 64;
/** Examples per /api/examples call: the server's `maxExamples`. */
const ADD_BATCH = 1024;
/** Rows drawn in the review table (a whole selection can make thousands); the buttons still act on all. */
const MAX_ROWS = 400;

/**
 * The generated text with its edits marked against the parent's text (edit spans are Unicode-scalar offsets
 * into the parent). Falls back to the plain text when the edits do not rebuild it (e.g. re-joined tokens).
 * @param {string | undefined} parent
 * @param {Counterfactual} cf
 * @returns {(Node | string)[]}
 */
export function markEdits(parent, cf) {
  const text = cf.example.text;
  /** @type {Edit[]} */
  const edits = cf.edits ?? [];
  if (parent === undefined || edits.length === 0) return [text];
  const chars = Array.from(parent);
  /** @type {(Node | string)[]} */
  const out = [];
  let at = 0;
  let rebuilt = '';
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    if (e.start < at || e.end > chars.length || chars.slice(e.start, e.end).join('') !== e.from) return [text];
    const keep = chars.slice(at, e.start).join('');
    out.push(keep);
    rebuilt += keep + e.to;
    const note = e.estimate === undefined ? `${e.from} → ${e.to || '(removed)'}` : `${e.from} → ${e.to}, estimated Δ log p ${e.estimate.toFixed(3)}`;
    if (e.from) out.push(h('del', {class: 'cf-from', title: note}, e.from));
    if (e.to) out.push(h('ins', {class: 'cf-to', title: note, 'data-edit': 'to'}, e.to));
    at = e.end;
  }
  const tail = chars.slice(at).join('');
  out.push(tail);
  rebuilt += tail;
  // A removal may leave a double space the generator trimmed: compare modulo whitespace runs.
  const norm = (/** @type {string} */ s) => s.replace(/\s+/g, ' ').trim();
  return norm(rebuilt) === norm(text) ? out : [text];
}

export class Counterfactuals extends LoupeModule {
  static id = 'counterfactuals';
  static title = 'Counterfactuals';
  static help = 'Generate new examples from the primary example (or the selection), see whether the prediction flips, and add the ones you want to the dataset.';
  static perModel = true;

  /**
   * @param {import('../module.js').Context} ctx
   * @param {ModelInfo | null} model
   */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is active';
    if (!model.generators.some(g => g.compatible)) return `no generator works with ${model.name} (a ${model.task})`;
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
    /** One form per generator, kept so its values survive switching back and forth. */
    /** @type {Map<string, ReturnType<typeof configForm>>} */
    this.forms = new Map();
    /** @type {'primary' | 'selection'} */
    this.scope = 'primary';
    /** @type {Item[]} */
    this.items = [];
    /** The primary example when the list was generated: the list lasts while it stays the primary. */
    /** @type {string | null} */
    this.anchor = null;
    /** @type {string[]} */
    this.parents = [];
    /** Progress text while generating ('' when idle). */
    this.busy = '';
    this.adding = false;
    /** What the last finished run was ({generator, parents}), for the "made nothing" message. */
    /** @type {{generator: string, parents: number} | null} */
    this.done = null;
    this.run = 0;
    /** The list was drawn before a parent's text or prediction arrived. */
    this.partial = false;
    this.key = `counterfactuals-${this.m.name}`;
    this.generatorId = this.pickGenerator(this.state.param('counterfactuals.generator'));
    /** Set by renderReview when a list is shown. */
    /** @type {{count: HTMLElement, addSelected: HTMLButtonElement, addFlips: HTMLButtonElement} | null} */
    this.actions = null;
    this.ui = this.build();
    this.showForm();
  }

  /** @param {string | undefined} wanted */
  pickGenerator(wanted) {
    const ok = this.m.generators.filter(g => g.compatible);
    return (ok.find(g => g.id === wanted) ?? ok[0]).id;
  }

  /** The controls, made once; the review area is redrawn. */
  build() {
    const m = this.m;
    const genSelect = h('select', {id: `cf-gen-${m.name}`, 'aria-label': 'Generator', 'data-control': 'generator',
      onchange: () => this.setGenerator(genSelect.value)},
    ...m.generators.map(g => h('option', {value: g.id, disabled: !g.compatible, selected: g.id === this.generatorId,
      title: g.compatible ? g.summary : g.reason ?? ''}, g.compatible ? g.id : `${g.id} — ${g.reason ?? 'not compatible'}`)));
    const summary = h('span', {class: 'muted cf-summary'});
    const formHost = h('div', {class: 'cf-form',
      onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter' && /** @type {HTMLElement} */ (e.target).tagName === 'INPUT') { e.preventDefault(); this.generate(); } }});
    const radio = (/** @type {'primary'|'selection'} */ value) => h('input', {type: 'radio', name: `cf-scope-${m.name}`, value,
      checked: this.scope === value, 'data-scope': value, onchange: () => { this.scope = value; }});
    const ui = {genSelect, summary, formHost, scopePrimary: radio('primary'), scopeSelection: radio('selection'),
      primaryLabel: h('span', {}), selectionLabel: h('span', {}),
      genButton: h('button', {class: 'primary', 'data-action': 'generate', onclick: () => this.generate()}, 'Generate'),
      formError: h('div', {class: 'cf-error', role: 'alert'}),
      review: h('div', {class: 'cf-review', 'aria-live': 'polite'})};
    replace(this.body,
      h('div', {class: 'toolbar'}, h('label', {for: `cf-gen-${m.name}`, class: 'muted'}, 'Generator'), genSelect, summary),
      formHost,
      h('div', {class: 'toolbar cf-run'}, ui.genButton, h('span', {class: 'muted'}, 'for'),
        h('label', {}, ui.scopePrimary, ' ', ui.primaryLabel), h('label', {}, ui.scopeSelection, ' ', ui.selectionLabel)),
      ui.formError, ui.review);
    return ui;
  }

  /** @param {string} id */
  setGenerator(id) {
    this.generatorId = this.pickGenerator(id);
    this.state.setParam('counterfactuals.generator', this.generatorId, this);
    this.showForm();
  }

  showForm() {
    const g = this.m.generators.find(x => x.id === this.generatorId);
    if (!g) return;
    this.ui.genSelect.value = g.id;
    this.ui.summary.textContent = g.summary;
    let form = this.forms.get(g.id);
    if (!form) { form = configForm(g.spec, {}, `cf-${this.m.name}-${g.id}`); this.forms.set(g.id, form); }
    replace(this.ui.formHost, form.element);
    this.ui.formError.textContent = '';
  }

  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) {
    if (changed.has('params')) {
      const wanted = this.state.param('counterfactuals.generator');
      if (wanted && wanted !== this.generatorId) { this.generatorId = this.pickGenerator(wanted); this.showForm(); }
    }
    if (changed.has('primary')) {
      const p = this.state.primary;
      const ours = p !== null && this.items.some(it => it.added === p);
      if (p !== this.anchor && !ours && (this.items.length || this.busy || this.done)) this.clear();
    }
    if (changed.has('selection') || changed.has('primary') || changed.has('examples')) this.renderTarget();
    // Predictions and examples stream in while the dataset loads: redraw (and lose the focus) only when a
    // parent's text or prediction was still missing.
    const parentData = changed.has('predictions') || changed.has('examples');
    if (changed.has('shown') || changed.has('primary') || (parentData && this.items.length > 0 && this.partial)) this.renderReview();
  }

  /** The "for: primary / selection" line. */
  renderTarget() {
    const p = this.state.primary;
    const n = this.state.selection.length;
    this.ui.primaryLabel.textContent = p === null ? 'the primary example (none)' : `example ${p}`;
    this.ui.selectionLabel.textContent = `the selection (${n})`;
    this.ui.scopeSelection.disabled = n < 2;
    if (n < 2 && this.scope === 'selection') { this.scope = 'primary'; this.ui.scopePrimary.checked = true; }
    this.ui.genButton.disabled = p === null || this.busy !== '';
  }

  /** Drops the list (the primary changed): a run still going is aborted and its answers ignored. */
  clear() {
    this.run++;
    this.api.inflight.get(this.key)?.abort();
    this.items = [];
    this.parents = [];
    this.anchor = null;
    this.busy = '';
    this.done = null;
  }

  async generate() {
    const primary = this.state.primary;
    if (primary === null || this.busy) return;
    const form = this.forms.get(this.generatorId);
    if (!form) return;
    const {values, errors} = form.values();
    this.ui.formError.textContent = errors.join('; ');
    if (errors.length) return;
    const ids = this.scope === 'selection' && this.state.selection.length > 1 ? [...this.state.selection] : [primary];
    const run = ++this.run;
    const model = this.m.name;
    const generator = this.generatorId;
    Object.assign(this, {anchor: primary, items: [], parents: ids, done: null, busy: `Generating with ${generator}…`});
    this.renderTarget();
    this.renderReview();
    await this.api.latest(this.key, async signal => {
      // The parents' own predictions, to tell a flip.
      await this.data.predictIds(model, ids, signal);
      for (let i = 0; i < ids.length; i += BATCH) {
        const r = await this.api.post('/api/counterfactuals',
          {model, generator, config: values, dataset: this.state.dataset, ids: ids.slice(i, i + BATCH)}, signal);
        if (run !== this.run) return;
        this.items.push(...r.counterfactuals.map((/** @type {Counterfactual} */ cf) => ({cf, checked: false, added: null})));
        if (ids.length > BATCH) this.busy = `Generating with ${generator}… ${Math.min(i + BATCH, ids.length)}/${ids.length} examples`;
        this.renderReview();
      }
    });
    if (run !== this.run) return;
    this.busy = '';
    this.done = {generator, parents: ids.length};
    this.renderTarget();
    this.renderReview();
  }

  /** Whether a parent of the list has no text or prediction yet. */
  missingParents() {
    return this.parents.some(id => !this.data.byId.has(id) || !this.data.prediction(this.m.name, id));
  }

  /**
   * The parent's prediction and whether `cf`'s predicted label differs from it.
   * @param {Counterfactual} cf
   */
  flip(cf) {
    const parent = cf.example.parent ? this.data.prediction(this.m.name, cf.example.parent) : undefined;
    return {parent, flipped: !!(parent?.label && cf.prediction.label && parent.label !== cf.prediction.label)};
  }

  /**
   * A prediction as text: the label and its probability, or a causal LM's top next token.
   * @param {Prediction | undefined} p
   */
  predictionText(p) {
    if (!p) return '…';
    if (p.label && p.probabilities) return `${p.label} ${pct(p.probabilities[p.label])}`;
    const t = p.next_tokens?.[0];
    return t ? `next “${t.token}” ${pct(t.probability)}` : '—';
  }

  renderReview() {
    if (this.items.length === 0) {
      this.actions = null;
      const p = this.state.primary;
      if (this.busy) replace(this.ui.review, spinner(this.busy));
      else if (this.done) replace(this.ui.review, emptyState(`${this.done.generator} made no new example from ${this.done.parents === 1 ? `example ${this.anchor}` : `${this.done.parents} examples`}: change its settings (e.g. substitutions that occur in the text) and press Generate again.`));
      else if (p === null) replace(this.ui.review, emptyState('Select an example in the table, choose a generator, and press Generate'));
      else replace(this.ui.review, emptyState(`Choose a generator and press Generate to make new examples from example ${p}.`));
      return;
    }
    const items = this.items;
    const flips = items.filter(it => this.flip(it.cf).flipped);
    const actions = {
      count: h('span', {class: 'muted', 'data-role': 'summary'}),
      addSelected: h('button', {'data-action': 'add-selected', onclick: () => this.add(items.filter(it => it.checked && !it.added))}),
      // A model without labels (a causal LM) has no flips to add.
      addFlips: h('button', {'data-action': 'add-flips', hidden: this.m.labels.length === 0, onclick: () => this.add(flips.filter(it => !it.added))}),
    };
    this.actions = actions;
    const all = h('input', {type: 'checkbox', 'aria-label': 'Choose every new example', 'data-check': 'all',
      onchange: () => { for (const it of items) if (!it.added) it.checked = all.checked; this.renderReview(); }});
    all.checked = items.some(it => !it.added) && items.every(it => it.checked || it.added);
    const multi = this.parents.length > 1;
    /** @type {HTMLElement[]} */
    const rows = [];
    let lastParent = null;
    for (const [i, it] of items.slice(0, MAX_ROWS).entries()) {
      const parentId = it.cf.example.parent ?? null;
      if (multi && parentId !== lastParent) {
        lastParent = parentId;
        rows.push(this.parentRow(parentId, true));
      }
      rows.push(this.row(it, i));
    }
    replace(this.ui.review,
      busyLine(this.busy),
      multi ? null : h('div', {class: 'cf-parent-line'}, this.parentRow(this.parents[0] ?? null, false)),
      h('div', {class: 'toolbar cf-actions'}, actions.count, h('span', {class: 'spacer'}), actions.addSelected, actions.addFlips),
      h('table', {class: 'grid cf-table'},
        h('thead', {}, h('tr', {}, h('th', {class: 'cf-check'}, all), h('th', {}, 'New text'), h('th', {}, 'Prediction'), h('th', {}, this.m.labels.length ? 'Flip' : ''))),
        h('tbody', {}, ...rows)),
      items.length > MAX_ROWS ? h('div', {class: 'muted cf-more'}, `Showing ${MAX_ROWS} of ${items.length}; “choose all” and the buttons act on all of them.`) : null);
    this.renderActions(flips.length);
    this.partial = this.missingParents();
  }

  /**
   * The parent's text and prediction, as a group header (several parents) or the line above the table.
   * @param {string | null} id
   * @param {boolean} asRow
   */
  parentRow(id, asRow) {
    const e = id === null ? undefined : this.data.byId.get(id);
    const content = [h('span', {class: 'cf-parent-id'}, `from ${id ?? '?'}`), h('span', {class: 'cf-parent-text'}, e?.text ?? ''),
      h('span', {class: 'muted cf-parent-pred'}, this.predictionText(id === null ? undefined : this.data.prediction(this.m.name, id)))];
    return asRow ? h('tr', {class: 'cf-parent', 'data-parent-id': id ?? ''}, h('td', {colspan: 4}, ...content)) : h('div', {class: 'cf-parent', 'data-parent-id': id ?? ''}, ...content);
  }

  /**
   * One generated example: checkbox, text with its edits, prediction (with the change of the parent's class
   * probability), flip marker; added ones link to their row instead of the checkbox.
   * @param {Item} it
   * @param {number} i
   */
  row(it, i) {
    const cf = it.cf;
    const {parent, flipped} = this.flip(cf);
    const parentText = cf.example.parent ? this.data.byId.get(cf.example.parent)?.text : undefined;
    const box = h('input', {type: 'checkbox', checked: it.checked, disabled: !!it.added, 'data-check': 'row',
      'aria-label': `Choose new example ${i + 1}`, onchange: () => { it.checked = box.checked; this.renderActions(); }});
    let delta = null;
    if (parent?.label && parent.probabilities && cf.prediction.probabilities) {
      const d = cf.prediction.probabilities[parent.label] - parent.probabilities[parent.label];
      delta = h('span', {class: 'muted cf-delta', title: `change of p(${parent.label}), the parent's predicted class`}, `Δp(${parent.label}) ${d >= 0 ? '+' : '−'}${Math.abs(100 * d).toFixed(1)} pp`);
    }
    const added = it.added;
    return h('tr', {class: flipped ? 'cf-row flipped' : 'cf-row', 'data-cf-id': cf.example.id, 'data-cf-index': i,
      'data-flip': String(flipped), 'data-added': added ?? undefined},
    h('td', {class: 'cf-check'}, added
      ? h('button', {class: 'cf-added', title: `Added as ${added}: select it`, onclick: () => this.state.select([added], this, added)}, '✓')
      : box),
    h('td', {class: 'cf-text', 'data-text': cf.example.text}, ...markEdits(parentText, cf)),
    h('td', {class: 'cf-pred'}, h('span', {}, this.predictionText(cf.prediction)), delta ? h('br') : null, delta),
    h('td', {class: 'cf-flip'}, flipped ? h('span', {class: 'badge cf-flip-badge', title: `${parent?.label} → ${cf.prediction.label}`}, '⇄ flip') : null));
  }

  /**
   * Refreshes the counts and buttons without redrawing the table (keeps the focus on the checkbox).
   * @param {number} [flipCount]
   */
  renderActions(flipCount) {
    const a = this.actions;
    if (!a) return;
    const flips = flipCount ?? this.items.filter(it => this.flip(it.cf).flipped).length;
    const chosen = this.items.filter(it => it.checked && !it.added).length;
    const openFlips = this.items.filter(it => !it.added && this.flip(it.cf).flipped).length;
    const added = this.items.filter(it => it.added).length;
    a.count.textContent = `${this.items.length} new from ${this.parents.length === 1 ? `example ${this.parents[0]}` : `${this.parents.length} examples`}${this.m.labels.length ? ` · ${flips} flip${flips === 1 ? '' : 's'}` : ''}${added ? ` · ${added} added` : ''}`;
    a.addSelected.textContent = `Add selected (${chosen})`;
    a.addSelected.disabled = chosen === 0 || this.adding;
    a.addFlips.textContent = `Add all flips (${openFlips})`;
    a.addFlips.disabled = openFlips === 0 || this.adding;
  }

  /**
   * Adds `items` to the dataset (parent kept; predicted by every active model), then selects them.
   * @param {Item[]} items
   */
  async add(items) {
    if (items.length === 0 || this.adding) return;
    this.adding = true;
    this.renderActions();
    const run = this.run;
    try {
      /** @type {Example[]} */
      const added = [];
      for (let i = 0; i < items.length; i += ADD_BATCH) {
        const chunk = items.slice(i, i + ADD_BATCH).map(it => ({id: it.cf.example.id, text: it.cf.example.text, parent: it.cf.example.parent}));
        added.push(...await this.data.add(chunk, this.state.models));
      }
      if (run === this.run) items.forEach((it, k) => { it.added = added[k]?.id ?? null; it.checked = false; });
      this.adding = false;
      this.renderReview();
      if (added.length) this.state.select(added.map(e => e.id), this, added[0].id);
    } catch (e) {
      this.api.report(e);
    } finally {
      this.adding = false;
      this.renderActions();
    }
  }

  dispose() { this.clear(); }
}

/** @param {string} text */
function busyLine(text) { return text ? spinner(text) : null; }
