// Colour scales: salience (signed: diverging, unsigned: sequential, with LIT's gamma), heat maps and categories.

/** @param {number} a @param {number} b @param {number} t */
const mix = (a, b, t) => Math.round(a + (b - a) * t);

/** @param {number[]} c0 @param {number[]} c1 @param {number} t */
function lerp(c0, c1, t) { return [mix(c0[0], c1[0], t), mix(c0[1], c1[1], t), mix(c0[2], c1[2], t)]; }

/** @param {number[]} c */
const css = c => `rgb(${c[0]},${c[1]},${c[2]})`;

const WHITE = [255, 255, 255];
const PURPLE = [94, 60, 153];   // unsigned: white → purple (LIT's sequential salience)
const MAGENTA = [197, 27, 125]; // signed negative
const CYAN = [0, 139, 139];     // signed positive (LIT: magenta ↔ white ↔ cyan)

/**
 * Intensity after LIT's gamma: 1 - (1 - |d|)^γ, so small scores stay visible (`c/lib/colors.ts`).
 * @param {number} d in [-1, 1] @param {number} gamma
 */
export function intensity(d, gamma) { return 1 - Math.pow(1 - Math.min(1, Math.abs(d)), gamma); }

/**
 * The background of a salience chip. `d` is the score over the largest |score| of the example.
 * @param {number} d @param {boolean} signed @param {number} gamma
 */
export function salienceColor(d, signed, gamma) {
  const t = intensity(d, gamma);
  if (!signed) return css(lerp(WHITE, PURPLE, t));
  return css(lerp(WHITE, d < 0 ? MAGENTA : CYAN, t));
}

/**
 * Text colour readable on `salienceColor(d, …)`.
 * @param {number} d
 * @param {number} gamma
 */
export function textOn(d, gamma) { return intensity(d, gamma) > 0.55 ? '#fff' : '#1d1d1f'; }

/**
 * A sequential scale for heat maps and counts (white → deep blue).
 * @param {number} t in [0, 1]
 */
export function heat(t) { return css(lerp([247, 251, 255], [8, 48, 107], Math.max(0, Math.min(1, t)))); }

/** Categorical colours (Tableau 10), for classes, heads and slices. */
export const CATEGORICAL = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7',
  '#9c755f', '#bab0ac'];

/** @param {number} i */
export function category(i) { return CATEGORICAL[((i % CATEGORICAL.length) + CATEGORICAL.length) % CATEGORICAL.length]; }

/** Colours of correctness. */
export const CORRECT = '#59a14f';
export const WRONG = '#e15759';
export const UNKNOWN = '#bab0ac';
