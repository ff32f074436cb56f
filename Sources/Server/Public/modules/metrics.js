// (being written) The Metrics module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class Metrics extends LoupeModule {
  static id = 'metrics';
  static title = 'Metrics';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('Metrics is being written.')); }
}
