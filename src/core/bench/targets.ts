import { deployableGraph } from '../export/exportOnnx';
import { encodeOnnx } from '../graph/onnx';
import { ModelSource, describeModel } from '../model/load';
import { BenchTarget } from './bench';

/**
 * What bench runs for a model source. Our models are benchmarked as export-onnx would write
 * them (BatchNorm folded, no dropout), while parameters are counted on the trainable graph.
 */
export function benchTarget(source: ModelSource): BenchTarget {
  if (source.kind === 'onnx') return { label: source.label, model: source.bytes, graph: source.graph, fileBytes: source.bytes.byteLength };
  const { graph } = deployableGraph(source.backbone, describeModel(source.config), false, { forOnnxRuntime: true });
  const model = encodeOnnx(graph);
  return { label: source.label, model, graph: source.backbone, fileBytes: model.byteLength };
}
