import { Graph } from '../graph/types';
import { BackboneBuilder, BackboneOptions, backboneGraph } from './backbone';
import { iresnet100, iresnet18, iresnet34, iresnet50 } from './iresnet';
import { mobilefacenet } from './mobilefacenet';
import { resnet50 } from './resnet50';
import { tiny } from './tiny';

/** Every backbone the toolkit can build, by the name configs use. */
export const BACKBONES = {
  tiny,
  mobilefacenet,
  iresnet18,
  iresnet34,
  iresnet50,
  iresnet100,
  resnet50,
} satisfies Record<string, BackboneBuilder>;

export type BackboneName = keyof typeof BACKBONES;

export function isBackboneName(name: string): name is BackboneName {
  return Object.prototype.hasOwnProperty.call(BACKBONES, name);
}

export function buildBackbone(name: BackboneName, opts: BackboneOptions): Graph {
  return backboneGraph(name, BACKBONES[name], opts);
}
