// (being written) The SalienceMaps module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class SalienceMaps extends LoupeModule {
  static id = 'salience';
  static title = 'SalienceMaps';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('SalienceMaps is being written.')); }
}
