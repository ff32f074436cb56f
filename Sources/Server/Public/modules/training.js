// (being written) The TrainingCurves module.
import {LoupeModule} from '../module.js';
import {emptyState, replace} from '../dom.js';

export class TrainingCurves extends LoupeModule {
  static id = 'training';
  static title = 'TrainingCurves';
  /** @param {Set<import('../module.js').Change>} changed */
  update(changed) { void changed; replace(this.body, emptyState('TrainingCurves is being written.')); }
}
