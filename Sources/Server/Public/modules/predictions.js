// The Predictions module: this copy's model's output for the primary (and pinned) example — class probabilities,
// [MASK] fillers or GPT-2's next tokens — and a one-line summary of a larger selection.
import {LoupeModule} from '../module.js';
import {h, emptyState, replace, spinner, pct} from '../dom.js';
/** @typedef {import('../module.js').Change} Change */
/** @typedef {import('../module.js').Context} Context */
/** @typedef {import('../types.js').ModelInfo} ModelInfo */
/** @typedef {import('../types.js').Prediction} Prediction */
/** @typedef {import('../types.js').TokenProbability} TokenProbability */

/** Classes drawn at most (LIT issue #416: hundreds of classes crashed the page); the rest are counted. */
const TOP_CLASSES = 12;

/** Changes that can alter what this module shows. */
const RELEVANT = ['selection', 'primary', 'pinned', 'predictions', 'examples', 'models', 'shown'];

/**
 * A token as the user should read it: GPT-2's leading space as a visible mark, newlines as ↵.
 * @param {string} t
 */
export function visibleToken(t) { return t.replace(/^ /, '␣').replace(/\n/g, '↵'); }

export class Predictions extends LoupeModule {
  static id = 'predictions';
  static title = 'Predictions';
  static help = 'The model\'s output for the primary example (and the pinned one): class probabilities, [MASK] fillers or next tokens.';
  static perModel = true;

  /**
   * @param {Context} ctx
   * @param {ModelInfo | null} model
   */
  static unsupported(ctx, model) {
    void ctx;
    if (!model) return 'no model is selected';
    if (!model.operations.includes('predict')) return `${model.name} (${model.task}) does not predict`;
    return null;
  }

  /**
   * @param {Context} ctx
   * @param {HTMLElement} body
   * @param {ModelInfo | null} model
   */
  constructor(ctx, body, model) {
    super(ctx, body, model);
    /** What was drawn last, so the many 'predictions' events of a dataset load do not redraw an unchanged view. */
    this.signature = '';
    /** Ids asked for since the selection last changed (a failed one is not asked again in a loop). */
    this.asked = new Set();
    /** Ids whose call is still running (they show a spinner; asked and not running and missing: it failed). */
    this.running = new Set();
  }

  get name() { return this.model?.name ?? ''; }

  /** @param {Set<Change>} changed */
  update(changed) {
    if (!RELEVANT.some(k => changed.has(/** @type {Change} */ (k)))) return;
    if (changed.has('selection') || changed.has('primary') || changed.has('pinned')) this.asked.clear();
    this.render();
  }

  /** The examples shown as cards: the primary, and the pinned one when it is another example. */
  shownIds() {
    const {primary, pinned} = this.state;
    /** @type {{id: string, role: 'primary' | 'pinned'}[]} */
    const out = [];
    if (primary !== null) out.push({id: primary, role: 'primary'});
    if (pinned !== null && pinned !== primary) out.push({id: pinned, role: 'pinned'});
    return out;
  }

  render() {
    const shown = this.shownIds();
    const selection = this.state.selection;
    const preds = shown.map(s => this.data.prediction(this.name, s.id));
    const summaryKey = selection.length > 1 ? selection.filter(id => this.data.prediction(this.name, id)).length : 0;
    const signature = JSON.stringify([shown, preds.map(p => (p ? 1 : 0)), selection.length, summaryKey,
      shown.map(s => this.data.byId.has(s.id)), this.state.pinned, [...this.running]]);
    if (signature === this.signature) return;
    this.signature = signature;

    if (shown.length === 0) {
      replace(this.body, emptyState(`Select an example in the table to see ${this.name}'s prediction`));
      return;
    }
    // Fetch what is missing (the primary's card first; the selection's predictions for its summary line).
    const missing = [...shown.map(s => s.id), ...(selection.length > 1 ? selection : [])]
      .filter(id => this.data.byId.has(id) && !this.data.prediction(this.name, id) && !this.asked.has(id));
    if (missing.length) { this.fetch(missing); this.signature = ''; }

    replace(this.body,
      selection.length > 1 ? this.summary(selection) : null,
      h('div', {class: 'pred-cards'}, ...shown.map((s, i) => this.card(s.id, s.role, preds[i]))));
  }

  /** @param {string[]} ids */
  fetch(ids) {
    for (const id of ids) { this.asked.add(id); this.running.add(id); }
    // Keyed by the ids, so asking for the pinned example does not abort the primary's call; the answers are
    // stored by id in the DataStore, so none can be stale.
    this.api.latest(`predictions:${this.name}:${ids.join(',')}`, signal => this.data.predictIds(this.name, ids, signal))
      .finally(() => {
        for (const id of ids) this.running.delete(id);
        this.render(); // a failure (reported in the status bar) replaces the spinner by a note
      });
  }

  /**
   * "n selected · accuracy …" for a selection of several examples.
   * @param {string[]} selection
   */
  summary(selection) {
    let labelled = 0, right = 0, predicted = 0;
    for (const id of selection) {
      if (this.data.prediction(this.name, id)) predicted++;
      const c = this.data.correct(this.name, id);
      if (c === null) continue;
      labelled++;
      if (c) right++;
    }
    const parts = [`${selection.length} selected`];
    if (labelled > 0) parts.push(`accuracy ${pct(right / labelled)} (${right}/${labelled} labelled)`);
    if (predicted < selection.length) parts.push(`${selection.length - predicted} still predicting`);
    parts.push('showing the primary example');
    return h('div', {class: 'pred-summary muted', 'data-selected': selection.length,
      'data-accuracy': labelled > 0 ? String(right / labelled) : null}, parts.join(' · '));
  }

  /**
   * One example's prediction.
   * @param {string} id
   * @param {'primary' | 'pinned'} role
   * @param {Prediction | undefined} p
   */
  card(id, role, p) {
    const example = this.data.byId.get(id);
    // A model without classes (GPT-2, an MLM) has no gold label to compare with.
    const gold = this.model?.labels.length ? this.data.goldName(this.name, id) : null;
    const correct = this.data.correct(this.name, id);
    const pinButton = role === 'primary'
      ? h('button', {class: 'pred-pin', type: 'button', 'aria-pressed': String(this.state.pinned === id),
        title: 'Pin this example to compare it with the next one you select',
        onclick: () => this.state.update({pinned: this.state.pinned === id ? null : id}, this)},
        this.state.pinned === id ? 'Unpin' : 'Pin')
      : h('button', {class: 'pred-pin', type: 'button', title: 'Unpin', onclick: () => this.state.update({pinned: null}, this)}, 'Unpin');
    const head = h('div', {class: 'pred-head'},
      h('span', {class: `pred-role ${role}`}, role),
      h('span', {class: 'pred-id muted'}, `#${id}`),
      gold !== null ? h('span', {class: 'pred-gold muted'}, 'gold ', h('b', {}, gold)) : null,
      correct === null ? null : h('span', {class: `badge ${correct ? 'ok' : 'bad'}`, 'data-correct': String(correct)},
        correct ? 'correct' : 'wrong'),
      p?.truncated ? h('span', {class: 'badge', title: 'The text is longer than the model\'s maximum length'}, 'truncated') : null,
      h('span', {class: 'spacer'}),
      pinButton);
    const text = h('div', {class: 'pred-text', title: example?.text ?? ''}, example?.text ?? (p?.text ?? ''));
    let content;
    if (!example && !p) content = emptyState(`Example ${id} is not in this dataset`);
    else if (!p && !this.running.has(id) && this.asked.has(id)) content = emptyState(`${this.name} could not predict this example (see the status bar); select it again to retry`);
    else if (!p) content = spinner(`Predicting with ${this.name}…`);
    else content = this.output(p, gold);
    return h('article', {class: 'pred-card', 'data-example-id': id, 'data-role': role}, head, text, content);
  }

  /**
   * The model's output, by task.
   * @param {Prediction} p
   * @param {string | null} gold
   */
  output(p, gold) {
    if (p.probabilities) return this.classBars(p, gold);
    if (p.masks) {
      if (p.masks.length === 0) return emptyState('No [MASK] in this text: add one in the editor to see the fillers');
      return h('div', {class: 'pred-masks'}, ...p.masks.map((m, i) => h('div', {class: 'pred-mask', 'data-mask-position': m.position},
        h('div', {class: 'pred-caption muted'}, `[MASK] ${p.masks && p.masks.length > 1 ? `${i + 1} ` : ''}at token ${m.position}`),
        this.tokenBars(m.candidates, 'filler'))));
    }
    if (p.next_tokens) {
      return h('div', {class: 'pred-next'}, h('div', {class: 'pred-caption muted'}, 'Next token'), this.tokenBars(p.next_tokens, 'next-token'));
    }
    return emptyState(`${this.name} returned no probabilities for this example`);
  }

  /**
   * Horizontal bars, one per class (the top class emphasised, the gold one marked).
   * @param {Prediction} p
   * @param {string | null} gold
   */
  classBars(p, gold) {
    const probs = p.probabilities ?? {};
    const labels = this.model?.labels.length ? this.model.labels : Object.keys(probs);
    let rows = labels.map(label => ({label, prob: probs[label] ?? 0}));
    const hidden = Math.max(0, rows.length - TOP_CLASSES);
    // Class order is kept (stable to read across examples) unless there are too many classes to draw.
    if (hidden) rows = [...rows].sort((a, b) => b.prob - a.prob).slice(0, TOP_CLASSES);
    const top = p.label ?? rows.reduce((a, b) => (b.prob > a.prob ? b : a)).label;
    const grid = h('div', {class: 'bars pred-bars', role: 'list', 'aria-label': 'Class probabilities'});
    for (const r of rows) {
      const isTop = r.label === top, isGold = r.label === gold;
      grid.append(
        h('span', {class: `bar-label${isTop ? ' top' : ''}`, role: 'listitem', 'data-label': r.label},
          r.label, isGold ? h('span', {class: 'gold-mark', title: 'gold label', 'aria-label': '(gold label)'}, ' ★') : null),
        h('div', {class: 'bar-track', 'data-label': r.label, 'data-probability': String(r.prob),
          'aria-label': `${r.label}: ${pct(r.prob)}${isTop ? ', predicted' : ''}${isGold ? ', gold' : ''}`},
        h('div', {class: `bar-fill${isTop ? ' top' : ''}${isGold ? ' gold' : ''}`, style: {width: `${(100 * r.prob).toFixed(2)}%`}})),
        h('span', {class: `bar-value${isTop ? ' top' : ''}`}, pct(r.prob)));
    }
    return h('div', {}, grid, hidden ? h('div', {class: 'muted pred-more'}, `and ${hidden} more classes`) : null);
  }

  /**
   * Bars of token probabilities (MLM fillers, GPT-2 next tokens).
   * @param {TokenProbability[]} list
   * @param {string} kind
   */
  tokenBars(list, kind) {
    const max = Math.max(1e-12, ...list.map(t => t.probability));
    const grid = h('div', {class: 'bars pred-bars', role: 'list'});
    list.forEach((t, i) => {
      grid.append(
        h('span', {class: `bar-label token${i === 0 ? ' top' : ''}`, role: 'listitem', title: `token id ${t.id}`}, visibleToken(t.token)),
        // Scaled to the largest so small probabilities of a big vocabulary stay readable; the number is exact.
        h('div', {class: 'bar-track', 'data-kind': kind, 'data-token': t.token, 'data-probability': String(t.probability),
          'aria-label': `${t.token}: ${pct(t.probability)}`},
        h('div', {class: `bar-fill${i === 0 ? ' top' : ''}`, style: {width: `${(100 * t.probability / max).toFixed(2)}%`}})),
        h('span', {class: 'bar-value'}, t.probability < 0.001 ? t.probability.toExponential(1) : pct(t.probability)));
    });
    return grid;
  }
}
