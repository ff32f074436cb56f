// One salience method's collapsible panel (config form, Run, token chips coloured by score, legend) for the
// Salience maps module; a GPT-2 explanation also lists its generated tokens to pick one.
import {h, replace, spinner, emptyState} from '../dom.js';
import {configForm} from '../form.js';
import {salienceColor, textOn} from '../colors.js';
import {visibleToken} from './predictions.js';
/** @typedef {import('../types.js').ComponentInfo} ComponentInfo */
/** @typedef {import('../types.js').Explanation} Explanation */
/** @typedef {import('./salience.js').SalienceMaps} SalienceMaps */

/** Methods whose scores have a sign (their colour scale is diverging); any negative score also makes it signed. */
const SIGNED = new Set(['grad-input', 'ig', 'lime', 'kernel-shap', 'occlusion', 'gradient-shap', 'conductance', 'deeplift']);
/** Methods run as soon as an example is selected (LIT's autorun: the cheap gradient ones). */
export const AUTO = new Set(['grad-norm', 'grad-input']);
const SPECIAL = /^\[(CLS|SEP|PAD|UNK|MASK)\]$|^<\|endoftext\|>$/;
const NAMES = /** @type {Record<string, string>} */ ({
  'grad-norm': 'Gradient norm', 'grad-input': 'Gradient × input', 'ig': 'Integrated gradients', 'lime': 'LIME',
  'kernel-shap': 'KernelSHAP', 'occlusion': 'Occlusion', 'attention': 'Attention', 'info': 'Information',
  'smoothgrad': 'SmoothGrad', 'vargrad': 'VarGrad', 'gradient-shap': 'GradientSHAP', 'conductance': 'Conductance',
  'input-reduction': 'Input reduction', 'deeplift': 'DeepLIFT', 'chefer': 'Chefer relevance',
});

/** Open/auto choices per model+method, kept across re-mounts (models toggled) for the page's life. */
const remembered = new Map();

/** @param {number} x */
export function num(x) {
  if (!Number.isFinite(x)) return String(x);
  return x !== 0 && Math.abs(x) < 0.001 ? x.toExponential(1) : x.toFixed(3);
}

/** @param {number} s seconds */
function duration(s) { return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`; }

/**
 * The scores of an explanation as shown: a GPT-2 one's chosen generated token (`pick`), else the tokens'.
 * @param {Explanation} e
 * @param {number} pick
 */
export function shownScores(e, pick) {
  if (e.targets) {
    const t = e.targets[Math.min(pick, e.targets.length - 1)];
    return t ? {tokens: (e.tokens ?? []).slice(0, t.scores.length), scores: t.scores, target: t} : null;
  }
  return e.scores && e.tokens ? {tokens: e.tokens, scores: e.scores, target: null} : null;
}

export class SaliencePanel {
  /**
   * @param {SalienceMaps} owner
   * @param {ComponentInfo} method
   */
  constructor(owner, method) {
    this.owner = owner;
    this.method = method;
    const memo = remembered.get(`${owner.name}:${method.id}`) ?? {open: AUTO.has(method.id), auto: AUTO.has(method.id)};
    this.memo = memo;
    remembered.set(`${owner.name}:${method.id}`, memo);
    /** Cache keys of the calls running, and of those that failed (shown as such until asked again). */
    this.pending = new Set();
    this.failed = new Set();
    /** @type {{id: string, role: string, key: string}[]} */
    this.slots = [];
    this.generation = 0;
    const prefix = `sal-${owner.name}-${method.id}`.replace(/[^\w-]/g, '_');
    this.form = method.spec.fields.length ? configForm(method.spec, {}, prefix) : null;
    this.errors = h('div', {class: 'sal-errors', role: 'alert'});
    this.autoBox = h('input', {type: 'checkbox', checked: memo.auto, onchange: () => {
      memo.auto = this.autoBox.checked;
      if (memo.auto) this.run();
    }});
    this.status = h('span', {class: 'sal-status muted'});
    this.results = h('div', {class: 'sal-results'});
    // noValidate: the form's own checks (form.js) say which field is wrong, in the panel, in words.
    const form = h('form', {class: 'sal-form', noValidate: true, onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.run(true); }},
      this.form ? this.form.element : null,
      h('div', {class: 'sal-actions'},
        h('button', {type: 'submit', class: 'primary', 'data-action': 'run'}, 'Run'),
        h('label', {title: 'Explain each newly selected example with this method'}, this.autoBox, ' run on selection'),
        this.errors));
    this.element = h('details', {class: 'sal-panel', 'data-method': method.id, open: memo.open,
      ontoggle: () => {
        memo.open = this.element.open;
        if (this.element.open && memo.auto) this.run();
      }},
    h('summary', {}, h('span', {class: 'sal-name'}, NAMES[method.id] ?? method.id),
      h('span', {class: 'sal-summary muted'}, method.summary), this.status),
    form, this.results);
  }

  get open() { return this.element.open; }
  get auto() { return this.memo.auto; }

  /** The config the form holds (null and the errors shown when a field does not parse). */
  config() {
    if (!this.form) return {};
    const {values, errors} = this.form.values();
    replace(this.errors, errors.length ? errors.join('; ') : null);
    return errors.length ? null : values;
  }

  /**
   * Points the panel at the examples to show (primary, pinned); draws what is cached, runs when `run` says so.
   * @param {{id: string, role: string}[]} slots
   * @param {boolean} run
   */
  show(slots, run) {
    const config = this.config() ?? {};
    this.slots = slots.map(s => ({...s, key: this.owner.cacheKey(this.method.id, s.id, config)}));
    if (run && this.open && this.auto) this.run();
    else this.render();
  }

  /**
   * Explains the shown examples that are not cached, in one call per method (through `api.latest`, so an older
   * call of this method and model is aborted and its answer dropped).
   * @param {boolean} [asked] the user pressed Run (a failed call is tried again)
   */
  async run(asked = false) {
    const config = this.config();
    if (config === null) return;
    const owner = this.owner;
    this.slots = this.slots.map(s => ({...s, key: owner.cacheKey(this.method.id, s.id, config)}));
    if (asked) for (const s of this.slots) this.failed.delete(s.key);
    const missing = this.slots.filter(s => !owner.cache.has(s.key) && !this.failed.has(s.key));
    const generation = ++this.generation;
    if (missing.length === 0) { this.render(); return; }
    for (const s of missing) this.pending.add(s.key);
    this.render();
    /** @type {AbortSignal | null} */
    let signal = null;
    const body = {model: owner.name, dataset: owner.data.dataset, ids: missing.map(s => s.id), method: this.method.id,
      ...(Object.keys(config).length ? {config} : {}), ...owner.requestOptions()};
    const r = await owner.api.latest(`salience:${owner.name}:${this.method.id}`, s => {
      signal = s;
      return owner.api.post('/api/explain', body, s);
    });
    for (const s of missing) this.pending.delete(s.key);
    if (r) r.explanations.forEach((/** @type {Explanation} */ e, /** @type {number} */ i) => owner.remember(missing[i].key, e));
    else if (!(/** @type {AbortSignal | null} */ (signal))?.aborted) for (const s of missing) this.failed.add(s.key);
    if (generation === this.generation) this.render();
  }

  /** Draws each shown example: chips, or a spinner while its call runs, or what to do to fill it. */
  render() {
    const owner = this.owner;
    const shown = this.slots.map(s => ({slot: s, e: owner.cache.get(s.key)}));
    const running = this.slots.some(s => this.pending.has(s.key));
    const seconds = shown.reduce((sum, x) => sum + (x.e?.seconds ?? 0), 0);
    replace(this.status, running ? h('span', {class: 'spin', 'aria-label': 'running'}) : null,
      !running && shown.some(x => x.e) ? h('span', {'data-stat': 'seconds'}, duration(seconds)) : null);
    if (this.slots.length === 0) { replace(this.results); return; }
    replace(this.results, ...shown.map(({slot, e}) => {
      const head = h('div', {class: 'sal-head'}, h('span', {class: `pred-role ${slot.role}`}, slot.role),
        h('span', {class: 'muted'}, `#${slot.id}`));
      const box = h('div', {class: 'sal-example', 'data-slot': slot.role, 'data-example-id': slot.id}, head);
      if (e) this.drawExplanation(box, head, e);
      else if (this.pending.has(slot.key)) box.append(spinner(`Explaining #${slot.id} with ${NAMES[this.method.id] ?? this.method.id}…`));
      else if (this.failed.has(slot.key)) box.append(emptyState('The call failed (the status bar says why): press Run to try again'));
      else box.append(emptyState(`Press Run (or Enter in the form) to explain #${slot.id} with ${NAMES[this.method.id] ?? this.method.id}`));
      return box;
    }));
  }

  /**
   * @param {HTMLElement} box
   * @param {HTMLElement} head
   * @param {Explanation} e
   */
  drawExplanation(box, head, e) {
    const owner = this.owner;
    const pick = owner.generatedPick();
    if (e.targets) box.append(this.generatedPicker(e, pick));
    const shown = shownScores(e, pick);
    if (!shown) { box.append(emptyState('This explanation has no token scores')); return; }
    const {tokens, scores, target} = shown;
    const maxAbs = Math.max(0, ...scores.map(Math.abs));
    const signed = SIGNED.has(this.method.id) || scores.some(s => s < 0);
    // Stats: what was explained (target), how (steps, IG's convergence delta) and how long it took.
    // (types.js's SequenceTarget lacks IG's per-target delta and steps, which the server sends.)
    const t = /** @type {{delta?: number, steps?: number} | null} */ (target);
    const delta = t ? t.delta : e.delta;
    const steps = t ? t.steps : e.steps;
    const targetText = target ? `next token “${visibleToken(target.token)}”` : e.target;
    const p = target ? target.input_score : (e.target && e.prediction ? e.prediction[e.target] : undefined);
    // A contrastive explanation scores score(target) − score(contrast): say which token it is weighed against.
    const contrast = target?.contrast;
    const stats = [
      targetText ? h('span', {class: 'sal-target', 'data-stat': 'target', 'data-value': target ? target.token : e.target},
        'target ', h('b', {}, targetText), p !== undefined ? h('span', {class: 'muted'}, ` (${(100 * p).toFixed(1)}%)`) : null) : null,
      contrast !== undefined ? h('span', {'data-stat': 'contrast', 'data-value': contrast,
        title: 'The scores explain score(target) − score(this token)'}, 'rather than ', h('b', {}, `“${visibleToken(contrast)}”`)) : null,
      this.method.id === 'ig' && steps !== undefined ? h('span', {'data-stat': 'steps', 'data-value': steps}, `steps ${steps}`) : null,
      delta !== undefined ? h('span', {'data-stat': 'delta', 'data-value': delta,
        title: 'IG convergence delta: sum of the scores minus (F(x) − F(baseline)); near 0 is good'},
      `delta ${num(delta)}`, e.converged === false ? h('span', {class: 'badge bad'}, 'not converged') : null) : null,
      h('span', {class: 'spacer'}),
      this.legend(signed, maxAbs)];
    for (const x of stats) if (x) head.append(x);
    const chips = h('div', {class: 'chips sal-chips', tabindex: 0, role: 'group', 'data-signed': String(signed),
      'data-max-abs': maxAbs, 'aria-label': `Tokens of #${e.id} coloured by ${NAMES[this.method.id] ?? this.method.id}; arrow keys move between them`},
    ...tokens.map((t, i) => h('span', {class: `chip${SPECIAL.test(t) ? ' special' : ''}${e.prompt_tokens !== undefined && i >= e.prompt_tokens ? ' generated' : ''}`,
      'data-token-index': i, 'data-score': scores[i], title: `${t}: ${num(scores[i])}`}, visibleToken(t))),
    target ? h('span', {class: 'chip target-token', title: 'the generated token explained'}, visibleToken(target.token)) : null);
    box.append(chips);
    this.color(chips);
  }

  /**
   * Colours the chips of one example with the module's gamma (also called when the gamma slider moves).
   * @param {HTMLElement} chips
   */
  color(chips) {
    const gamma = this.owner.gamma();
    const signed = chips.dataset.signed === 'true';
    const maxAbs = Number(chips.dataset.maxAbs) || 0;
    for (const c of /** @type {NodeListOf<HTMLElement>} */ (chips.querySelectorAll('.chip[data-token-index]'))) {
      const d = maxAbs > 0 ? Number(c.dataset.score) / maxAbs : 0;
      c.style.background = salienceColor(d, signed, gamma);
      c.style.color = textOn(d, gamma);
    }
  }

  /** Recolours every chip and legend of the panel (gamma changed). */
  recolor() {
    for (const chips of /** @type {NodeListOf<HTMLElement>} */ (this.results.querySelectorAll('.sal-chips'))) this.color(chips);
    for (const bar of /** @type {NodeListOf<HTMLElement>} */ (this.results.querySelectorAll('.legend .bar'))) {
      bar.style.background = this.gradient(bar.dataset.signed === 'true');
    }
  }

  /** @param {boolean} signed */
  gradient(signed) {
    const gamma = this.owner.gamma();
    const stops = [];
    for (let i = 0; i <= 10; i++) {
      const d = signed ? -1 + i / 5 : i / 10;
      stops.push(`${salienceColor(d, signed, gamma)} ${i * 10}%`);
    }
    return `linear-gradient(to right, ${stops.join(', ')})`;
  }

  /**
   * The colour scale with its ends (signed: ±the example's max |score|; unsigned: 0 … max).
   * @param {boolean} signed
   * @param {number} maxAbs
   */
  legend(signed, maxAbs) {
    const lo = signed ? -maxAbs : 0;
    return h('span', {class: 'legend', 'data-min': lo, 'data-max': maxAbs,
      title: signed ? 'diverging scale: magenta lowers the target, cyan raises it' : 'sequential scale'},
    h('span', {class: 'legend-min'}, num(lo)),
    h('span', {class: 'bar', 'data-signed': String(signed), style: {background: this.gradient(signed)}}),
    h('span', {class: 'legend-max'}, num(maxAbs)));
  }

  /**
   * GPT-2: the generated tokens as a radio group; the chosen one's salience over the prompt is drawn below.
   * @param {Explanation} e
   * @param {number} pick
   */
  generatedPicker(e, pick) {
    const targets = e.targets ?? [];
    const chosen = Math.min(pick, targets.length - 1);
    const group = h('div', {class: 'chips sal-generated', role: 'radiogroup', 'aria-label': 'Pick a generated token'},
      h('span', {class: 'muted sal-pick-label'}, 'pick a generated token:'),
      ...targets.map((t, i) => h('span', {class: `chip gen-chip${i === chosen ? ' chosen' : ''}`, role: 'radio',
        'aria-checked': String(i === chosen), tabindex: i === chosen ? 0 : -1, 'data-target-index': i,
        title: `generated at position ${t.position}`}, visibleToken(t.token))));
    /** @param {number} i */
    const choose = i => {
      if (i < 0 || i >= targets.length) return;
      this.owner.state.setParam('salience.target', i === 0 ? undefined : String(i), this.owner);
    };
    group.addEventListener('click', ev => {
      const chip = /** @type {HTMLElement | null} */ ((/** @type {HTMLElement} */ (ev.target)).closest('[data-target-index]'));
      if (chip) choose(Number(chip.dataset.targetIndex));
    });
    group.addEventListener('keydown', ev => {
      const step = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? 1 : ev.key === 'ArrowLeft' || ev.key === 'ArrowUp' ? -1 : 0;
      const chip = /** @type {HTMLElement | null} */ ((/** @type {HTMLElement} */ (ev.target)).closest('[data-target-index]'));
      if (step && chip) { choose(Number(chip.dataset.targetIndex) + step); ev.preventDefault(); }
      else if ((ev.key === 'Enter' || ev.key === ' ') && chip) { choose(Number(chip.dataset.targetIndex)); ev.preventDefault(); }
    });
    return group;
  }
}
