// (being written) The Predictions module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class Predictions extends LoupeModule {
  static id = 'predictions';
  static title = 'Predictions';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('Predictions is being written.')); }
}
