// The page: reads /api/info, restores the state from the URL, loads the dataset and lays out the modules.
import {AppState} from './state.js';
import {Api, StatusBar} from './api.js';
import {DataStore} from './data.js';
import {h, replace, emptyState} from './dom.js';
import {LAYOUT} from './layout.js';
/** @typedef {import('./module.js').Context} Context */
/** @typedef {import('./module.js').Change} Change */
/** @typedef {import('./module.js').LoupeModule} LoupeModule */
/** @typedef {typeof import('./module.js').LoupeModule} ModuleClass */
/** @typedef {import('./types.js').Info} Info */

class App {
  /** @param {Context} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {{cls: ModuleClass, instance: LoupeModule, section: HTMLElement, pane: string}[]} */
    this.mounted = [];
    /** @type {Set<Change>} */
    this.pendingChanges = new Set();
    this.frame = 0;
  }

  get state() { return this.ctx.state; }

  start() {
    this.renderHeader();
    this.renderTabs();
    this.mountAll();
    this.state.subscribe(changed => {
      if (changed.has('models') || changed.has('dataset')) { this.renderHeader(); this.mountAll(); }
      if (changed.has('dataset')) this.loadDataset();
      if (changed.has('models')) for (const m of this.state.models) this.ctx.data.predictAll(m);
      if (changed.has('tab')) this.renderTabs();
      this.schedule(changed);
    });
    this.ctx.data.subscribe(event => this.schedule(new Set([event])));
    window.addEventListener('hashchange', () => this.state.update(AppStateFromHash(this.ctx.info), 'url'));
    document.addEventListener('keydown', e => this.onKey(e));
    this.loadDataset();
  }

  async loadDataset() {
    const data = this.ctx.data;
    try {
      await data.load(this.state.dataset);
    } catch (e) {
      this.ctx.api.report(e);
      return;
    }
    // Ids in the URL that are not in the dataset (an edited link): dropped, and said.
    const missing = this.state.selection.filter(id => !data.byId.has(id));
    if (missing.length) {
      this.ctx.api.status.error(`the link selects ${missing.length} id(s) not in ${this.state.dataset}: ${missing.slice(0, 5).join(', ')}`);
      this.state.select(this.state.selection.filter(id => data.byId.has(id)), 'app');
    }
    for (const m of this.state.models) data.predictAll(m);
  }

  /**
   * Batches changes into one update per animation frame.
   * @param {Set<Change>} changed
   */
  schedule(changed) {
    for (const c of changed) this.pendingChanges.add(c);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const all = this.pendingChanges;
      this.pendingChanges = new Set();
      for (const m of this.mounted) if (this.isShown(m.pane)) this.safeUpdate(m, all);
      else m.section.dataset.stale = 'true';
    });
  }

  /** @param {{instance: LoupeModule, section: HTMLElement}} m @param {Set<Change>} changed */
  safeUpdate(m, changed) {
    try {
      m.instance.update(changed);
    } catch (e) {
      console.error(e);
      this.ctx.api.status.error(`${m.section.dataset.module}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** @param {string} pane */
  isShown(pane) { return pane === 'left' || pane === this.state.tab; }

  renderHeader() {
    const {info, state} = this.ctx;
    const header = /** @type {HTMLElement} */ (document.getElementById('controls'));
    const datasetSelect = h('select', {id: 'dataset-select', 'aria-label': 'Dataset',
      onchange: (/** @type {Event} */ e) => state.update({dataset: /** @type {HTMLSelectElement} */ (e.target).value, selection: [], primary: null, pinned: null}, 'header')},
      ...info.datasets.map(d => h('option', {value: d.name, selected: d.name === state.dataset}, `${d.name} (${d.size})`)));
    const models = h('fieldset', {class: 'model-picker'}, h('legend', {}, 'Models'),
      ...info.models.map(m => h('label', {title: `${m.architecture} ${m.task}, ${m.layers} layers × ${m.heads} heads`},
        h('input', {type: 'checkbox', value: m.name, checked: state.models.includes(m.name), 'data-model': m.name,
          onchange: (/** @type {Event} */ e) => {
            const on = /** @type {HTMLInputElement} */ (e.target).checked;
            let next = on ? [...state.models, m.name] : state.models.filter(n => n !== m.name);
            if (next.length > 2) next = next.slice(-2); // compare at most two side by side
            if (next.length === 0) { /** @type {HTMLInputElement} */ (e.target).checked = true; return; }
            state.update({models: next}, 'header');
          }}), ` ${m.name}`)));
    const colorBy = h('label', {}, 'Colour by ',
      h('select', {id: 'color-by', onchange: (/** @type {Event} */ e) => state.update({colorBy: /** @type {any} */ (/** @type {HTMLSelectElement} */ (e.target).value)}, 'header')},
        ...[['label', 'gold label'], ['prediction', 'prediction'], ['correct', 'correctness']].map(([v, t]) =>
          h('option', {value: v, selected: state.colorBy === v}, t))));
    replace(header, h('label', {}, 'Dataset ', datasetSelect), models, colorBy);
  }

  renderTabs() {
    const bar = /** @type {HTMLElement} */ (document.getElementById('tabs'));
    const tabs = LAYOUT.tabs;
    replace(bar, ...tabs.map((t, i) => h('button', {
      role: 'tab', id: `tab-${t.id}`, 'aria-selected': String(t.id === this.state.tab), tabIndex: t.id === this.state.tab ? 0 : -1,
      'aria-controls': `pane-${t.id}`, title: `${t.title} (Alt+${i + 1})`,
      onclick: () => this.state.update({tab: t.id}, 'tabs'),
    }, t.title)));
    for (const t of tabs) {
      const pane = document.getElementById(`pane-${t.id}`);
      if (pane) pane.hidden = t.id !== this.state.tab;
    }
    // A module in a tab that was hidden catches up when shown.
    for (const m of this.mounted) if (m.pane === this.state.tab && m.section.dataset.stale) {
      delete m.section.dataset.stale;
      this.safeUpdate(m, new Set(['shown', 'selection', 'primary', 'examples', 'predictions', 'models']));
    }
  }

  /** (Re)creates every module for the active models. */
  mountAll() {
    for (const m of this.mounted) m.instance.dispose();
    this.mounted = [];
    const left = /** @type {HTMLElement} */ (document.getElementById('left'));
    replace(left);
    for (const cls of LAYOUT.left) this.mount(cls, left, 'left');
    const right = /** @type {HTMLElement} */ (document.getElementById('right'));
    replace(right);
    for (const t of LAYOUT.tabs) {
      const pane = h('div', {id: `pane-${t.id}`, role: 'tabpanel', 'aria-labelledby': `tab-${t.id}`, class: 'pane', hidden: t.id !== this.state.tab});
      right.append(pane);
      for (const cls of t.modules) this.mount(cls, pane, t.id);
    }
  }

  /** @param {ModuleClass} cls @param {HTMLElement} parent @param {string} pane */
  mount(cls, parent, pane) {
    const {info, state} = this.ctx;
    const active = /** @type {import('./types.js').ModelInfo[]} */ (state.models.map(n => info.models.find(m => m.name === n)).filter(m => m !== undefined));
    const copies = cls.perModel && active.length > 1 ? active : [active[0] ?? null];
    const row = h('div', {class: copies.length > 1 ? 'compare' : 'single'});
    parent.append(row);
    for (const model of copies) {
      const reason = cls.unsupported(this.ctx, model);
      const body = h('div', {class: 'module-body'});
      const section = h('section', {class: 'module', 'data-module': cls.id, 'data-model': model?.name ?? '', 'aria-label': cls.title},
        h('header', {title: cls.help}, h('h2', {}, cls.title), model && copies.length > 1 ? h('span', {class: 'model-tag'}, model.name) : null),
        body);
      row.append(section);
      if (reason) {
        section.classList.add('unsupported');
        replace(body, emptyState(`${cls.title} is not shown: ${reason}`));
        continue;
      }
      const CtorAny = /** @type {any} */ (cls);
      /** @type {LoupeModule} */
      const instance = new CtorAny(this.ctx, body, model);
      const m = {cls, instance, section, pane};
      this.mounted.push(m);
      if (this.isShown(pane)) this.safeUpdate(m, new Set(['shown', 'selection', 'primary', 'examples', 'predictions', 'models']));
      else section.dataset.stale = 'true';
    }
  }

  /**
   * Page keys: Alt+digit picks a tab, Escape clears the selection.
   * @param {KeyboardEvent} e
   */
  onKey(e) {
    if (e.altKey && /^[1-9]$/.test(e.key)) {
      const t = LAYOUT.tabs[Number(e.key) - 1];
      if (t) { this.state.update({tab: t.id}, 'keys'); e.preventDefault(); }
    }
    const target = /** @type {HTMLElement} */ (e.target);
    const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT');
    if (e.key === 'Escape' && !typing) this.state.select([], 'keys', null);
  }
}

/**
 * The state a hash sets, checked against the server's datasets and models (unknown names fall back to defaults).
 * @param {Info} info
 */
function AppStateFromHash(info) {
  const parsed = AppState.parseHash(location.hash);
  if (!parsed.dataset || !info.datasets.some(d => d.name === parsed.dataset)) parsed.dataset = info.datasets[0]?.name ?? '';
  const known = (parsed.models ?? []).filter(n => info.models.some(m => m.name === n)).slice(0, 2);
  parsed.models = known.length ? known : info.models.slice(0, 1).map(m => m.name);
  if (!LAYOUT.tabs.some(t => t.id === parsed.tab)) parsed.tab = LAYOUT.tabs[0].id;
  return parsed;
}

async function main() {
  const status = new StatusBar(/** @type {HTMLElement} */ (document.getElementById('status')));
  const api = new Api(status);
  /** @type {Info} */
  let info;
  try {
    info = await api.get('/api/info');
  } catch (e) {
    api.report(e);
    replace(/** @type {HTMLElement} */ (document.getElementById('left')), emptyState('The server did not answer /api/info: is `loupe serve` running? Reload when it is.'));
    return;
  }
  const state = new AppState();
  state.update(AppStateFromHash(info), 'url');
  const data = new DataStore(api, info);
  const app = new App({state, api, data, info});
  /** @type {any} */ (window).loupe = app.ctx; // for the browser tests and the console
  app.start();
}

main();
