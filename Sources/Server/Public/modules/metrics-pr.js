// The metrics module's precision–recall curve (SVG) for two classes, with a threshold slider: the operating point at
// the threshold with its precision/recall/F1, and the best-F1 threshold marked.
import {h, svg, replace, fmt} from '../dom.js';
/** @typedef {import('../types.js').PRPoint} PRPoint */

const W = 250, H = 200, L = 34, R = 10, T = 10, B = 30;
/** @param {number} recall */
const px = recall => L + recall * (W - L - R);
/** @param {number} precision */
const py = precision => T + (1 - precision) * (H - T - B);

/**
 * The operating point at `threshold` (positive when p ≥ threshold): the curve point with the smallest threshold at or
 * above it, as the curve runs from the highest threshold down; null when nothing is predicted positive.
 * @param {PRPoint[]} curve
 * @param {number} threshold
 * @returns {PRPoint | null}
 */
export function pointAt(curve, threshold) {
  /** @type {PRPoint | null} */
  let out = null;
  for (const p of curve) {
    if (p.threshold >= threshold) out = p; else break;
  }
  return out;
}

export class PRPanel {
  /**
   * @param {string} positive the positive class (the model's second label)
   * @param {string} idPrefix unique per page (two copies when two models are compared)
   */
  constructor(positive, idPrefix) {
    this.positive = positive;
    /** Kept exact (the slider snaps to its step; the best threshold need not). */
    this.threshold = 0.5;
    /** @type {PRPoint[]} */
    this.curve = [];
    /** @type {PRPoint | null} */
    this.best = null;
    this.title = h('div', {class: 'pr-title'});
    this.plot = svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'pr-plot', role: 'img'});
    this.point = svg('circle', {r: 5, class: 'pr-point'});
    const id = `${idPrefix}-threshold`;
    this.slider = h('input', {type: 'range', id, min: '0', max: '1', step: '0.01', value: '0.5', 'data-control': 'threshold',
      'aria-label': `Decision threshold on p(${positive})`,
      oninput: () => { this.threshold = Number(this.slider.value); this.renderPoint(); }});
    this.thresholdText = h('output', {for: id, class: 'pr-threshold'});
    this.readout = h('dl', {class: 'pr-readout'});
    this.bestButton = h('button', {type: 'button', 'data-action': 'best-threshold',
      onclick: () => { if (this.best) this.setThreshold(this.best.threshold); }});
    this.element = h('div', {class: 'pr-panel'}, this.title, this.plot,
      h('div', {class: 'pr-slider'}, h('label', {for: id}, `p(${positive}) ≥`), this.slider, this.thresholdText),
      this.readout, this.bestButton);
  }

  /** @param {number} t */
  setThreshold(t) {
    this.threshold = t;
    this.slider.value = String(t);
    this.renderPoint();
  }

  /**
   * @param {PRPoint[]} curve from the highest threshold down
   * @param {PRPoint | null} best
   * @param {string} rowName what the curve is of
   */
  setCurve(curve, best, rowName) {
    this.curve = curve;
    this.best = best;
    replace(this.title, `Precision–recall of ${this.positive}`, h('span', {class: 'muted'}, ` · ${rowName}`));
    this.plot.setAttribute('aria-label', `Precision–recall curve of ${this.positive} for ${rowName}, ${curve.length} thresholds`);
    this.bestButton.textContent = best ? `Best F1 ${fmt(best.f1)} at ${fmt(best.threshold)}` : 'No best threshold';
    this.bestButton.disabled = !best;
    this.renderCurve();
    this.renderPoint();
  }

  renderCurve() {
    /** @type {SVGElement[]} */
    const parts = [];
    // Axes with ticks at 0, .5, 1 (the curve lives in the unit square).
    for (const v of [0, 0.5, 1]) {
      parts.push(svg('line', {x1: px(v), x2: px(v), y1: py(0), y2: py(1), class: 'pr-grid'}));
      parts.push(svg('line', {x1: px(0), x2: px(1), y1: py(v), y2: py(v), class: 'pr-grid'}));
      const tx = svg('text', {x: px(v), y: H - B + 13, 'text-anchor': 'middle', class: 'pr-tick'});
      tx.textContent = String(v);
      const ty = svg('text', {x: L - 5, y: py(v) + 4, 'text-anchor': 'end', class: 'pr-tick'});
      ty.textContent = String(v);
      parts.push(tx, ty);
    }
    const xl = svg('text', {x: (L + W - R) / 2, y: H - 3, 'text-anchor': 'middle', class: 'pr-axis'});
    xl.textContent = 'recall';
    const yl = svg('text', {x: 10, y: (T + H - B) / 2, 'text-anchor': 'middle', class: 'pr-axis',
      transform: `rotate(-90 10 ${(T + H - B) / 2})`});
    yl.textContent = 'precision';
    parts.push(xl, yl);
    if (this.curve.length) {
      // Starts at recall 0, precision 1 (scikit-learn's sentinel), then one vertex per threshold.
      const d = [`M${px(0)},${py(1)}`, ...this.curve.map(p => `L${px(p.recall).toFixed(1)},${py(p.precision).toFixed(1)}`)].join(' ');
      parts.push(svg('path', {d, class: 'pr-curve'}));
    }
    if (this.best) {
      const b = this.best;
      const mark = svg('rect', {x: px(b.recall) - 4, y: py(b.precision) - 4, width: 8, height: 8, class: 'pr-best',
        transform: `rotate(45 ${px(b.recall)} ${py(b.precision)})`, 'data-best': b.threshold});
      const tip = svg('title');
      tip.textContent = `best F1 ${fmt(b.f1)} at threshold ${fmt(b.threshold)}`;
      mark.append(tip);
      parts.push(mark);
    }
    parts.push(this.point);
    replace(this.plot, ...parts);
  }

  renderPoint() {
    const p = pointAt(this.curve, this.threshold);
    this.thresholdText.textContent = fmt(this.threshold, 2);
    this.point.setAttribute('data-threshold', String(this.threshold));
    this.point.toggleAttribute('hidden', !p);
    if (p) {
      this.point.setAttribute('cx', px(p.recall).toFixed(1));
      this.point.setAttribute('cy', py(p.precision).toFixed(1));
    }
    /** @param {string} key @param {string} label @param {number | null} v */
    const stat = (key, label, v) => [h('dt', {}, label), h('dd', {'data-stat': key, 'data-value': v ?? ''}, v === null ? '—' : fmt(v))];
    replace(this.readout,
      ...stat('precision', 'precision', p ? p.precision : null),
      ...stat('recall', 'recall', p ? p.recall : 0),
      ...stat('f1', 'F1', p ? p.f1 : 0),
      p ? null : h('dd', {class: 'muted pr-none'}, 'nothing is predicted positive at this threshold'));
  }
}
