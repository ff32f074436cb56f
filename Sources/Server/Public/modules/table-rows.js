// The data table's row logic without DOM: an index of the examples (lower-cased texts, numeric ids), search,
// cached sort orders and filtering over 67k rows in a few milliseconds, and CSV/JSON text for exports.
/** @typedef {import('../types.js').Example} Example */
/** @typedef {import('../data.js').DataStore} DataStore */

/** A sort key: numbers before strings, null (no value yet) always last. */
/** @typedef {number | string | null} Key */

/**
 * @param {Key} a
 * @param {Key} b
 */
function compareKeys(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return /** @type {string} */ (a) < /** @type {string} */ (b) ? -1 : a === b ? 0 : 1;
}

export class RowIndex {
  constructor() {
    /** @type {Example[]} the store's array (a new array means a new dataset) */
    this.source = [];
    /** @type {string[]} each text lower-cased once, so a search is a plain `includes` */
    this.lower = [];
    /** @type {Map<string, number>} id → index in `source` */
    this.indexOf = new Map();
    /** Bumped when examples are appended or replaced: sort orders computed before are stale. */
    this.version = 0;
    /** @type {Map<string, Int32Array>} sort orders by `key|dir|version` */
    this.orders = new Map();
  }

  get size() { return this.lower.length; }

  /**
   * Indexes the examples appended since the last call (the store only appends, or starts over with a new array).
   * @param {Example[]} examples
   * @returns {boolean} whether anything changed
   */
  sync(examples) {
    if (examples !== this.source || examples.length < this.lower.length) {
      this.source = examples;
      this.lower = [];
      this.indexOf = new Map();
    } else if (examples.length === this.lower.length) return false;
    for (let i = this.lower.length; i < examples.length; i++) {
      this.lower.push(examples[i].text.toLowerCase());
      this.indexOf.set(examples[i].id, i);
    }
    this.version++;
    this.orders.clear();
    return true;
  }

  /**
   * Every index sorted by `keyOf` (ties in dataset order; rows without a key last in both directions), cached
   * until `version` or `extraVersion` changes (pass the predictions' version for prediction columns).
   * @param {string} key
   * @param {1 | -1} dir
   * @param {(i: number) => Key} keyOf
   * @param {number} extraVersion
   */
  order(key, dir, keyOf, extraVersion) {
    const cacheKey = `${key}|${dir}|${this.version}|${extraVersion}`;
    const cached = this.orders.get(cacheKey);
    if (cached) return cached;
    const n = this.size;
    /** @type {Key[]} */
    const keys = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = keyOf(i);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => {
      const ka = keys[a], kb = keys[b];
      if (ka === null || kb === null) return ka === kb ? a - b : ka === null ? 1 : -1;
      return dir * compareKeys(ka, kb) || a - b;
    });
    // Only a few orders are alive at once (one per column clicked since the last change).
    if (this.orders.size > 8) this.orders.clear();
    this.orders.set(cacheKey, order);
    return order;
  }

  /** The dataset order. */
  identity() { return this.order('', 1, () => 0, 0); }

  /**
   * The indices of `order` that pass `keep`, in that order.
   * @param {Int32Array} order
   * @param {((i: number) => boolean) | null} keep
   */
  filter(order, keep) {
    if (!keep) return order;
    const out = new Int32Array(order.length);
    let n = 0;
    for (let k = 0; k < order.length; k++) if (keep(order[k])) out[n++] = order[k];
    return out.slice(0, n);
  }
}

/**
 * A search box's text as a test on one row: a substring (case-insensitive), or `/re/flags` for a regular
 * expression (always case-insensitive). An invalid expression gives an error and keeps every row.
 * @param {string} query
 * @param {RowIndex} index
 * @returns {{test: ((i: number) => boolean) | null, error: string | null}}
 */
export function searchTest(query, index) {
  const q = query.trim();
  if (!q) return {test: null, error: null};
  const m = /^\/(.+)\/([a-z]*)$/.exec(q);
  if (m) {
    /** @type {RegExp} */
    let re;
    try {
      re = new RegExp(m[1], m[2].includes('i') ? m[2].replace('g', '') : m[2].replace('g', '') + 'i');
    } catch (e) {
      return {test: null, error: e instanceof Error ? e.message : String(e)};
    }
    return {test: i => re.test(index.source[i].text) || re.test(index.source[i].id), error: null};
  }
  const lower = q.toLowerCase();
  return {test: i => index.lower[i].includes(lower) || index.source[i].id.toLowerCase() === lower, error: null};
}

/** The label filter's value for examples without a gold label. */
export const NO_LABEL = '-';

/**
 * The table's filters as one test per row (null: keep every row): search, gold label, correctness of `model`
 * ('correct', 'wrong', 'none' = not predicted yet, 'disagree' = `model` and `other` predict different classes),
 * and only the selected rows. `error` says why a /regex/ was not used.
 * @param {RowIndex} index
 * @param {DataStore} data
 * @param {{query: string, label: string, ok: string, only: boolean, selected: Set<string>, model: string | null,
 *   other: string | null}} f
 * @returns {{keep: ((i: number) => boolean) | null, error: string | null}}
 */
export function rowFilter(index, data, f) {
  const src = index.source, d = data;
  const search = searchTest(f.query, index);
  /** @type {((i: number) => boolean)[]} */
  const tests = [];
  if (search.test) tests.push(search.test);
  const label = f.label;
  if (label) tests.push(label === NO_LABEL ? i => !src[i].label : i => src[i].label === label);
  const m = f.model, other = f.other;
  if (m !== null) {
    if (f.ok === 'correct') tests.push(i => d.correct(m, src[i].id) === true);
    else if (f.ok === 'wrong') tests.push(i => d.correct(m, src[i].id) === false);
    else if (f.ok === 'none') tests.push(i => !d.prediction(m, src[i].id));
    else if (f.ok === 'disagree' && other !== null) tests.push(i => {
      const a = d.prediction(m, src[i].id)?.label, b = d.prediction(other, src[i].id)?.label;
      return a !== undefined && b !== undefined && a !== b;
    });
  }
  if (f.only) { const sel = f.selected; tests.push(i => sel.has(src[i].id)); }
  const keep = tests.length === 0 ? null : tests.length === 1 ? tests[0] : (/** @type {number} */ i) => tests.every(t => t(i));
  return {keep, error: search.error};
}

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, line break or edge spaces; quotes doubled.
 * @param {unknown} v
 */
export function csvField(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A CSV document (CRLF line ends, as RFC 4180 and spreadsheets expect).
 * @param {string[]} header
 * @param {unknown[][]} rows
 */
export function toCSV(header, rows) {
  return [header, ...rows].map(r => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

// ---- cell values (shared by the rows, the sort keys and the exports) ----

/**
 * The predicted class, or a language model's most likely next (or masked) token, quoted.
 * @param {DataStore} data
 * @param {string} model
 * @param {string} id
 * @returns {string | null}
 */
export function predText(data, model, id) {
  const p = data.prediction(model, id);
  if (!p) return null;
  if (p.label) return p.label;
  const t = p.next_tokens?.[0] ?? p.masks?.[0]?.candidates[0];
  return t ? JSON.stringify(t.token) : null;
}

/**
 * The probability of what `predText` shows.
 * @param {DataStore} data
 * @param {string} model
 * @param {string} id
 * @returns {number | null}
 */
export function confidenceOf(data, model, id) {
  const c = data.confidence(model, id);
  if (c !== null) return c;
  const p = data.prediction(model, id);
  return p?.next_tokens?.[0]?.probability ?? p?.masks?.[0]?.candidates[0]?.probability ?? null;
}

/**
 * The examples `ids` with each model's prediction, as CSV (one column per model and class probability) or JSON.
 * @param {DataStore} data
 * @param {string[]} ids
 * @param {string[]} models
 * @param {'csv' | 'json'} kind
 */
export function exportText(data, ids, models, kind) {
  const examples = /** @type {Example[]} */ (ids.map(id => data.byId.get(id)).filter(e => e !== undefined));
  if (kind === 'json') {
    return JSON.stringify(examples.map(e => ({id: e.id, text: e.text, label: e.label ?? null, parent: e.parent ?? null,
      predictions: Object.fromEntries(models.map(m => {
        const p = data.prediction(m, e.id);
        return [m, p ? {prediction: predText(data, m, e.id), confidence: confidenceOf(data, m, e.id), correct: data.correct(m, e.id),
          probabilities: p.probabilities ?? null} : null];
      }))})), null, 2);
  }
  const header = ['id', 'text', 'label', 'parent'];
  for (const m of models) {
    header.push(`${m} prediction`, `${m} confidence`, `${m} correct`);
    for (const l of data.model(m)?.labels ?? []) header.push(`${m} p(${l})`);
  }
  return toCSV(header, examples.map(e => {
    /** @type {unknown[]} */
    const r = [e.id, e.text, e.label ?? '', e.parent ?? ''];
    for (const m of models) {
      const c = data.correct(m, e.id);
      r.push(predText(data, m, e.id) ?? '', confidenceOf(data, m, e.id) ?? '', c === null ? '' : String(c));
      for (const l of data.model(m)?.labels ?? []) r.push(data.prediction(m, e.id)?.probabilities?.[l] ?? '');
    }
    return r;
  }));
}
