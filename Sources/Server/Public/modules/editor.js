// The datapoint editor (LIT's datapoint editor): edit the primary example's text and label, or write a new one;
// "Analyse" adds it to the dataset (the edited example as its parent), predicts it with the active models and
// selects it, so every module shows it next.
import {LoupeModule} from '../module.js';
import {h, replace, emptyState, spinner} from '../dom.js';
/** @typedef {import('../types.js').Example} Example */
/** @typedef {import('../module.js').Change} Change */

const HINT = 'Select an example in the table to edit it, or type a new sentence here';

export class DatapointEditor extends LoupeModule {
  static id = 'editor';
  static title = 'Datapoint editor';
  static help = 'Edit the primary example (or write a new one) and analyse it: it is added to the dataset with the ' +
    'edited example as its parent, predicted and selected. Ctrl+Enter analyses.';

  /**
   * @param {import('../module.js').Context} ctx
   * @param {HTMLElement} body
   * @param {import('../types.js').ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    /** @type {Example | null} the example the fields started from (null: a new example) */
    this.base = null;
    /** @type {string | null | undefined} the primary the fields were last filled from (undefined: not yet) */
    this.filledFrom = undefined;
    this.busy = false;
    /** What the last "Analyse" did, shown while its example is the primary. */
    this.note = {id: '', text: ''};
    /** @type {Set<string>} `model id` pairs whose prediction this editor asked for */
    this.requested = new Set();
    const onKey = (/** @type {KeyboardEvent} */ e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.analyse(); }
    };
    this.heading = h('div', {class: 'ed-head'});
    this.text = h('textarea', {class: 'ed-text', rows: 3, 'aria-label': 'Text of the example', placeholder: 'Type or paste a sentence',
      oninput: () => this.renderButtons(), onkeydown: onKey});
    this.label = h('select', {class: 'ed-label', 'aria-label': 'Gold label', onchange: () => this.renderButtons(), onkeydown: onKey});
    this.analyseButton = h('button', {type: 'button', class: 'primary', 'data-action': 'analyse',
      title: 'Add the example to the dataset, predict it and select it (Ctrl+Enter)', onclick: () => this.analyse()}, 'Analyse');
    this.resetButton = h('button', {type: 'button', 'data-action': 'reset', title: 'Restore the original text and label',
      onclick: () => { this.fill(this.base); this.text.focus(); }}, 'Reset');
    this.newButton = h('button', {type: 'button', 'data-action': 'new', title: 'Start a new example with no parent',
      onclick: () => { this.fill(null); this.text.focus(); }}, 'New');
    this.result = h('div', {class: 'ed-result', 'aria-live': 'polite'});
    replace(body, this.heading, this.text,
      h('div', {class: 'ed-controls'}, h('label', {}, 'Label ', this.label), h('span', {class: 'spacer'}),
        this.newButton, this.resetButton, this.analyseButton),
      this.result);
    this.renderLabels();
  }

  /** The dataset's labels, named by the first classifier ("positive (1)"), plus none. */
  renderLabels() {
    const ds = this.ctx.info.datasets.find(d => d.name === this.state.dataset);
    const m = this.state.models.map(n => this.data.model(n)).find(x => x && x.labels.length > 0) ?? null;
    const name = (/** @type {string} */ raw) => {
      const i = m ? this.data.goldIndex(m, {id: '', text: '', label: raw}) : null;
      return m && i !== null && m.labels[i] !== raw ? `${m.labels[i]} (${raw})` : raw;
    };
    const value = this.label.value;
    replace(this.label, h('option', {value: ''}, '(no label)'), ...(ds?.labels ?? []).map(l => h('option', {value: l}, name(l))));
    this.setLabel(value);
  }

  /**
   * Selects `value`, adding it when the dataset's label list lacks it (an added example's own label).
   * @param {string} value
   */
  setLabel(value) {
    if (value && ![...this.label.options].some(o => o.value === value)) this.label.append(h('option', {value}, value));
    this.label.value = value;
  }

  /** @param {Set<Change>} changed */
  update(changed) {
    if (changed.has('models')) this.renderLabels();
    const primary = this.state.primary;
    if (primary !== this.filledFrom) {
      const e = primary === null ? undefined : this.data.byId.get(primary);
      if (primary === null || e) { this.filledFrom = primary; this.fill(e ?? null); }
      else replace(this.heading, spinner(`Loading example ${primary}…`)); // restored from the URL before the data
    }
    if (changed.has('primary') || changed.has('predictions') || changed.has('models') || changed.has('examples')) this.renderResult();
  }

  /**
   * Puts `e` (or nothing: a new example) in the fields.
   * @param {Example | null} e
   */
  fill(e) {
    this.base = e;
    this.text.value = e?.text ?? '';
    this.setLabel(e?.label ?? '');
    this.renderHeading();
    this.renderButtons();
    this.renderResult();
  }

  renderHeading() {
    const e = this.base;
    if (!e) {
      replace(this.heading, h('span', {class: 'ed-title'}, 'New example'), emptyState(HINT));
      this.heading.dataset.exampleId = '';
      return;
    }
    this.heading.dataset.exampleId = e.id;
    const parent = e.parent ?? null;
    const known = parent !== null && this.data.byId.has(parent);
    replace(this.heading, h('span', {class: 'ed-title'}, 'Example ', h('code', {class: 'ed-id'}, e.id)),
      parent === null ? null : h('span', {class: 'ed-parent muted', 'data-parent': parent}, ' · edited from ',
        known ? h('button', {type: 'button', class: 'ed-link', title: 'Select the parent example',
          onclick: () => this.state.select([parent], this, parent)}, parent) : h('code', {}, parent)));
  }

  /** Whether the fields differ from the example they started from (any text, for a new example). */
  get dirty() {
    const e = this.base;
    if (!e) return this.text.value.trim() !== '' || this.label.value !== '';
    return this.text.value !== e.text || this.label.value !== (e.label ?? '');
  }

  renderButtons() {
    const ready = this.text.value.trim() !== '' && this.dirty && !this.busy;
    this.analyseButton.disabled = !ready;
    this.analyseButton.title = this.busy ? 'Adding…' : ready ? 'Add the example to the dataset, predict it and select it (Ctrl+Enter)'
      : this.text.value.trim() === '' ? 'Type a text first' : 'Change the text or the label first';
    this.resetButton.disabled = !this.dirty || this.busy || !this.base;
    this.newButton.disabled = this.busy || (!this.base && !this.dirty);
  }

  /** The shown example's prediction by each active model (asked for when not there yet). */
  renderResult() {
    if (this.busy) { replace(this.result, spinner('Adding and predicting…')); return; }
    const e = this.base;
    if (!e || !this.data.byId.has(e.id)) { replace(this.result); return; }
    const note = this.note.id === e.id ? h('div', {class: 'ed-note'}, this.note.text) : null;
    const lines = [];
    for (const name of this.state.models) {
      const m = this.data.model(name);
      if (!m || !m.operations.includes('predict')) continue;
      const p = this.data.prediction(name, e.id);
      if (!p) {
        const key = `${name} ${e.id}`;
        if (!this.requested.has(key)) {
          this.requested.add(key);
          this.api.latest(`editor.predict.${name}`, signal => this.data.predictIds(name, [e.id], signal));
        }
        lines.push(h('div', {class: 'ed-pred', 'data-model': name}, h('span', {class: 'ed-model'}, name), spinner('predicting…')));
        continue;
      }
      const correct = this.data.correct(name, e.id);
      const top = p.label ?? p.next_tokens?.[0]?.token ?? '';
      const prob = p.label ? this.data.confidence(name, e.id) : p.next_tokens?.[0]?.probability ?? null;
      lines.push(h('div', {class: 'ed-pred', 'data-model': name, 'data-prediction': top},
        h('span', {class: 'ed-model'}, name), h('span', {class: 'ed-label-out'}, p.label ? top : `next ${JSON.stringify(top)}`),
        prob === null ? null : h('span', {class: 'muted'}, ` ${(100 * prob).toFixed(1)}%`),
        correct === null ? null : h('span', {class: `badge ${correct ? 'ok' : 'bad'}`, 'data-correct': String(correct)}, correct ? 'correct' : 'wrong')));
    }
    replace(this.result, note, ...lines);
  }

  async analyse() {
    if (this.analyseButton.disabled) return;
    /** @type {Example} */
    const example = {id: '', text: this.text.value.trim()};
    if (this.label.value) example.label = this.label.value;
    const parent = this.base?.id ?? null;
    if (parent !== null) example.parent = parent;
    this.busy = true;
    this.renderButtons();
    this.renderResult();
    const added = await this.api.latest('editor.add', () => this.data.add([example], this.state.models));
    this.busy = false;
    const id = added?.[0]?.id;
    if (!id) { this.renderButtons(); this.renderResult(); return; } // the status bar says why
    this.note = {id, text: `Added ${id}${parent !== null ? ` (edited from ${parent})` : ''}.`};
    this.state.select([id], this, id);
  }
}
