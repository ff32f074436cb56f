// (being written) The Projector module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class Projector extends LoupeModule {
  static id = 'projector';
  static title = 'Projector';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('Projector is being written.')); }
}
