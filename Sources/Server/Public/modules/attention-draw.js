// Drawing for the attention module: heat-map thumbnails and labelled matrices (canvas), and bertviz's head view
// (two token columns joined by one line per head, query and key; SVG for short inputs, canvas with top-k above).
import {h, svg} from '../dom.js';
import {heat, category} from '../colors.js';

/** Up to this many tokens (and SVG_MAX_LINES lines) the head view is SVG, one element per line (bertviz). */
export const SVG_MAX_TOKENS = 64;
const SVG_MAX_LINES = 24000;
/** Above it, a canvas draws each query's TOP_K strongest keys per head (LIT lesson 8, bertviz #82). */
export const TOP_K = 8;
/** Width of the band the lines cross, in CSS pixels. */
const BAND = 150;

/** Token as shown: GPT-2's leading space dropped (the columns already separate tokens); a blank one visible. */
/** @param {string} t */
export function tokenText(t) { const s = t.replace(/^\s+/, ''); return s.length ? s : '␣'; }

/** The heat scale of colors.js as 256 RGB triples, for ImageData (parsed once). */
const LUT = Array.from({length: 256}, (_, i) => (heat(i / 255).match(/\d+/g) ?? ['0', '0', '0']).map(Number));

/**
 * A matrix's cell intensity: the square root of weight / the matrix's largest, so the faint structure of
 * spread-out heads stays visible next to the sharp ones.
 * @param {number[][]} m
 */
function scaler(m) {
  let max = 0;
  for (const row of m) for (const v of row) if (v > max) max = v;
  return (/** @type {number} */ v) => (max > 0 ? Math.sqrt(Math.max(0, v) / max) : 0);
}

/**
 * A thumbnail of one head: one pixel per (query, key), scaled up by CSS (image-rendering: pixelated).
 * @param {number[][]} m [query][key]
 */
export function thumbnail(m) {
  const n = m.length;
  const canvas = h('canvas', {width: Math.max(1, n), height: Math.max(1, n)});
  const ctx = canvas.getContext('2d');
  if (!ctx || n === 0) return canvas;
  const img = ctx.createImageData(n, n);
  const t = scaler(m);
  for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) {
    const c = LUT[Math.round(255 * t(m[q][k]))];
    const o = 4 * (q * n + k);
    img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/**
 * A matrix as a heat map with token labels (queries down, keys across); hover reads out one cell.
 * @param {string[]} tokens
 * @param {number[][]} m [query][key]
 * @param {(q: number | null, k: number | null) => void} onHover
 */
export function matrixView(tokens, m, onHover) {
  const n = tokens.length;
  const cell = Math.max(4, Math.min(16, Math.floor(420 / Math.max(1, n))));
  const labelled = cell >= 8;
  const font = `${Math.min(11, cell - 1)}px system-ui, sans-serif`;
  const measure = /** @type {CanvasRenderingContext2D} */ (h('canvas').getContext('2d'));
  measure.font = font;
  const labelW = labelled ? Math.min(90, Math.ceil(Math.max(0, ...tokens.map(t => measure.measureText(tokenText(t)).width))) + 6) : 0;
  const left = labelW, top = labelW, w = left + n * cell, ht = top + n * cell;
  const dpr = window.devicePixelRatio || 1;
  const canvas = h('canvas', {width: Math.ceil(w * dpr), height: Math.ceil(ht * dpr), class: 'attn-matrix',
    role: 'img', 'aria-label': `${n} by ${n} attention matrix: rows are queries, columns keys`});
  canvas.style.width = `${w}px`;
  canvas.style.height = `${ht}px`;
  const ctx = canvas.getContext('2d');
  const t = scaler(m);
  /** @param {number} hq @param {number} hk */
  const draw = (hq, hk) => {
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, ht);
    for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) {
      ctx.fillStyle = heat(t(m[q][k]));
      ctx.fillRect(left + k * cell, top + q * cell, cell, cell);
    }
    if (hq >= 0) { // the hovered row and column, outlined
      ctx.strokeStyle = 'rgba(59,91,219,.9)';
      ctx.lineWidth = 1;
      ctx.strokeRect(left + .5, top + hq * cell + .5, n * cell - 1, cell - 1);
      ctx.strokeRect(left + hk * cell + .5, top + .5, cell - 1, n * cell - 1);
    }
    if (!labelled) return;
    ctx.font = font;
    ctx.textBaseline = 'middle';
    for (let i = 0; i < n; i++) {
      const s = tokenText(tokens[i]);
      ctx.fillStyle = i === hq ? '#3b5bdb' : '#4b5563';
      ctx.textAlign = 'right';
      ctx.fillText(s, left - 4, top + (i + .5) * cell, labelW - 6);
      ctx.save();
      ctx.translate(left + (i + .5) * cell, top - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left';
      ctx.fillStyle = i === hk ? '#3b5bdb' : '#4b5563';
      ctx.fillText(s, 0, 0, labelW - 6);
      ctx.restore();
    }
  };
  draw(-1, -1);
  let last = '';
  canvas.addEventListener('mousemove', e => {
    const r = canvas.getBoundingClientRect();
    const k = Math.floor((e.clientX - r.left - left) / cell), q = Math.floor((e.clientY - r.top - top) / cell);
    const inside = q >= 0 && q < n && k >= 0 && k < n;
    const key = inside ? `${q},${k}` : '';
    if (key === last) return;
    last = key;
    draw(inside ? q : -1, inside ? k : -1);
    onHover(inside ? q : null, inside ? k : null);
  });
  canvas.addEventListener('mouseleave', () => { last = ''; draw(-1, -1); onHover(null, null); });
  return canvas;
}

/**
 * @typedef {{element: HTMLElement, lines: number, renderer: 'svg' | 'canvas',
 *   focus: (side: 'query' | 'key' | null, i: number) => void}} HeadView
 */

/**
 * bertviz's head view of one layer: queries on the left, keys on the right, a line per active head and
 * (query, key) coloured by head, opacity = weight / active heads. `focus` keeps one token's lines and shades the
 * other column by that token's mean weight over the active heads.
 * @param {string[]} tokens
 * @param {number[][][]} layer [head][query][key]
 * @param {boolean[]} active per head
 * @param {(side: 'query' | 'key' | null, i: number) => void} onHover from the token columns (mouse or focus)
 * @returns {HeadView}
 */
export function headView(tokens, layer, active, onHover) {
  const n = tokens.length;
  const heads = layer.map((_, i) => i).filter(i => active[i]);
  const useSvg = n <= SVG_MAX_TOKENS && heads.length * n * n <= SVG_MAX_LINES;
  const row = n <= SVG_MAX_TOKENS ? 16 : 13;
  const height = n * row;
  const y = (/** @type {number} */ i) => (i + .5) * row;
  const opacity = (/** @type {number} */ w) => w / Math.max(1, heads.length);

  /** @param {'query' | 'key'} side */
  const column = side => h('div', {class: `attn-col attn-col-${side}`, role: 'list', 'aria-label': side === 'query' ? 'Queries' : 'Keys'},
    ...tokens.map((t, i) => h('div', {class: 'attn-token', role: 'listitem', tabIndex: i === 0 ? 0 : -1,
      'data-side': side, 'data-token-index': i, title: `${side} ${i}: ${JSON.stringify(t)}`,
      style: {height: `${row}px`, lineHeight: `${row}px`}}, tokenText(t))));
  const qCol = column('query'), kCol = column('key');
  const el = h('div', {class: 'attn-head-view', 'data-view': 'lines', style: {fontSize: row < 16 ? '10px' : ''}}, qCol);
  const tokenEls = {query: /** @type {HTMLElement[]} */ ([...qCol.children]), key: /** @type {HTMLElement[]} */ ([...kCol.children])};
  let lines = 0;

  /** Lines of token (side, i), or of every token: [head, query, key] triples. */
  /** @param {'query' | 'key' | null} side @param {number} i @param {boolean} topK */
  function* pairs(side, i, topK) {
    for (const hd of heads) {
      const m = layer[hd];
      if (side === 'query') for (let k = 0; k < n; k++) yield [hd, i, k];
      else if (side === 'key') for (let q = 0; q < n; q++) yield [hd, q, i];
      else for (let q = 0; q < n; q++) {
        const keys = topK ? strongest(m[q], TOP_K) : m[q].map((_, k) => k);
        for (const k of keys) yield [hd, q, k];
      }
    }
  }

  /** @type {(side: 'query' | 'key' | null, i: number) => void} */
  let draw;
  if (useSvg) {
    const all = svg('g', {class: 'attn-all'});
    const focused = svg('g', {class: 'attn-focused'});
    /** @param {SVGElement} g @param {number} hd @param {number} q @param {number} k */
    const line = (g, hd, q, k) => g.append(svg('line', {x1: 0, y1: y(q), x2: BAND, y2: y(k), stroke: category(hd),
      'stroke-width': 2, 'stroke-opacity': +opacity(layer[hd][q][k]).toPrecision(4), 'data-head': hd, 'data-query': q, 'data-key': k}));
    for (const [hd, q, k] of pairs(null, 0, false)) line(all, hd, q, k);
    const area = svg('svg', {width: BAND, height, class: 'attn-lines', 'aria-hidden': 'true'});
    area.append(all, focused);
    el.append(area);
    draw = (side, i) => {
      focused.replaceChildren();
      if (side) for (const [hd, q, k] of pairs(side, i, false)) line(focused, hd, q, k);
      all.style.display = side ? 'none' : '';
      lines = side ? focused.childElementCount : all.childElementCount;
    };
  } else {
    const dpr = window.devicePixelRatio || 1;
    const canvas = h('canvas', {class: 'attn-lines', width: Math.ceil(BAND * dpr), height: Math.ceil(height * dpr), 'aria-hidden': 'true'});
    canvas.style.width = `${BAND}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext('2d');
    el.append(canvas);
    draw = (side, i) => {
      lines = 0;
      if (!ctx) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, BAND, height);
      ctx.lineWidth = 2;
      for (const [hd, q, k] of pairs(side, i, true)) {
        ctx.globalAlpha = Math.min(1, opacity(layer[hd][q][k]));
        ctx.strokeStyle = category(hd);
        ctx.beginPath();
        ctx.moveTo(0, y(q));
        ctx.lineTo(BAND, y(k));
        ctx.stroke();
        lines++;
      }
    };
  }
  el.append(kCol);
  el.dataset.renderer = useSvg ? 'svg' : 'canvas';

  /** Shades the other column by its weight (mean over active heads) to or from token (side, i), over the largest. */
  /** @param {'query' | 'key' | null} side @param {number} i */
  const focus = (side, i) => {
    if (side && !(i >= 0 && i < n)) side = null;
    draw(side, i);
    el.dataset.lineCount = String(lines);
    el.toggleAttribute('data-focused', side !== null);
    const other = side === 'query' ? 'key' : 'query';
    const w = tokens.map((_, j) => {
      let sum = 0;
      if (side) for (const hd of heads) sum += side === 'query' ? layer[hd][i][j] : layer[hd][j][i];
      return sum;
    });
    const max = Math.max(0, ...w);
    for (const s of /** @type {const} */ (['query', 'key'])) tokenEls[s].forEach((t, j) => {
      t.classList.toggle('hovered', s === side && j === i);
      const shade = side && s === other && max > 0 ? w[j] / max : 0;
      t.classList.toggle('shaded', shade >= 0.1);
      t.style.background = shade >= 0.1 ? heat(shade) : '';
      t.style.color = shade > 0.55 ? '#fff' : '';
    });
  };
  focus(null, 0);

  // Mouse and keyboard both isolate a token: hover or focus it; arrows move up and down and across the columns.
  for (const s of /** @type {const} */ (['query', 'key'])) tokenEls[s].forEach((t, i) => {
    t.addEventListener('mouseenter', () => onHover(s, i));
    t.addEventListener('mouseleave', () => onHover(null, 0));
    t.addEventListener('focus', () => onHover(s, i));
    t.addEventListener('blur', () => onHover(null, 0));
    t.addEventListener('keydown', e => {
      const to = e.key === 'ArrowDown' ? tokenEls[s][i + 1] : e.key === 'ArrowUp' ? tokenEls[s][i - 1]
        : e.key === 'ArrowRight' && s === 'query' ? tokenEls.key[i] : e.key === 'ArrowLeft' && s === 'key' ? tokenEls.query[i] : null;
      if (!to) return;
      e.preventDefault();
      t.tabIndex = -1;
      to.tabIndex = 0;
      to.focus();
    });
  });
  return {element: el, get lines() { return lines; }, renderer: useSvg ? 'svg' : 'canvas', focus};
}

/**
 * Indices of the `k` largest values of `row`.
 * @param {number[]} row
 * @param {number} k
 */
function strongest(row, k) {
  return row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map(p => p[1]);
}
