import { InputError } from '../../errors';
import { deployableGraph } from '../../export/exportOnnx';
import { encodeOnnx } from '../../graph/onnx';
import { Graph } from '../../graph/types';
import { describeModel, loadModelSource } from '../../model/load';

/** The float model that quantize and export-tflite start from, whatever form it was given in. */

export interface FloatModel {
  label: string;
  graph: Graph;
  bytes: Uint8Array;
}

/** A float model from any source the toolkit knows: pretrained name, .tflite, .onnx, checkpoint, config. */
export function loadFloatModel(spec: string, sets: readonly string[]): FloatModel {
  const source = loadModelSource(spec, sets);
  if (source.kind === 'onnx') {
    if (!source.graph) throw new InputError(`${spec}: cannot read the ONNX graph (${source.readError})`);
    return { label: source.label, graph: source.graph, bytes: source.bytes };
  }
  const { graph } = deployableGraph(source.backbone, describeModel(source.config), false);
  return { label: source.label, graph, bytes: encodeOnnx(graph) };
}
