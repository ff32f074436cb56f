// Attention (issue 14 module 5) of the primary example: a layers × heads grid of heat maps (bertviz's model view),
// the head view of one layer (lines per head, hover a token to isolate it), a head's matrix and the rollout.
import {LoupeModule} from '../module.js';
import {h, emptyState, replace, spinner, fmt} from '../dom.js';
import {category} from '../colors.js';
import {thumbnail, headView, matrixView, tokenText, TOP_K} from './attention-draw.js';
/** @typedef {import('../types.js').Attention} Attention */
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('./attention-draw.js').HeadView} HeadView */

/** Answers by model, dataset and id, shared by every copy (a model toggle remounts the modules); the oldest go first. */
const CACHE = /** @type {Map<string, Attention>} */ (new Map());
const CACHE_MAX = 24;
/**
 * The hover an attention copy set last, and for which model: state.hover has no model, and a token index of one
 * tokenizer (GPT-2's) means another token in another (BERT's), so copies ignore each other's hovers.
 */
let lastShared = {model: '', hover: /** @type {string} */ ('null')};

/**
 * The settings, as the URL holds them: `attention.layer` (the API's layer number), `attention.heads` (1-based
 * active heads; absent = all), `attention.head` (1-based head of the matrix), `attention.view`, `attention.rollout`.
 * @typedef {{layer: number, li: number, active: boolean[], head: number, view: 'lines' | 'matrix', rollout: boolean}} Settings
 */

export class AttentionModule extends LoupeModule {
  static id = 'attention';
  static title = 'Attention';
  static help = 'Attention of the primary example: every layer and head as a heat map; a layer as lines between tokens (bertviz); one head as a matrix; the rollout over all layers.';
  static perModel = true;

  /**
   * @param {import('../module.js').Context} ctx
   * @param {import('../types.js').ModelInfo | null} model
   */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is active; tick one in the header';
    if (!model.capabilities.includes('attention') || !model.operations.includes('attention')) {
      return `needs attention weights; ${model.name} (${model.architecture} ${model.task}) does not expose them`;
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
    /** @type {Attention | null} */
    this.att = null;
    /** model, dataset and id of what is shown or loading */
    this.key = '';
    /** the settings last drawn (JSON), so a change of another module's params redraws nothing */
    this.drawn = '';
    /** @type {HeadView | null} */
    this.view = null;
    /** the hover this module set, to tell it from another module's */
    this.myHover = /** @type {import('../state.js').Hover} */ (null);
    this.disposed = false;
    /** @type {Record<string, HTMLElement>} */
    this.els = {};
  }

  get modelName() { return this.model?.name ?? ''; }

  /** @param {Set<Change>} changed */
  update(changed) {
    if (changed.has('primary') || changed.has('shown') || changed.has('models') || changed.has('examples') || !this.key) this.load();
    if (!this.att) return;
    if (changed.has('params')) this.sync();
    if (changed.has('hover')) this.onStateHover();
  }

  dispose() { this.disposed = true; }

  /** Fetches the primary example's attention once per model and id (cached), then draws it. */
  async load() {
    const id = this.state.primary, dataset = this.state.dataset, model = this.modelName;
    if (id === null || !model) {
      if (this.key === 'none') return; // already empty (predictions arriving call update often)
      this.key = 'none';
      this.att = null;
      this.view = null;
      replace(this.body, emptyState('Select an example to see its attention'));
      return;
    }
    const key = JSON.stringify([model, dataset, id]);
    if (key === this.key) return;
    this.key = key;
    const cached = CACHE.get(key);
    if (cached) { this.show(cached); return; }
    this.att = null;
    replace(this.body, spinner(`Computing ${model}'s attention for example ${id}…`));
    const r = /** @type {Attention | null} */ (await this.api.latest(`attention:${model}`,
      signal => this.api.post('/api/attention', {model, dataset, id}, signal)));
    if (this.disposed || this.key !== key) return;
    if (!r) { // this.key stays: no retry on every later update, only on the button or another example
      replace(this.body, emptyState('The attention call failed (the status bar says why).'),
        h('div', {class: 'attn-retry'}, h('button', {onclick: () => { this.key = ''; this.load(); }}, 'Retry')));
      return;
    }
    CACHE.set(key, r);
    if (CACHE.size > CACHE_MAX) CACHE.delete(/** @type {string} */ (CACHE.keys().next().value));
    this.show(r);
  }

  /** @returns {Settings} */
  settings() {
    const a = /** @type {Attention} */ (this.att);
    const p = (/** @type {string} */ k) => this.state.param(`attention.${k}`);
    const wanted = Number(p('layer'));
    const li = Math.max(0, a.layers.indexOf(wanted));
    const heads = a.attention[0]?.length ?? 0;
    const list = p('heads');
    const active = Array.from({length: heads}, () => list === undefined);
    if (list !== undefined) for (const s of list.split(',')) {
      const i = Number(s) - 1;
      if (Number.isInteger(i) && i >= 0 && i < heads) active[i] = true;
    }
    let head = Number(p('head')) - 1;
    if (!(Number.isInteger(head) && head >= 0 && head < heads)) head = Math.max(0, active.indexOf(true));
    return {layer: a.layers[li], li, active, head, view: p('view') === 'matrix' ? 'matrix' : 'lines', rollout: p('rollout') === '1'};
  }

  /**
   * Sets several settings in one state change (one URL write, one redraw).
   * @param {Record<string, string | undefined>} values keys without the `attention.` prefix
   */
  setParams(values) {
    const params = {...this.state.fields.params};
    for (const [k, v] of Object.entries(values)) if (v === undefined) delete params[`attention.${k}`]; else params[`attention.${k}`] = v;
    this.state.update({params}, this);
  }

  /** @param {boolean[]} active */
  headsParam(active) { return active.every(Boolean) ? undefined : active.flatMap((on, i) => on ? [String(i + 1)] : []).join(','); }

  /**
   * Builds the toolbar and the model view for a new answer; the detail panels follow the settings (sync).
   * @param {Attention} a
   */
  show(a) {
    this.att = a;
    this.drawn = '';
    this.view = null;
    const heads = a.attention[0]?.length ?? 0, n = a.tokens.length;
    const layerSelect = h('select', {'data-control': 'layer', 'aria-label': 'Layer',
      onchange: (/** @type {Event} */ e) => this.setParams({layer: /** @type {HTMLSelectElement} */ (e.target).value})},
      ...a.layers.map(l => h('option', {value: String(l)}, `Layer ${l}`)));
    const headButtons = Array.from({length: heads}, (_, i) => h('button', {class: 'attn-head-toggle', 'data-head': i,
      onclick: (/** @type {MouseEvent} */ e) => this.toggleHead(i, e.shiftKey),
      ondblclick: () => this.toggleHead(i, true),
      onkeydown: (/** @type {KeyboardEvent} */ e) => { // Shift+Enter: only this head (the keyboard's double-click)
        if (e.key === 'Enter' && e.shiftKey) { e.preventDefault(); this.toggleHead(i, true); }
      }}, String(i + 1)));
    const viewButtons = /** @type {const} */ (['lines', 'matrix']).map(v => h('button', {'data-control': 'view', 'data-value': v,
      onclick: () => this.setParams({view: v === 'lines' ? undefined : v})}, v === 'lines' ? 'Head view' : 'Matrix'));
    const rollout = h('input', {type: 'checkbox', 'data-control': 'rollout',
      onchange: (/** @type {Event} */ e) => this.setParams({rollout: /** @type {HTMLInputElement} */ (e.target).checked ? '1' : undefined})});
    const toolbar = h('div', {class: 'toolbar attn-toolbar'},
      layerSelect,
      h('span', {class: 'attn-heads', role: 'group', 'aria-label': 'Heads'}, h('span', {class: 'muted'}, 'Heads'), ...headButtons,
        h('button', {class: 'attn-all-heads', 'data-control': 'all-heads', title: 'Show every head', onclick: () => this.setParams({heads: undefined})}, 'all')),
      h('span', {class: 'attn-segmented', role: 'group', 'aria-label': 'Detail view'}, ...viewButtons),
      h('label', {class: 'attn-rollout-toggle', title: 'Attention rollout (Abnar & Zuidema 2020): attention through every layer, residual included'}, rollout, ' Rollout'),
      h('span', {class: 'spacer'}),
      h('span', {class: 'muted attn-summary'}, `example ${a.id} · ${n} tokens · ${a.layers.length} × ${heads}`));
    const detail = h('div', {class: 'attn-panel attn-detail'});
    const rolloutPanel = h('div', {class: 'attn-panel attn-rollout'});
    const note = h('div', {class: 'attn-note muted', role: 'note'});
    replace(this.body, h('div', {class: 'attn'}, toolbar, note,
      h('div', {class: 'attn-panels'}, this.modelView(a), detail, rolloutPanel)));
    this.els = {layerSelect, detail, rolloutPanel, note};
    this.headButtons = headButtons;
    this.viewButtons = viewButtons;
    this.rolloutBox = rollout;
    this.sync();
  }

  /**
   * The layers × heads grid; a click (or Enter) on a thumbnail shows that head in the detail view.
   * @param {Attention} a
   */
  modelView(a) {
    const heads = a.attention[0]?.length ?? 0;
    const size = heads <= 4 ? 64 : heads <= 8 ? 48 : 34;
    /** @type {HTMLButtonElement[][]} */
    const thumbs = [];
    const grid = h('div', {class: 'attn-grid', role: 'group', 'aria-label': 'Layers × heads: arrow keys move, Enter shows a head',
      style: {gridTemplateColumns: `auto repeat(${heads}, ${size}px)`}},
      h('span'), ...Array.from({length: heads}, (_, i) => h('span', {class: 'attn-grid-head'},
        h('span', {class: 'attn-dot', style: {background: category(i)}}), `H${i + 1}`)));
    a.layers.forEach((layer, li) => {
      grid.append(h('span', {class: 'attn-grid-layer'}, `L${layer}`));
      thumbs.push(a.attention[li].map((m, hd) => {
        const b = h('button', {class: 'attn-thumb', 'data-layer': layer, 'data-head': hd, tabIndex: -1,
          'aria-label': `Layer ${layer}, head ${hd + 1}`, title: `Layer ${layer}, head ${hd + 1}: click for its detail`,
          style: {width: `${size}px`, height: `${size}px`},
          onclick: () => this.setParams({layer: String(layer), head: String(hd + 1), heads: String(hd + 1)}),
          onkeydown: (/** @type {KeyboardEvent} */ e) => {
            const d = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]}[e.key];
            const to = d && thumbs[li + d[0]]?.[hd + d[1]];
            if (!to) return;
            e.preventDefault();
            b.tabIndex = -1;
            to.tabIndex = 0;
            to.focus();
          }}, thumbnail(m));
        grid.append(b);
        return b;
      }));
    });
    this.thumbs = thumbs;
    return h('div', {class: 'attn-panel attn-model-view', 'data-view': 'model'}, h('h3', {}, 'Model view'), grid);
  }

  /**
   * Click toggles a head; double-click (or shift-click) shows only it. In the matrix view a head square picks
   * the head shown.
   * @param {number} i
   * @param {boolean} only
   */
  toggleHead(i, only) {
    const s = this.settings();
    if (s.view === 'matrix') { this.setParams({head: String(i + 1), heads: String(i + 1)}); return; }
    const active = only ? s.active.map((_, j) => j === i) : s.active.map((on, j) => (j === i ? !on : on));
    this.setParams({heads: this.headsParam(active), head: active[i] ? String(i + 1) : this.state.param('attention.head')});
  }

  /** Brings the controls and the detail panels to the settings (only what changed is redrawn). */
  sync() {
    const a = this.att;
    if (!a) return;
    const s = this.settings();
    const drawn = JSON.stringify(s);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    /** @type {HTMLSelectElement} */ (this.els.layerSelect).value = String(s.layer);
    (this.headButtons ?? []).forEach((b, i) => {
      const on = s.view === 'matrix' ? i === s.head : s.active[i];
      b.setAttribute('aria-pressed', String(on));
      b.style.borderColor = category(i);
      b.style.background = on ? category(i) : '';
      b.setAttribute('aria-label', `Head ${i + 1}`);
      b.title = s.view === 'matrix' ? `Show head ${i + 1}'s matrix` : `Head ${i + 1}: click toggles, double-click (or shift-click, Shift+Enter) shows only it`;
    });
    for (const b of this.viewButtons ?? []) b.setAttribute('aria-pressed', String(b.dataset.value === s.view));
    if (this.rolloutBox) this.rolloutBox.checked = s.rollout;
    (this.thumbs ?? []).forEach((row, li) => row.forEach((b, hd) => {
      const shown = li === s.li && (s.view === 'matrix' ? hd === s.head : s.active[hd]);
      b.setAttribute('aria-pressed', String(shown));
      if (document.activeElement?.closest('.attn-grid') !== b.parentElement) b.tabIndex = li === s.li && hd === (s.view === 'matrix' ? s.head : Math.max(0, s.active.indexOf(true))) ? 0 : -1;
    }));
    this.drawDetail(a, s);
    this.drawRollout(a, s);
  }

  /** @param {Attention} a @param {Settings} s */
  drawDetail(a, s) {
    const n = a.tokens.length, on = s.active.filter(Boolean).length;
    const readout = h('div', {class: 'attn-readout muted', 'aria-live': 'polite'});
    this.view = null;
    if (s.view === 'matrix') {
      replace(this.els.detail, h('h3', {}, `Layer ${s.layer} · head ${s.head + 1}`),
        h('div', {'data-view': 'matrix', 'data-layer': s.layer, 'data-head': s.head},
          matrixView(a.tokens, a.attention[s.li][s.head], (q, k) => this.matrixHover(readout, a, a.attention[s.li][s.head], q, k))), readout);
      this.els.note.textContent = '';
      return;
    }
    const view = headView(a.tokens, a.attention[s.li], s.active, (side, i) => this.tokenHover(side, i));
    view.element.dataset.layer = String(s.layer);
    this.view = view;
    const caption = on === 0 ? 'no head is on: click a head square'
      : `Layer ${s.layer} · ${on === s.active.length ? 'all' : on} of ${s.active.length} heads · hover a token to isolate its lines`;
    replace(this.els.detail, h('h3', {}, 'Head view'), h('div', {class: 'attn-caption muted'}, caption), view.element);
    this.els.note.textContent = view.renderer === 'canvas'
      ? `${n} tokens: the lines are drawn on a canvas, the ${TOP_K} strongest keys per query and head; hover a token to see all of its lines.`
      : '';
    this.onStateHover();
  }

  /** @param {Attention} a @param {Settings} s */
  drawRollout(a, s) {
    if (!s.rollout) { replace(this.els.rolloutPanel); this.els.rolloutPanel.hidden = true; return; }
    this.els.rolloutPanel.hidden = false;
    const readout = h('div', {class: 'attn-readout muted', 'aria-live': 'polite'});
    replace(this.els.rolloutPanel, h('h3', {title: 'Abnar & Zuidema 2020: the product over layers of (attention averaged over heads + identity), rows renormalised'}, 'Rollout (all layers)'),
      h('div', {'data-view': 'rollout'}, matrixView(a.tokens, a.rollout, (q, k) => this.matrixHover(readout, a, a.rollout, q, k))), readout);
  }

  /**
   * A matrix cell under the mouse: its weight read out, its query shared as the hovered token.
   * @param {HTMLElement} readout @param {Attention} a @param {number[][]} m @param {number | null} q @param {number | null} k
   */
  matrixHover(readout, a, m, q, k) {
    readout.textContent = q === null || k === null ? '' : `${tokenText(a.tokens[q])} → ${tokenText(a.tokens[k])}: ${fmt(m[q][k])}`;
    this.shareHover(q);
  }

  /**
   * A token of the head view hovered (or focused): keep its lines, and tell the other modules.
   * @param {'query' | 'key' | null} side @param {number} i
   */
  tokenHover(side, i) {
    this.view?.focus(side, i);
    this.shareHover(side ? i : null);
  }

  /** @param {number | null} token */
  shareHover(token) {
    const a = this.att;
    const hover = a && token !== null ? {id: a.id, token} : null;
    if (hover === null && this.myHover === null) return; // leaving, after another module took the hover
    this.myHover = hover;
    lastShared = {model: this.modelName, hover: JSON.stringify(hover)};
    this.state.update({hover}, this);
  }

  /** Another module's hover (e.g. a salience chip): the same token's lines, from the query side. */
  onStateHover() {
    const hv = this.state.hover, a = this.att;
    if (!a || !this.view) return;
    if (hv && JSON.stringify(hv) === JSON.stringify(this.myHover)) return; // our own echo, already drawn
    this.myHover = null;
    const otherModel = lastShared.hover === JSON.stringify(hv) && lastShared.model !== this.modelName;
    if (hv && !otherModel && hv.id === a.id && hv.token >= 0 && hv.token < a.tokens.length) this.view.focus('query', hv.token);
    else this.view.focus(null, 0);
  }
}
