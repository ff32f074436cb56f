// Where each module goes: the data table and editor on the left, a tab per task on the right.
import {DataTable} from './modules/table.js';
import {DatapointEditor} from './modules/editor.js';
import {Predictions} from './modules/predictions.js';
import {SalienceMaps} from './modules/salience.js';
import {AttentionModule} from './modules/attention.js';
import {Metrics} from './modules/metrics.js';
import {Projector} from './modules/projector.js';
import {Counterfactuals} from './modules/counterfactuals.js';
import {TCAV} from './modules/tcav.js';
import {TrainingCurves} from './modules/training.js';
/** @typedef {typeof import('./module.js').LoupeModule} ModuleClass */

/** @type {{left: ModuleClass[], tabs: {id: string, title: string, modules: ModuleClass[]}[]}} */
export const LAYOUT = {
  left: [DataTable, DatapointEditor],
  tabs: [
    {id: 'explain', title: 'Predictions & salience', modules: [Predictions, SalienceMaps]},
    {id: 'attention', title: 'Attention', modules: [AttentionModule]},
    {id: 'metrics', title: 'Metrics', modules: [Metrics]},
    {id: 'embeddings', title: 'Embeddings', modules: [Projector]},
    {id: 'counterfactuals', title: 'Counterfactuals', modules: [Counterfactuals]},
    {id: 'tcav', title: 'TCAV', modules: [TCAV]},
    {id: 'training', title: 'Training', modules: [TrainingCurves]},
  ],
};
