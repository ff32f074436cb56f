// A form built from a component's config spec (LIT's interpreter_controls): one control per field, typed values out.
import {h} from './dom.js';
/** @typedef {import('./types.js').ConfigSpec} ConfigSpec */
/** @typedef {import('./types.js').ConfigField} ConfigField */

/**
 * Controls for `spec`: bool → checkbox, int/double → number input with its range, choice → select, text → input.
 * `values()` returns only the fields that differ from their defaults, as the API takes them (`config`).
 * @param {ConfigSpec} spec
 * @param {Record<string, any>} [initial] values to start from (e.g. restored from the URL)
 * @param {string} [idPrefix] prefix of each control's id (unique per page)
 */
export function configForm(spec, initial = {}, idPrefix = 'cfg') {
  /** @type {Map<string, {field: ConfigField, input: HTMLInputElement | HTMLSelectElement}>} */
  const controls = new Map();
  const rows = spec.fields.map(field => {
    const id = `${idPrefix}-${field.name}`;
    const start = initial[field.name] ?? field.defaultValue;
    /** @type {HTMLInputElement | HTMLSelectElement} */
    let input;
    if (field.kind === 'bool') {
      input = h('input', {type: 'checkbox', id, checked: start === true});
    } else if (field.kind === 'choice') {
      input = h('select', {id}, ...(field.choices ?? []).map(c => h('option', {value: c, selected: c === start}, c)));
    } else if (field.kind === 'int' || field.kind === 'double') {
      input = h('input', {type: 'number', id, value: start ?? '', step: field.kind === 'int' ? '1' : 'any',
        min: field.minimum ?? undefined, max: field.maximum ?? undefined, placeholder: field.defaultNote ?? ''});
    } else {
      input = h('input', {type: 'text', id, value: start ?? '', placeholder: field.defaultNote ?? ''});
    }
    input.dataset.field = field.name;
    controls.set(field.name, {field, input});
    return h('div', {class: 'form-row'}, h('label', {for: id, title: field.help}, field.name.replace(/_/g, ' ')), input,
      h('span', {class: 'form-help muted'}, field.help));
  });
  const element = h('div', {class: 'config-form'}, ...rows);

  /**
   * The values that differ from the defaults; a value that does not parse is reported by field name.
   * @returns {{values: Record<string, any>, errors: string[]}}
   */
  function values() {
    /** @type {Record<string, any>} */
    const out = {};
    /** @type {string[]} */
    const errors = [];
    for (const [name, {field, input}] of controls) {
      /** @type {any} */
      let v;
      if (field.kind === 'bool') v = /** @type {HTMLInputElement} */ (input).checked;
      else if (field.kind === 'int' || field.kind === 'double') {
        if (input.value.trim() === '') continue;
        v = Number(input.value);
        if (!Number.isFinite(v) || (field.kind === 'int' && !Number.isInteger(v))) {
          errors.push(`${name} must be ${field.kind === 'int' ? 'a whole number' : 'a number'}`);
          continue;
        }
        if (field.minimum !== undefined && (field.exclusiveMinimum ? v <= field.minimum : v < field.minimum)) {
          errors.push(`${name} must be ${field.exclusiveMinimum ? 'above' : 'at least'} ${field.minimum}`);
        }
        if (field.maximum !== undefined && v > field.maximum) errors.push(`${name} must be at most ${field.maximum}`);
      } else {
        // An empty text box without a default means "not given" (e.g. IG's neuron), not the empty string.
        if (field.kind === 'text' && input.value === '' && field.defaultValue == null) continue;
        v = input.value;
      }
      if (v !== field.defaultValue) out[name] = v;
    }
    return {values: out, errors};
  }
  return {element, values, controls};
}
