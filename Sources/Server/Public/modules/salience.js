// The Salience maps module: one panel per explanation method of this copy's model, token chips coloured by
// score for the primary (and pinned) example, shared gamma / word merging / target, hover linked across panels.
import {LoupeModule} from '../module.js';
import {h, emptyState, replace, download} from '../dom.js';
import {SaliencePanel, shownScores} from './salience-panel.js';
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('../module.js').Context} Context */
/** @typedef {import('../types.js').ModelInfo} ModelInfo */
/** @typedef {import('../types.js').Explanation} Explanation */

/** Explanations kept per module (a fast clicker revisits examples; each entry is a few kB). */
const CACHE_SIZE = 400;

export class SalienceMaps extends LoupeModule {
  static id = 'salience';
  static title = 'Salience maps';
  static help = 'Which tokens drive the prediction: one panel per method; gradient methods run on selection, the others on Run.';
  static perModel = true;

  /**
   * @param {Context} ctx
   * @param {ModelInfo | null} model
   */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is selected';
    if (!model.operations.includes('explain')) return `${model.name} (${model.task}) cannot be explained`;
    if (!model.methods.some(m => m.compatible)) {
      return `no salience method fits ${model.name}: ${model.methods.map(m => `${m.id} ${m.reason ?? ''}`).join('; ')}`;
    }
    return null;
  }

  /**
   * @param {Context} ctx
   * @param {HTMLElement} body
   * @param {ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    const m = /** @type {ModelInfo} */ (model);
    /** GPT-2-like models explain generated tokens (`targets`), not a class. */
    this.causal = m.task === 'causal-lm' || m.operations.includes('generate');
    /** @type {Map<string, Explanation>} request key → explanation, oldest first */
    this.cache = new Map();
    this.panels = m.methods.filter(x => x.compatible).map(x => new SaliencePanel(this, x));
    this.slotsKey = '';
    this.optionsKey = JSON.stringify(this.requestOptions());
    this.lastGamma = this.gamma();
    this.lastPick = this.generatedPick();
    /** @type {HTMLElement[]} chips highlighted for the hovered token */
    this.hovered = [];

    this.gammaInput = h('input', {type: 'range', min: 0.25, max: 6, step: 0.25, value: String(this.lastGamma),
      'aria-label': 'Gamma of the colour scale', 'data-control': 'gamma',
      oninput: () => this.state.setParam('salience.gamma', this.gammaInput.value === '2' ? undefined : this.gammaInput.value, this)});
    this.gammaValue = h('span', {class: 'sal-gamma-value'}, String(this.lastGamma));
    const mergeBox = h('input', {type: 'checkbox', 'data-control': 'merge-words', checked: this.state.param('salience.merge') === '1',
      onchange: () => this.state.setParam('salience.merge', mergeBox.checked ? '1' : undefined, this)});
    const classSelect = this.causal || !m.labels.length ? null : h('select', {'data-control': 'target', 'aria-label': 'Target class',
      onchange: () => this.state.setParam('salience.class', classSelect?.value || undefined, this)},
    h('option', {value: ''}, 'predicted class'),
    ...m.labels.map(l => h('option', {value: l, selected: this.state.param('salience.class') === l}, l)));
    const tokensInput = this.causal ? h('input', {type: 'number', min: 1, max: 64, step: 1, placeholder: '10',
      'data-control': 'max-tokens', 'aria-label': 'Generated tokens', value: this.state.param('salience.tokens') ?? '',
      onchange: () => {
        const n = Number(tokensInput?.value);
        this.state.setParam('salience.tokens', Number.isInteger(n) && n >= 1 && n <= 64 ? String(n) : undefined, this);
      }}) : null;
    // GPT-2: explain the next token against another one (score(target) − score(contrast), inseq's contrastive
    // attribution); the server then explains one generated token. Spaces count: " such" is not "such".
    const contrastInput = this.causal ? h('input', {type: 'text', size: 8, placeholder: 'token', 'data-control': 'contrast',
      'aria-label': 'Contrast token', value: this.state.param('salience.contrast') ?? '',
      onchange: () => this.state.setParam('salience.contrast', contrastInput?.value || undefined, this)}) : null;
    this.exportButton = h('button', {type: 'button', 'data-action': 'export', title: 'Download the salience shown as JSON',
      onclick: () => this.export()}, 'Export JSON');
    const toolbar = h('div', {class: 'toolbar sal-toolbar'},
      classSelect ? h('label', {title: 'The class whose score is explained (default: the predicted one)'}, 'target ', classSelect) : null,
      tokensInput ? h('label', {title: 'How many tokens GPT-2 generates (each one is explained)'}, 'generate ', tokensInput, ' tokens') : null,
      contrastInput ? h('label', {title: 'Explain the next token rather than this one (one token of the vocabulary; empty: no contrast)'},
        'rather than ', contrastInput) : null,
      h('label', {title: 'Sum the scores of word pieces into whole words'}, mergeBox, ' merge words'),
      h('label', {class: 'sal-gamma', title: 'Gamma of the colour scale: higher makes small scores more visible'}, 'gamma ', this.gammaInput, this.gammaValue),
      h('span', {class: 'spacer'}), this.exportButton);
    const incompatible = m.methods.filter(x => !x.compatible);
    this.empty = h('div', {});
    this.panelBox = h('div', {class: 'sal-panels'}, ...this.panels.map(p => p.element));
    // Hover: one listener for every chip of the module (event delegation; chips are redrawn often).
    this.panelBox.addEventListener('mouseover', e => this.onPointer(e));
    this.panelBox.addEventListener('mouseleave', () => { if (this.state.hover) this.state.update({hover: null}, this); });
    this.panelBox.addEventListener('keydown', e => this.onKey(e));
    replace(body, toolbar, this.empty, this.panelBox,
      incompatible.length ? h('div', {class: 'sal-incompatible muted', 'data-incompatible': incompatible.map(x => x.id).join(' ')},
        `Not available for ${m.name}: `, ...incompatible.map((x, i) => h('span', {'data-method': x.id},
          i ? ', ' : '', h('b', {}, x.id), ` (${x.reason ?? 'incompatible'})`))) : null);
  }

  get name() { return this.model?.name ?? ''; }

  /** The colour scale's gamma (LIT's default 2). */
  gamma() {
    const g = Number(this.state.param('salience.gamma'));
    return Number.isFinite(g) && g > 0 ? g : 2;
  }

  /** GPT-2: which generated token's salience is shown. */
  generatedPick() {
    const i = Number(this.state.param('salience.target') ?? 0);
    return Number.isInteger(i) && i >= 0 ? i : 0;
  }

  /** The request fields shared by every panel: target class, word merging, generated tokens, contrast token. */
  requestOptions() {
    /** @type {{target?: string, merge_words?: boolean, max_tokens?: number, contrast?: string}} */
    const out = {};
    const cls = this.state.param('salience.class');
    if (!this.causal && cls && this.model?.labels.includes(cls)) out.target = cls;
    if (this.state.param('salience.merge') === '1') out.merge_words = true;
    const n = Number(this.state.param('salience.tokens'));
    if (this.causal && Number.isInteger(n) && n >= 1) out.max_tokens = n;
    const contrast = this.state.param('salience.contrast');
    if (this.causal && contrast) out.contrast = contrast;
    return out;
  }

  /**
   * The cache key of one explanation request.
   * @param {string} method
   * @param {string} id
   * @param {Record<string, any>} config
   */
  cacheKey(method, id, config) {
    return JSON.stringify([this.data.dataset, method, id, config, this.requestOptions()]);
  }

  /**
   * @param {string} key
   * @param {Explanation} e
   */
  remember(key, e) {
    this.cache.delete(key);
    this.cache.set(key, e);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(/** @type {string} */ (this.cache.keys().next().value));
  }

  /** The examples shown: the primary, and the pinned one when it is another example (and both are loaded). */
  slots() {
    const {primary, pinned} = this.state;
    /** @type {{id: string, role: string}[]} */
    const out = [];
    if (primary !== null && this.data.byId.has(primary)) out.push({id: primary, role: 'primary'});
    if (pinned !== null && pinned !== primary && this.data.byId.has(pinned)) out.push({id: pinned, role: 'pinned'});
    return out;
  }

  /** @param {Set<Change>} changed */
  update(changed) {
    let refresh = ['selection', 'primary', 'pinned', 'examples', 'models', 'shown'].some(k => changed.has(/** @type {Change} */ (k)));
    let force = false;
    if (changed.has('params')) {
      const options = JSON.stringify(this.requestOptions());
      if (options !== this.optionsKey) { this.optionsKey = options; refresh = force = true; }
      const gamma = this.gamma();
      if (gamma !== this.lastGamma) {
        this.lastGamma = gamma;
        this.gammaInput.value = String(gamma);
        this.gammaValue.textContent = String(gamma);
        for (const p of this.panels) p.recolor();
      }
      const pick = this.generatedPick();
      if (pick !== this.lastPick) { this.lastPick = pick; this.redrawKeepingFocus(); }
    }
    if (refresh) this.refresh(force);
    if (changed.has('hover') || refresh || changed.has('params')) this.highlight();
  }

  /**
   * Points every panel at the shown examples; autorun panels explain them.
   * @param {boolean} force the request options changed: run even if the examples did not
   */
  refresh(force) {
    const slots = this.slots();
    const key = JSON.stringify(slots);
    if (key === this.slotsKey && !force) return;
    this.slotsKey = key;
    replace(this.empty, slots.length ? null : emptyState(this.state.primary !== null && !this.data.byId.size
      ? 'Loading the dataset…' : `Select an example in the table to see which tokens drive ${this.name}'s output`));
    this.panelBox.hidden = slots.length === 0;
    for (const p of this.panels) p.show(slots, true);
    this.exportButton.disabled = slots.length === 0;
  }

  /** Redraws the panels (a generated token was picked), keeping keyboard focus on the picker. */
  redrawKeepingFocus() {
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    const inPicker = active && this.body.contains(active) && active.closest('.sal-generated');
    const method = inPicker ? active.closest('[data-method]')?.getAttribute('data-method') : null;
    const slot = inPicker ? active.closest('[data-slot]')?.getAttribute('data-slot') : null;
    for (const p of this.panels) p.render();
    if (method && slot) {
      const chip = /** @type {HTMLElement | null} */ (this.body.querySelector(
        `[data-method="${method}"] [data-slot="${slot}"] .gen-chip.chosen`));
      chip?.focus();
    }
  }

  /** @param {MouseEvent} e */
  onPointer(e) {
    const chip = /** @type {HTMLElement | null} */ ((/** @type {HTMLElement} */ (e.target)).closest('.sal-chips .chip[data-token-index]'));
    const box = /** @type {HTMLElement | null} */ (chip?.closest('[data-example-id]') ?? null);
    if (!chip || !box) return;
    const hover = {id: /** @type {string} */ (box.dataset.exampleId), token: Number(chip.dataset.tokenIndex)};
    const cur = this.state.hover;
    if (!cur || cur.id !== hover.id || cur.token !== hover.token) this.state.update({hover}, this);
  }

  /**
   * Arrow keys on a focused chip row move the hovered token (the keyboard's hover).
   * @param {KeyboardEvent} e
   */
  onKey(e) {
    const row = /** @type {HTMLElement} */ (e.target);
    if (!row.classList?.contains('sal-chips')) return;
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    const id = /** @type {HTMLElement | null} */ (row.closest('[data-example-id]'))?.dataset.exampleId;
    const n = row.querySelectorAll('.chip[data-token-index]').length;
    if (!id || !n) return;
    const cur = this.state.hover && this.state.hover.id === id ? this.state.hover.token : (step > 0 ? -1 : n);
    this.state.update({hover: {id, token: Math.max(0, Math.min(n - 1, cur + step))}}, this);
    e.preventDefault();
  }

  /** Outlines the hovered token in every panel (hover set here or by another module). */
  highlight() {
    for (const c of this.hovered) c.classList.remove('hovered');
    this.hovered = [];
    const hover = this.state.hover;
    if (!hover) return;
    for (const box of this.body.querySelectorAll(`.sal-example[data-example-id="${CSS.escape(hover.id)}"]`)) {
      const c = /** @type {HTMLElement | null} */ (box.querySelector(`.sal-chips .chip[data-token-index="${hover.token}"]`));
      if (c) { c.classList.add('hovered'); this.hovered.push(c); }
    }
  }

  /** Downloads the explanations shown (LIT issue #56: salience should be exportable). */
  export() {
    const pick = this.generatedPick();
    const panels = this.panels.map(p => ({
      method: p.method.id,
      config: p.config() ?? {},
      explanations: p.slots.map(s => {
        const e = this.cache.get(s.key);
        const shown = e ? shownScores(e, pick) : null;
        return e ? {role: s.role, ...e, shown_target: shown?.target?.token} : null;
      }).filter(x => x !== null),
    })).filter(p => p.explanations.length > 0);
    const doc = {model: this.name, dataset: this.data.dataset, options: this.requestOptions(), gamma: this.gamma(), panels};
    download(`salience-${this.name}-${this.state.primary ?? 'none'}.json`, JSON.stringify(doc, null, 1), 'application/json');
  }

  dispose() {
    for (const p of this.panels) p.generation++;
  }
}
