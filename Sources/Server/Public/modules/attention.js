// (being written) The AttentionModule module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class AttentionModule extends LoupeModule {
  static id = 'attention';
  static title = 'AttentionModule';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('AttentionModule is being written.')); }
}
