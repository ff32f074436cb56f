// The dataset and each model's predictions, fetched once and shared by every module (LIT's data service).
/** @typedef {import('./types.js').Example} Example */
/** @typedef {import('./types.js').Prediction} Prediction */
/** @typedef {import('./types.js').ModelInfo} ModelInfo */
/** @typedef {import('./types.js').Info} Info */
/** @typedef {import('./api.js').Api} Api */

/** Examples per page and ids per prediction call: the server's limits (examples page ≤ 1000, predict ≤ 1024). */
const PAGE = 1000;
const CHUNK = 1024;

/** @typedef {'examples' | 'predictions'} DataEvent */

export class DataStore {
  /** @param {Api} api @param {Info} info */
  constructor(api, info) {
    this.api = api;
    this.info = info;
    this.dataset = '';
    /** @type {Example[]} */
    this.examples = [];
    /** @type {Map<string, Example>} */
    this.byId = new Map();
    /** @type {Map<string, Map<string, Prediction>>} model → id → prediction */
    this.predictions = new Map();
    /** @type {Map<string, Promise<void>>} */
    this.pending = new Map();
    /** @type {Set<(event: DataEvent, detail: {model?: string, ids?: string[]}) => void>} */
    this.listeners = new Set();
    /** Bumped on every dataset load, so a slow load of an older dataset is dropped. */
    this.generation = 0;
  }

  /** @param {(event: DataEvent, detail: {model?: string, ids?: string[]}) => void} fn */
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  /** @param {DataEvent} event @param {{model?: string, ids?: string[]}} detail */
  emit(event, detail) { for (const fn of this.listeners) fn(event, detail); }

  /** @param {string} name */
  model(name) { return this.info.models.find(m => m.name === name) ?? null; }

  /**
   * Loads every example of `name`, page by page (each page is shown as it arrives).
   * @param {string} name
   */
  async load(name) {
    const generation = ++this.generation;
    this.dataset = name;
    this.examples = [];
    this.byId = new Map();
    this.predictions = new Map();
    this.pending = new Map();
    this.emit('examples', {});
    for (let offset = 0; ; offset += PAGE) {
      const page = await this.api.get(`/api/datasets/${encodeURIComponent(name)}/examples?offset=${offset}&limit=${PAGE}`);
      if (generation !== this.generation) return;
      for (const e of page.examples) this.byId.set(e.id, e);
      this.examples.push(...page.examples);
      this.emit('examples', {ids: page.examples.map((/** @type {Example} */ e) => e.id)});
      if (offset + PAGE >= page.total || page.examples.length === 0) break;
    }
  }

  /**
   * Predicts every example with `model` (once; later calls wait for the same work), chunk by chunk so the table
   * fills in as answers come.
   * @param {string} model
   */
  predictAll(model) {
    const m = this.model(model);
    if (!m || !m.operations.includes('predict')) return Promise.resolve();
    const existing = this.pending.get(model);
    if (existing) return existing;
    const work = (async () => {
      const generation = this.generation;
      const ids = this.examples.map(e => e.id).filter(id => !this.prediction(model, id));
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        this.api.status.busy(`predict-all-${model}`, `predicting with ${model}: ${i}/${ids.length}`);
        try {
          const r = await this.api.post('/api/predict', {model, dataset: this.dataset, ids: chunk});
          if (generation !== this.generation) return;
          this.store(model, r.predictions);
        } finally {
          this.api.status.done(`predict-all-${model}`);
        }
      }
    })();
    work.catch(e => { this.pending.delete(model); this.api.report(e); });
    this.pending.set(model, work);
    return work;
  }

  /** @param {string} model @param {Prediction[]} list */
  store(model, list) {
    let map = this.predictions.get(model);
    if (!map) { map = new Map(); this.predictions.set(model, map); }
    for (const p of list) map.set(p.id, p);
    this.emit('predictions', {model, ids: list.map(p => p.id)});
  }

  /** @param {string} model @param {string} id */
  prediction(model, id) { return this.predictions.get(model)?.get(id); }

  /**
   * Predictions for examples of the dataset, fetched if missing.
   * @param {string} model @param {string[]} ids @param {AbortSignal} [signal]
   * @returns {Promise<Prediction[]>}
   */
  async predictIds(model, ids, signal) {
    const missing = ids.filter(id => !this.prediction(model, id));
    for (let i = 0; i < missing.length; i += CHUNK) {
      const r = await this.api.post('/api/predict', {model, dataset: this.dataset, ids: missing.slice(i, i + CHUNK)}, signal);
      this.store(model, r.predictions);
    }
    return /** @type {Prediction[]} */ (ids.map(id => this.prediction(model, id)).filter(p => p !== undefined));
  }

  /**
   * Adds examples to the dataset on the server (kept across restarts), then predicts them with `models`.
   * @param {Example[]} examples
   * @param {string[]} models
   * @returns {Promise<Example[]>} the examples as stored (with their ids)
   */
  async add(examples, models) {
    const r = await this.api.post('/api/examples', {dataset: this.dataset, examples});
    /** @type {Example[]} */
    const added = r.examples;
    for (const e of added) if (!this.byId.has(e.id)) { this.examples.push(e); this.byId.set(e.id, e); }
    this.emit('examples', {ids: added.map(e => e.id)});
    await Promise.all(models.map(m => this.predictIds(m, added.map(e => e.id))));
    return added;
  }

  /**
   * The gold label of `example` as `model`'s class index: a class name, or an index as GLUE files write it.
   * @param {ModelInfo | null} model @param {Example | undefined} example
   * @returns {number | null}
   */
  goldIndex(model, example) {
    if (!model || !example || example.label === undefined || example.label === null || example.label === '') return null;
    const named = model.labels.indexOf(example.label);
    if (named >= 0) return named;
    const i = Number(example.label);
    return Number.isInteger(i) && i >= 0 && i < model.labels.length ? i : null;
  }

  /**
   * The gold label's class name under `model` (or the raw label).
   * @param {string} model
   * @param {string} id
   */
  goldName(model, id) {
    const e = this.byId.get(id);
    const i = this.goldIndex(this.model(model), e);
    return i === null ? (e?.label ?? null) : this.model(model)?.labels[i] ?? null;
  }

  /**
   * Whether `model` predicts `id`'s gold label (null: no label or no prediction yet).
   * @param {string} model
   * @param {string} id
   */
  correct(model, id) {
    const p = this.prediction(model, id);
    const gold = this.goldName(model, id);
    if (!p || !p.label || gold === null) return null;
    return p.label === gold;
  }

  /**
   * The predicted class's probability.
   * @param {string} model
   * @param {string} id
   */
  confidence(model, id) {
    const p = this.prediction(model, id);
    return p && p.label && p.probabilities ? p.probabilities[p.label] : null;
  }
}
