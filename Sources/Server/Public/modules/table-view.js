// The data table's virtual scroller: every row is ROW px high, so only the rows in view (+ a few) are in the DOM,
// and a scroll moves and refills the same few row elements instead of creating new ones (67k rows stay smooth).
import {h, replace} from '../dom.js';
/** @typedef {import('./table-rows.js').Key} Key */

/** Row height in px (also in style.css: .dt-row); a row's position is its index × ROW. */
export const ROW = 24;
/** Rows drawn above and below the viewport, so a fast scroll does not show blank space before the next frame. */
const OVERSCAN = 8;

/**
 * A column: its cell's text for an example's index, `decorate` for attributes beyond the text, and `sortKey`
 * (absent: not sortable).
 * @typedef {{key: string, title: string, help: string, cls: string, width: string, model?: string,
 *   sortKey?: (i: number) => Key, text: (i: number) => string, decorate?: (cell: HTMLElement, i: number) => void}} Column
 */

/**
 * What the grid asks of its owner: the row id of an example index, the marks of a drawn row (selection…), and
 * what a header click, a row click and a key do.
 * @typedef {{idOf: (i: number) => string, mark: (el: HTMLElement) => void, onSort: (key: string) => void,
 *   onClick: (e: MouseEvent) => void, onKey: (e: KeyboardEvent) => void}} Owner
 */

export class VirtualRows {
  /** @param {Owner} owner */
  constructor(owner) {
    this.owner = owner;
    /** @type {Column[]} */
    this.columns = [];
    /** @type {Int32Array} the shown rows (example indices) in display order */
    this.rows = new Int32Array(0);
    /** @type {Int32Array} example index → display position (-1: not shown) */
    this.posOf = new Int32Array(0);
    /** @type {Map<number, {el: HTMLElement, pos: number}>} drawn rows by example index */
    this.rendered = new Map();
    this.head = h('div', {class: 'dt-head', role: 'row', 'aria-rowindex': '1'});
    this.spacer = h('div', {class: 'dt-rows', role: 'rowgroup', onclick: owner.onClick,
      // Shift-click extends the selection; without this it would also select the page's text.
      onmousedown: (/** @type {MouseEvent} */ e) => { if (e.shiftKey) { e.preventDefault(); this.grid.focus(); } }});
    this.overlay = h('div', {class: 'dt-overlay', hidden: true});
    this.grid = h('div', {class: 'dt-grid', role: 'grid', tabIndex: 0, 'aria-label': 'Examples', 'aria-multiselectable': 'true',
      onscroll: () => this.renderWindow(), onkeydown: owner.onKey}, this.head, this.spacer, this.overlay);
    // Rows appear when the pane gets its size (first layout) and whenever it is resized.
    this.resize = new ResizeObserver(() => this.renderWindow());
    this.resize.observe(this.grid);
  }

  dispose() { this.resize.disconnect(); }

  /** New columns: the header is drawn again, and rows of another shape are dropped when `reshape`. */
  /** @param {Column[]} columns @param {boolean} reshape */
  setColumns(columns, reshape) {
    this.columns = columns;
    this.grid.style.setProperty('--dt-cols', columns.map(c => c.width).join(' '));
    this.grid.setAttribute('aria-colcount', String(columns.length));
    replace(this.head, ...columns.map((c, k) => h('div', {class: `dt-cell ${c.cls}${c.sortKey ? ' sortable' : ''}`, role: 'columnheader',
      title: c.help + (c.sortKey ? ' — click or Enter to sort' : ''), 'aria-colindex': String(k + 1), tabIndex: c.sortKey ? 0 : undefined,
      'data-sort-key': c.sortKey ? c.key : undefined, onclick: c.sortKey ? () => this.owner.onSort(c.key) : undefined},
    c.title, c.sortKey ? h('span', {class: 'dt-arrow', 'aria-hidden': 'true'}) : null)));
    if (reshape) { for (const {el} of this.rendered.values()) el.remove(); this.rendered.clear(); }
  }

  /** The sort marks, changed in place so that a focused header keeps the focus. */
  /** @param {{key: string, dir: 1 | -1} | null} sort */
  renderSort(sort) {
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (this.head.querySelectorAll('[data-sort-key]'))) {
      const dir = sort && sort.key === el.dataset.sortKey ? sort.dir : 0;
      el.setAttribute('aria-sort', dir === 1 ? 'ascending' : dir === -1 ? 'descending' : 'none');
      const arrow = el.querySelector('.dt-arrow');
      if (arrow) arrow.textContent = dir === 1 ? ' ▲' : dir === -1 ? ' ▼' : '';
    }
  }

  /** Shows `rows` (example indices, in order) of `size` examples. */
  /** @param {Int32Array} rows @param {number} size */
  setRows(rows, size) {
    this.rows = rows;
    this.posOf = new Int32Array(size).fill(-1);
    for (let p = 0; p < rows.length; p++) this.posOf[rows[p]] = p;
    this.grid.setAttribute('aria-rowcount', String(rows.length + 1)); // + the header row
    this.spacer.style.height = `${rows.length * ROW}px`;
    this.renderWindow();
  }

  /** The height in px that shows rows (below the sticky header). */
  get view() { return this.grid.clientHeight - this.head.offsetHeight; }

  /** Rows a PageDown moves. */
  get page() { return Math.max(1, Math.floor(this.view / ROW) - 1); }

  /** Draws the rows in view: rows still in view stay, rows that left are moved and refilled for the ones that came. */
  renderWindow() {
    const top = this.grid.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + Math.max(this.view, ROW)) / ROW) + OVERSCAN);
    /** @type {Map<number, {el: HTMLElement, pos: number}>} */
    const next = new Map();
    /** @type {HTMLElement[]} */
    const free = [];
    for (const [i, entry] of this.rendered) {
      const pos = i < this.posOf.length ? this.posOf[i] : -1;
      if (pos < first || pos >= last) { free.push(entry.el); continue; }
      if (entry.pos !== pos) { this.place(entry.el, pos); entry.pos = pos; }
      next.set(i, entry);
    }
    const fresh = document.createDocumentFragment();
    for (let pos = first; pos < last; pos++) {
      const i = this.rows[pos];
      if (next.has(i)) continue;
      let el = free.pop();
      if (!el) { el = this.createRow(); fresh.append(el); }
      this.fill(el, i);
      this.place(el, pos);
      this.owner.mark(el);
      next.set(i, {el, pos});
    }
    for (const el of free) el.remove();
    if (fresh.childElementCount) this.spacer.append(fresh);
    this.rendered = next;
  }

  /** Fills the drawn rows again (predictions or colours changed), without creating elements. */
  refill() { for (const [i, {el}] of this.rendered) { this.fill(el, i); this.owner.mark(el); } }

  /** Marks the drawn rows again (the selection changed). */
  markAll() { for (const {el} of this.rendered.values()) this.owner.mark(el); }

  /** @param {HTMLElement} el @param {number} pos */
  place(el, pos) {
    el.style.transform = `translateY(${pos * ROW}px)`;
    el.setAttribute('aria-rowindex', String(pos + 2));
  }

  createRow() {
    const el = document.createElement('div');
    el.className = 'dt-row';
    el.setAttribute('role', 'row');
    for (const c of this.columns) {
      const cell = document.createElement('div');
      cell.className = `dt-cell ${c.cls}`;
      cell.setAttribute('role', 'gridcell');
      if (c.model) cell.dataset.model = c.model;
      el.append(cell);
    }
    return el;
  }

  /** Puts example `i` in a row element (a cell's text is only written when it changed). */
  /** @param {HTMLElement} el @param {number} i */
  fill(el, i) {
    el.id = `dt-row-${i}`;
    el.dataset.rowId = this.owner.idOf(i);
    const cells = el.children;
    for (let k = 0; k < this.columns.length; k++) {
      const c = this.columns[k], cell = /** @type {HTMLElement} */ (cells[k]);
      const text = c.text(i);
      if (cell.textContent !== text) cell.textContent = text;
      c.decorate?.(cell, i);
    }
  }

  /** Scrolls row `pos` into view when it is not: centred, or just to the nearest edge. */
  /** @param {number} pos @param {boolean} center */
  scrollTo(pos, center) {
    const view = this.view, y = pos * ROW, top = this.grid.scrollTop;
    if (y >= top && y + ROW <= top + view) return;
    this.grid.scrollTop = center ? y - (view - ROW) / 2 : y < top ? y : y + ROW - view;
    this.renderWindow();
  }
}
