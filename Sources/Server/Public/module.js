// The module contract: a title, which models it applies to (LIT's shouldDisplayModule), and an update per change.
/** @typedef {import('./state.js').AppState} AppState */
/** @typedef {import('./state.js').StateKey} StateKey */
/** @typedef {import('./api.js').Api} Api */
/** @typedef {import('./data.js').DataStore} DataStore */
/** @typedef {import('./types.js').Info} Info */
/** @typedef {import('./types.js').ModelInfo} ModelInfo */

/**
 * What every module gets: the shared state, the API client, the shared data, and the server's description.
 * @typedef {{state: AppState, api: Api, data: DataStore, info: Info}} Context
 * @typedef {StateKey | 'examples' | 'predictions' | 'shown'} Change
 */

export class LoupeModule {
  /** Stable name: the section's `data-module` and the key of its settings. */
  static id = 'module';
  static title = 'Module';
  /** One line on what the module shows, in its header's tooltip. */
  static help = '';
  /** One copy per active model, side by side, when two models are compared. */
  static perModel = false;

  /**
   * Why this module cannot show for `model` (null: it can). Shown in place of the module, so nothing is hidden
   * without a reason (LIT issue #7).
   * @param {Context} ctx
   * @param {ModelInfo | null} model
   * @returns {string | null}
   */
  static unsupported(ctx, model) { void ctx; void model; return null; }

  /**
   * @param {Context} ctx
   * @param {HTMLElement} body where the module draws
   * @param {ModelInfo | null} model the model of this copy (perModel), else the first active model
   */
  constructor(ctx, body, model) {
    this.ctx = ctx;
    this.body = body;
    this.model = model;
  }

  /**
   * Called once after construction and whenever something it may show changed.
   * @param {Set<Change>} changed
   */
  update(changed) { void changed; }

  /** Called when the module leaves the page (tab closed, models changed): cancel timers and listeners. */
  dispose() {}

  get state() { return this.ctx.state; }
  get api() { return this.ctx.api; }
  get data() { return this.ctx.data; }
}
