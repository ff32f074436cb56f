// (being written) The TCAV module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class TCAV extends LoupeModule {
  static id = 'tcav';
  static title = 'TCAV';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('TCAV is being written.')); }
}
