// The one shared state every module listens to (selection, primary, pinned, hover, colour-by, models), kept in
// the URL hash so a reload or a shared link restores it.

/** @typedef {'label' | 'prediction' | 'correct'} ColorBy */
/** A hovered token: of example `id`, index `token` in `model`'s tokens (tokenizers differ, so a module of another
 * model ignores it). */
/** @typedef {{id: string, token: number, model?: string} | null} Hover */

/**
 * The fields of the state. `params` holds module settings that belong in a shared link (e.g. `attn.layer`).
 * @typedef {{dataset: string, models: string[], selection: string[], primary: string | null, pinned: string | null,
 *   hover: Hover, colorBy: ColorBy, tab: string, params: Record<string, string>}} StateFields
 * @typedef {keyof StateFields} StateKey
 * @typedef {(changed: Set<StateKey>, source: unknown) => void} StateListener
 */

/** Selections longer than this are not written to the URL (it would grow without bound); the count is. */
export const MAX_URL_SELECTION = 1000;

export class AppState {
  constructor() {
    /** @type {StateFields} */
    this.fields = {
      dataset: '', models: [], selection: [], primary: null, pinned: null, hover: null, colorBy: 'label',
      tab: 'explain', params: {},
    };
    /** @type {Set<StateListener>} */
    this.listeners = new Set();
    /** Selection as a set, for membership tests in large tables. */
    this.selected = new Set();
  }

  get dataset() { return this.fields.dataset; }
  get models() { return this.fields.models; }
  get selection() { return this.fields.selection; }
  get primary() { return this.fields.primary; }
  get pinned() { return this.fields.pinned; }
  get hover() { return this.fields.hover; }
  get colorBy() { return this.fields.colorBy; }
  get tab() { return this.fields.tab; }

  /** @param {string} key */
  param(key) { return this.fields.params[key]; }

  /**
   * A module setting that goes in the URL.
   * @param {string} key
   * @param {string | undefined} value
   * @param {unknown} [source]
   */
  setParam(key, value, source) {
    const params = {...this.fields.params};
    if (value === undefined) delete params[key]; else params[key] = value;
    this.update({params}, source);
  }

  /** @param {StateListener} listener */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Changes fields and tells every listener which ones changed and who changed them (so a module can skip its
   * own echo, as LIT's `lastUser`).
   * @param {Partial<StateFields>} patch
   * @param {unknown} [source]
   */
  update(patch, source) {
    /** @type {Set<StateKey>} */
    const changed = new Set();
    for (const key of /** @type {StateKey[]} */ (Object.keys(patch))) {
      const value = patch[key];
      if (JSON.stringify(value) !== JSON.stringify(this.fields[key])) {
        /** @type {any} */ (this.fields)[key] = value;
        changed.add(key);
      }
    }
    if (changed.has('selection')) this.selected = new Set(this.fields.selection);
    if (changed.size === 0) return;
    if ([...changed].some(k => k !== 'hover')) this.writeURL();
    for (const listener of this.listeners) listener(changed, source);
  }

  /**
   * Selects `ids` with `primary` (default: the first, or the current primary if still selected).
   * @param {string[]} ids
   * @param {unknown} [source]
   * @param {string | null} [primary]
   */
  select(ids, source, primary) {
    const unique = [...new Set(ids)];
    let p = primary === undefined ? this.fields.primary : primary;
    if (p === null || !unique.includes(p)) p = unique[0] ?? null;
    this.update({selection: unique, primary: p}, source);
  }

  /** The state as a URL hash. */
  toHash() {
    const q = new URLSearchParams();
    const f = this.fields;
    if (f.dataset) q.set('dataset', f.dataset);
    if (f.models.length) q.set('models', f.models.join(','));
    if (f.selection.length && f.selection.length <= MAX_URL_SELECTION) q.set('selection', f.selection.join(','));
    if (f.primary !== null) q.set('primary', f.primary);
    if (f.pinned !== null) q.set('pinned', f.pinned);
    if (f.colorBy !== 'label') q.set('color', f.colorBy);
    if (f.tab !== 'explain') q.set('tab', f.tab);
    for (const [k, v] of Object.entries(f.params)) q.set(`p.${k}`, v);
    return '#' + q.toString();
  }

  /**
   * The fields a hash sets (unknown keys are ignored).
   * @param {string} hash
   * @returns {Partial<StateFields>}
   */
  static parseHash(hash) {
    const q = new URLSearchParams(hash.replace(/^#/, ''));
    /** @type {Partial<StateFields>} */
    const out = {};
    const list = (/** @type {string} */ k) => (q.get(k) ?? '').split(',').filter(s => s.length > 0);
    if (q.has('dataset')) out.dataset = q.get('dataset') ?? '';
    if (q.has('models')) out.models = list('models');
    out.selection = q.has('selection') ? list('selection') : [];
    out.primary = q.get('primary');
    out.pinned = q.get('pinned');
    const color = q.get('color');
    out.colorBy = color === 'prediction' || color === 'correct' ? color : 'label';
    out.tab = q.get('tab') ?? 'explain';
    /** @type {Record<string, string>} */
    const params = {};
    for (const [k, v] of q) if (k.startsWith('p.')) params[k.slice(2)] = v;
    out.params = params;
    if (out.primary && !out.selection.includes(out.primary)) out.selection = [out.primary, ...out.selection];
    return out;
  }

  writeURL() {
    const hash = this.toHash();
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }
}
