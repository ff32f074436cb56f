// (being written) The DatapointEditor module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class DatapointEditor extends LoupeModule {
  static id = 'editor';
  static title = 'DatapointEditor';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('DatapointEditor is being written.')); }
}
