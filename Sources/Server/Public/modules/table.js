// (being written) The DataTable module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class DataTable extends LoupeModule {
  static id = 'table';
  static title = 'DataTable';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('DataTable is being written.')); }
}
