// Small DOM helpers: build elements, empty states, number formats (no framework).

/**
 * An element with attributes (`class`, `data-*`, `on*` listeners, properties) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k in el && !k.startsWith('data-') && !k.startsWith('aria-')) /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/**
 * An SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return /** @type {SVGElement} */ (el);
}

/**
 * Replaces the children of `el`.
 * @param {Element} el
 * @param {...(Node | string | null | undefined | false)} children
 */
export function replace(el, ...children) {
  el.replaceChildren(...children.filter(c => c !== null && c !== undefined && c !== false).map(c => /** @type {Node|string} */ (c)));
}

/**
 * What an empty module shows: what to do to fill it (LIT issue #305: empty modules need a call to action).
 * @param {string} message
 */
export function emptyState(message) {
  return h('div', {class: 'empty', role: 'note'}, message);
}

/** A spinner shown while a module waits for the server. */
export function spinner(label = 'Loading…') {
  return h('div', {class: 'loading', role: 'status'}, h('span', {class: 'spin', 'aria-hidden': 'true'}), label);
}

/** @param {number} x @param {number} [digits] */
export function fmt(x, digits = 3) {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(digits);
}

/** @param {number} x */
export function pct(x) { return `${(100 * x).toFixed(1)}%`; }

/**
 * Saves text as a download (CSV/JSON exports).
 * @param {string} name
 * @param {string} text
 * @param {string} type
 */
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h('a', {href: url, download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
