import { Attr, Graph, Node, TensorData, float32Tensor } from '../graph/types';

/**
 * Appends nodes and constants to the training graph under a name prefix, keeping every tensor
 * and node name unique and sharing identical constants (axes, shape vectors, scalars).
 */

/** ONNX TensorProto element type FLOAT: the training graph computes in float32. */
export const ONNX_FLOAT = 1;

interface EmitState {
  graph: Graph;
  taken: Set<string>;
  constants: Map<string, string>;
}

export class Emitter {
  private constructor(
    private readonly state: EmitState,
    readonly prefix: string,
  ) {}

  /** An emitter into `graph`; names already used by the graph are never reused. */
  static into(graph: Graph, prefix: string): Emitter {
    const taken = new Set<string>([...graph.initializers.keys(), ...graph.inputs.map((v) => v.name)]);
    for (const n of graph.nodes) {
      taken.add(n.name);
      for (const t of n.outputs) taken.add(t);
    }
    return new Emitter({ graph, taken, constants: new Map() }, prefix);
  }

  /** Another emitter into the same graph, naming under `prefix`. */
  scoped(prefix: string): Emitter {
    return new Emitter(this.state, prefix);
  }

  get graph(): Graph {
    return this.state.graph;
  }

  /** A name nothing else uses yet, reserved. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.state.taken.has(name); i++) name = `${base}_${i}`;
    this.state.taken.add(name);
    return name;
  }

  /** Marks names (the forward graph's) as used, so fresh names never collide with them. */
  reserve(names: Iterable<string>): void {
    for (const n of names) this.state.taken.add(n);
  }

  /** Appends a copy of an existing node, names unchanged (they must have been reserved). */
  append(node: Node): void {
    this.state.graph.nodes.push({ ...node, inputs: node.inputs.slice(), outputs: node.outputs.slice(), attrs: { ...node.attrs } });
  }

  /** Appends a node with one output; returns the output (named after the node unless `output` is given). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const name = this.fresh(`${this.prefix}/${opType}`);
    this.state.graph.nodes.push({ name, opType, domain: '', inputs, outputs: [output ?? name], attrs });
    return output ?? name;
  }

  /** Appends a node whose outputs have the given names (reserved or fresh). */
  opWithOutputs(opType: string, inputs: string[], attrs: Record<string, Attr>, outputs: string[]): void {
    this.state.graph.nodes.push({ name: this.fresh(`${this.prefix}/${opType}`), opType, domain: '', inputs, outputs, attrs });
  }

  /** Appends a node with `count` outputs. */
  ops(opType: string, inputs: string[], attrs: Record<string, Attr>, count: number): string[] {
    const name = this.fresh(`${this.prefix}/${opType}`);
    const outputs = Array.from({ length: count }, (_, i) => this.fresh(`${name}:${i}`));
    this.state.graph.nodes.push({ name, opType, domain: '', inputs, outputs, attrs });
    return outputs;
  }

  /** An int64 vector constant (axes, shapes, pads, slice bounds). */
  ints(values: readonly number[]): string {
    return this.constant({ dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) });
  }

  /** A float scalar constant. */
  scalar(value: number): string {
    return this.constant(float32Tensor([], Float32Array.of(value)));
  }

  /** A constant tensor, shared with any identical one already emitted. */
  constant(tensor: TensorData): string {
    const key = `${tensor.dtype}[${tensor.dims}]${Array.from(tensor.data as ArrayLike<number | bigint>).join(',')}`;
    const known = this.state.constants.get(key);
    if (known) return known;
    const name = this.fresh(`autodiff/const`);
    this.state.graph.initializers.set(name, { name, role: 'constant', tensor });
    this.state.constants.set(key, name);
    return name;
  }
}
