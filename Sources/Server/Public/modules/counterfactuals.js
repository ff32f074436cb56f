// (being written) The Counterfactuals module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class Counterfactuals extends LoupeModule {
  static id = 'counterfactuals';
  static title = 'Counterfactuals';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('Counterfactuals is being written.')); }
}
