import { Graph } from '../graph/types';
import { BackboneBuilder, BackboneOptions, backboneGraph } from './backbone';
import { tiny } from './tiny';

/** Every backbone the toolkit can build, by the name configs use. */
export const BACKBONES = {
  tiny,
} satisfies Record<string, BackboneBuilder>;

export type BackboneName = keyof typeof BACKBONES;

export function isBackboneName(name: string): name is BackboneName {
  return Object.prototype.hasOwnProperty.call(BACKBONES, name);
}

export function buildBackbone(name: BackboneName, opts: BackboneOptions): Graph {
  return backboneGraph(name, BACKBONES[name], opts);
}
