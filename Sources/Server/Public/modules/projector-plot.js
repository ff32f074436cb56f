// The projector's canvas scatter plot: fits 2-D points (or 3-D, orthographic, rotated by dragging) to the canvas,
// draws them with the selection emphasised, and turns hover, click, box and lasso drags and arrow keys into callbacks.
import {h} from '../dom.js';

const PAD = 14;
/** How far (CSS px) a pointer may be from a point to hover or click it. */
const HIT = 7;
/** Above this, points are drawn without their white outline (fill only is several times faster). */
const PLAIN = 5000;

/**
 * @typedef {{hover: (i: number, x: number, y: number) => void, pick: (i: number, additive: boolean) => void,
 *   area: (indices: number[], additive: boolean) => void, step: (i: number) => void}} PlotEvents
 * @typedef {'box' | 'lasso' | 'rotate'} Tool
 */

export class ScatterPlot {
  /** @param {PlotEvents} on */
  constructor(on) {
    this.on = on;
    this.canvas = h('canvas', {class: 'proj-canvas', tabIndex: 0, role: 'application',
      'aria-label': 'Embedding scatter plot: drag to box-select, Shift+drag to lasso, arrow keys move between points, wheel zooms, 0 resets the zoom'});
    this.wrap = h('div', {class: 'proj-wrap'}, this.canvas);
    /** @type {number[][]} */
    this.coords = [];
    this.dims = 2;
    this.sx = new Float32Array(0);
    this.sy = new Float32Array(0);
    /** Drawing order (3-D: back to front). */
    this.order = new Uint32Array(0);
    this.depth = new Float32Array(0);
    this.yaw = 0.6;
    this.pitch = 0.35;
    /** @type {Tool} */
    this.tool = 'box';
    /** @type {string[]} */
    this.colors = [];
    /** @type {Set<number>} */
    this.selected = new Set();
    this.primary = -1;
    this.pinned = -1;
    this.hovered = -1;
    /** @type {{x0: number, y0: number, path: number[][], tool: Tool, additive: boolean, moved: boolean, yaw: number, pitch: number} | null} */
    this.drag = null;
    this.width = 0;
    this.height = 0;
    this.frame = 0;
    /** The view on top of the fit: screen = (tx, ty) + k · fitted (wheel zooms about the pointer). */
    this.view = {k: 1, tx: 0, ty: 0};
    /** Called when the view changes (the module shows a reset button while zoomed). */
    this.onView = () => {};
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.wrap);
    this.canvas.addEventListener('pointerdown', e => this.down(e));
    this.canvas.addEventListener('pointermove', e => this.move(e));
    this.canvas.addEventListener('pointerup', e => this.up(e));
    this.canvas.addEventListener('pointerleave', () => { if (!this.drag) this.setHover(-1, 0, 0); });
    this.canvas.addEventListener('keydown', e => this.key(e));
    this.canvas.addEventListener('wheel', e => this.wheel(e), {passive: false});
  }

  /** @param {WheelEvent} e */
  wheel(e) {
    if (!this.coords.length) return;
    e.preventDefault();
    const [x, y] = this.pos(e);
    const v = this.view, f = Math.exp(-e.deltaY * 0.0015);
    const k = Math.max(1, Math.min(64, v.k * f)), g = k / v.k;
    this.view = k === 1 ? {k: 1, tx: 0, ty: 0} : {k, tx: x - (x - v.tx) * g, ty: y - (y - v.ty) * g};
    this.layout();
    this.onView();
  }

  resetView() { this.view = {k: 1, tx: 0, ty: 0}; this.layout(); this.onView(); }

  dispose() { this.resizer.disconnect(); cancelAnimationFrame(this.frame); }

  /** @param {number[][]} coords @param {number} dims */
  setPoints(coords, dims) {
    this.coords = coords;
    this.dims = dims;
    this.hovered = -1;
    this.view = {k: 1, tx: 0, ty: 0};
    this.layout();
    this.onView();
  }

  resize() {
    const w = Math.max(200, this.wrap.clientWidth);
    const hgt = Math.round(Math.max(280, Math.min(600, w * 0.62)));
    if (w === this.width && hgt === this.height) return;
    this.width = w;
    this.height = hgt;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    this.layout();
  }

  /** Screen positions of every point; in 2-D the map is `x = ox + s·c0, y = oy − s·c1` (same scale on both axes). */
  layout() {
    const n = this.coords.length, w = this.width, hgt = this.height;
    this.sx = new Float32Array(n);
    this.sy = new Float32Array(n);
    this.depth = new Float32Array(n);
    this.canvas.dataset.pointsCount = String(n);
    this.canvas.dataset.dims = String(this.dims);
    if (!n || !w) { this.order = new Uint32Array(0); this.draw(); return; }
    if (this.dims === 2) {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const c of this.coords) { x0 = Math.min(x0, c[0]); x1 = Math.max(x1, c[0]); y0 = Math.min(y0, c[1]); y1 = Math.max(y1, c[1]); }
      const s = Math.min((w - 2 * PAD) / Math.max(x1 - x0, 1e-9), (hgt - 2 * PAD) / Math.max(y1 - y0, 1e-9));
      const {k, tx, ty} = this.view;
      const ox = tx + k * (w / 2 - s * (x0 + x1) / 2), oy = ty + k * (hgt / 2 + s * (y0 + y1) / 2), ks = k * s;
      this.coords.forEach((c, i) => { this.sx[i] = ox + ks * c[0]; this.sy[i] = oy - ks * c[1]; });
      this.canvas.dataset.transform = JSON.stringify({ox, oy, s: ks});
      this.order = Uint32Array.from(this.coords.keys());
    } else {
      // Orthographic: centre on the mean, scale by the farthest point, rotate by yaw (about y) then pitch (about x).
      const mean = [0, 1, 2].map(k => this.coords.reduce((a, c) => a + c[k], 0) / n);
      const r = Math.max(1e-9, ...this.coords.map(c => Math.hypot(c[0] - mean[0], c[1] - mean[1], c[2] - mean[2])));
      const {k, tx, ty} = this.view;
      const s = k * (Math.min(w, hgt) / 2 - PAD) / r;
      const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
      this.coords.forEach((c, i) => {
        const x = c[0] - mean[0], y = c[1] - mean[1], z = c[2] - mean[2];
        const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;
        this.sx[i] = tx + k * w / 2 + s * x1;
        this.sy[i] = ty + k * hgt / 2 - s * (cp * y - sp * z1);
        this.depth[i] = (sp * y + cp * z1) / r;
      });
      delete this.canvas.dataset.transform;
      this.order = Uint32Array.from([...this.coords.keys()].sort((a, b) => this.depth[b] - this.depth[a]));
    }
    this.draw();
  }

  /** Redraws on the next frame (many changes in one frame draw once). */
  draw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.paint(); });
  }

  paint() {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const n = this.coords.length, some = this.selected.size > 0, outline = n <= PLAIN;
    /** @param {number} i @param {number} r */
    const dot = (i, r) => {
      ctx.beginPath();
      ctx.arc(this.sx[i], this.sy[i], r, 0, 2 * Math.PI);
      ctx.fillStyle = this.colors[i] ?? '#999';
      ctx.fill();
      if (outline) ctx.stroke();
    };
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 0.75;
    // Unselected points first (faded when something is selected), the selection on top, outlined dark.
    ctx.globalAlpha = some ? 0.28 : 1;
    for (const i of this.order) if (!this.selected.has(i)) dot(i, this.radius(i));
    ctx.globalAlpha = 1;
    ctx.strokeStyle = '#1d1d1f';
    for (const i of this.order) if (this.selected.has(i)) dot(i, this.radius(i) + 1);
    /** @param {number} i @param {string} color @param {number} r */
    const ring = (i, color, r) => {
      if (i < 0 || i >= n) return;
      ctx.beginPath();
      ctx.arc(this.sx[i], this.sy[i], r, 0, 2 * Math.PI);
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.stroke();
    };
    ring(this.pinned, '#f59f00', 9);
    ring(this.primary, '#3b5bdb', 7.5);
    ring(this.hovered, '#1d1d1f', 6);
    const d = this.drag;
    if (d && d.moved && d.tool !== 'rotate' && d.path.length > 1) {
      ctx.beginPath();
      const last = d.path[d.path.length - 1];
      if (d.tool === 'box') ctx.rect(d.x0, d.y0, last[0] - d.x0, last[1] - d.y0);
      else { ctx.moveTo(d.path[0][0], d.path[0][1]); for (const p of d.path) ctx.lineTo(p[0], p[1]); ctx.closePath(); }
      ctx.fillStyle = 'rgba(59,91,219,.08)';
      ctx.fill();
      ctx.strokeStyle = '#3b5bdb';
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  /** @param {number} i */
  radius(i) {
    const n = this.coords.length, base = n > PLAIN ? 2.2 : n > 500 ? 3.5 : 4.5;
    return this.dims === 3 ? base * (0.7 + 0.3 * (1 - this.depth[i])) : base;
  }

  /** @param {PointerEvent | MouseEvent} e */
  pos(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  /**
   * The nearest point within HIT px of (x, y) on screen, or −1.
   * @param {number} x @param {number} y
   */
  hit(x, y) {
    let best = -1, bestD = HIT * HIT;
    for (let i = 0; i < this.sx.length; i++) {
      const dx = this.sx[i] - x, dy = this.sy[i] - y, d = dx * dx + dy * dy;
      if (d <= bestD) { best = i; bestD = d; }
    }
    return best;
  }

  /** @param {number} i @param {number} x @param {number} y */
  setHover(i, x, y) {
    if (i !== this.hovered) { this.hovered = i; this.draw(); }
    this.on.hover(i, x, y);
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const [x, y] = this.pos(e);
    const tool = e.shiftKey && this.tool !== 'rotate' ? 'lasso' : this.dims === 2 && this.tool === 'rotate' ? 'box' : this.tool;
    this.drag = {x0: x, y0: y, path: [[x, y]], tool, additive: e.ctrlKey || e.metaKey, moved: false, yaw: this.yaw, pitch: this.pitch};
  }

  /** @param {PointerEvent} e */
  move(e) {
    const [x, y] = this.pos(e);
    const d = this.drag;
    if (!d) { this.setHover(this.hit(x, y), x, y); return; }
    if (!d.moved && Math.hypot(x - d.x0, y - d.y0) < 4) return;
    if (!d.moved) this.setHover(-1, 0, 0);
    d.moved = true;
    if (d.tool === 'rotate') {
      this.yaw = d.yaw + (x - d.x0) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, d.pitch + (y - d.y0) * 0.01));
      this.layout();
      return;
    }
    d.path.push([x, y]);
    this.draw();
  }

  /** @param {PointerEvent} e */
  up(e) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    const [x, y] = this.pos(e);
    if (!d.moved) { this.on.pick(this.hit(x, y), d.additive); this.draw(); return; }
    if (d.tool === 'rotate') return;
    d.path.push([x, y]);
    /** @type {number[]} */
    const inside = [];
    if (d.tool === 'box') {
      const x0 = Math.min(d.x0, x), x1 = Math.max(d.x0, x), y0 = Math.min(d.y0, y), y1 = Math.max(d.y0, y);
      for (let i = 0; i < this.sx.length; i++) if (this.sx[i] >= x0 && this.sx[i] <= x1 && this.sy[i] >= y0 && this.sy[i] <= y1) inside.push(i);
    } else {
      for (let i = 0; i < this.sx.length; i++) if (inPolygon(this.sx[i], this.sy[i], d.path)) inside.push(i);
    }
    this.draw();
    this.on.area(inside, d.additive);
  }

  /**
   * Arrow keys: the nearest point in that direction from the primary (within 60° of it), as a move of the primary.
   * @param {KeyboardEvent} e
   */
  key(e) {
    /** @type {Record<string, number[]>} */
    const dirs = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    if (e.key === '0' && this.view.k !== 1) { this.resetView(); return; }
    const dir = dirs[e.key];
    if (!dir || !this.sx.length) return;
    e.preventDefault();
    const from = this.primary;
    if (from < 0) { this.on.step(this.nearestTo(this.width / 2, this.height / 2)); return; }
    let best = -1, bestScore = Infinity;
    for (let i = 0; i < this.sx.length; i++) {
      if (i === from) continue;
      const dx = this.sx[i] - this.sx[from], dy = this.sy[i] - this.sy[from];
      const along = dx * dir[0] + dy * dir[1], across = Math.abs(dx * dir[1] - dy * dir[0]);
      if (along <= 0 || across > along * 1.73) continue;
      const score = along + 2 * across;
      if (score < bestScore) { best = i; bestScore = score; }
    }
    if (best >= 0) this.on.step(best);
  }

  /** @param {number} x @param {number} y */
  nearestTo(x, y) {
    let best = 0, bestD = Infinity;
    for (let i = 0; i < this.sx.length; i++) {
      const d = (this.sx[i] - x) ** 2 + (this.sy[i] - y) ** 2;
      if (d < bestD) { best = i; bestD = d; }
    }
    return best;
  }
}

/**
 * Even–odd rule: whether (x, y) lies inside the polygon.
 * @param {number} x @param {number} y @param {number[][]} poly
 */
function inPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
