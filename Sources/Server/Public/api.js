// The HTTP client: JSON in and out, server errors as ApiError, stale responses dropped, progress in the status bar.

/** A failed call, with the server's code, message and the field at fault. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {string | undefined} field */
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The bottom bar: what is running, and the last error with the server's own message. */
export class StatusBar {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    /** @type {Map<string, string>} */
    this.running = new Map();
    this.message = el.querySelector('.status-message') ?? el;
    this.activity = el.querySelector('.status-activity') ?? el;
  }

  /** @param {string} key @param {string} label */
  busy(key, label) { this.running.set(key, label); this.render(); }
  /** @param {string} key */
  done(key) { this.running.delete(key); this.render(); }

  /** @param {string} text */
  info(text) { this.show(text, 'info'); }
  /** @param {string} text */
  error(text) { this.show(text, 'error'); }

  /** @param {string} text @param {'info' | 'error'} kind */
  show(text, kind) {
    this.message.textContent = text;
    this.el.dataset.kind = kind;
    if (kind === 'error') console.warn(`loupe: ${text}`);
  }

  clear() { this.message.textContent = ''; delete this.el.dataset.kind; }

  render() {
    const labels = [...this.running.values()];
    this.activity.textContent = labels.length ? `⟳ ${labels[labels.length - 1]}${labels.length > 1 ? ` (+${labels.length - 1})` : ''}` : '';
    this.el.toggleAttribute('data-busy', labels.length > 0);
  }
}

export class Api {
  /** @param {StatusBar} status */
  constructor(status) {
    this.status = status;
    /** @type {Map<string, AbortController>} */
    this.inflight = new Map();
    this.serial = 0;
  }

  /**
   * @param {string} path
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  get(path, signal) { return this.call('GET', path, undefined, signal); }

  /**
   * @param {string} path
   * @param {unknown} body
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  post(path, body, signal) { return this.call('POST', path, body, signal); }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} body
   * @param {AbortSignal} [signal]
   */
  async call(method, path, body, signal) {
    const key = `${path}#${++this.serial}`;
    this.status.busy(key, path.replace(/^\/api\//, '').split('?')[0]);
    try {
      /** @type {RequestInit} */
      const init = {method, signal, headers: body === undefined ? {} : {'content-type': 'application/json'}};
      if (body !== undefined) init.body = JSON.stringify(body);
      const response = await fetch(path, init);
      const text = await response.text();
      /** @type {any} */
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = null; }
      if (!response.ok) {
        const e = json && json.error ? json.error : {code: 'http_' + response.status, message: text || response.statusText};
        throw new ApiError(response.status, e.code, e.message, e.field);
      }
      return json;
    } finally {
      this.status.done(key);
    }
  }

  /**
   * Runs `fn` as the latest call under `key`: an earlier call under the same key is aborted, and its result (or
   * error) is dropped, so a module never shows a stale answer (LIT's `loadLatest`). Errors go to the status bar.
   * @template T
   * @param {string} key
   * @param {(signal: AbortSignal) => Promise<T>} fn
   * @returns {Promise<T | null>} null when superseded or failed
   */
  async latest(key, fn) {
    this.inflight.get(key)?.abort();
    const controller = new AbortController();
    this.inflight.set(key, controller);
    try {
      const out = await fn(controller.signal);
      return controller.signal.aborted ? null : out;
    } catch (e) {
      if (controller.signal.aborted) return null;
      this.report(e);
      return null;
    } finally {
      if (this.inflight.get(key) === controller) this.inflight.delete(key);
    }
  }

  /**
   * Shows an error in the status bar: the server's message, with the field it names.
   * @param {unknown} e
   */
  report(e) {
    if (e instanceof ApiError) this.status.error(`${e.message}${e.field ? ` (field: ${e.field})` : ''} [${e.status}]`);
    else if (e instanceof Error && e.name === 'AbortError') return;
    else this.status.error(`cannot reach the server: ${e instanceof Error ? e.message : String(e)}`);
  }
}
