import { Rng } from '../util/rng';
import { Attr, DType, Graph, InitializerRole, Shape, TensorData, emptyGraph, float32Tensor } from './types';

/** Produces a parameter's initial values; receives an Rng seeded by the parameter's own name. */
export type Init = (rng: Rng, dims: number[]) => Float32Array;

/**
 * Adds nodes to a Graph under hierarchical scopes, so that parameters get stable names such as
 * `backbone.layer2.block0.conv1.weight` and layer helpers read like the paper's tables.
 */
export class GraphBuilder {
  readonly graph: Graph;
  private readonly scopes: string[] = [];
  private readonly taken = new Set<string>();

  constructor(
    name: string,
    private readonly seed: number,
  ) {
    this.graph = emptyGraph(name);
  }

  /** Runs `fn` with `name` appended to the current scope. */
  within<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  qualified(leaf: string): string {
    return [...this.scopes, leaf].join('.');
  }

  input(name: string, shape: Shape, dtype: DType = 'float32'): string {
    this.claim(name);
    this.graph.inputs.push({ name, dtype, shape });
    return name;
  }

  /** Marks `tensor` as a graph output, renaming it to `name` everywhere it appears. */
  output(tensor: string, name = tensor): string {
    if (name !== tensor) {
      this.claim(name);
      for (const node of this.graph.nodes) {
        node.inputs = node.inputs.map((t) => (t === tensor ? name : t));
        node.outputs = node.outputs.map((t) => (t === tensor ? name : t));
      }
    }
    this.graph.outputs.push({ name, dtype: 'float32', shape: [] });
    return name;
  }

  param(leaf: string, dims: number[], init: Init, role: InitializerRole = 'trainable'): string {
    const name = this.qualified(leaf);
    this.claim(name);
    const values = init(new Rng(this.seed, name), dims);
    this.graph.initializers.set(name, { name, role, tensor: float32Tensor(dims, values) });
    return name;
  }

  constant(leaf: string, tensor: TensorData): string {
    const name = this.unique(this.qualified(leaf));
    this.graph.initializers.set(name, { name, role: 'constant', tensor });
    return name;
  }

  /** Appends a node; returns its output tensor names. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string[] {
    const base = this.unique(this.qualified(opType));
    const names = outputs === 1 ? [base] : Array.from({ length: outputs }, (_, i) => this.unique(`${base}:${i}`));
    this.graph.nodes.push({ name: base, opType, domain: '', inputs, outputs: names, attrs });
    return names;
  }

  /** Appends a single-output node; returns its output. */
  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.op(opType, inputs, attrs, 1)[0];
  }

  private claim(name: string): void {
    if (this.taken.has(name)) throw new Error(`graph name ${name} is used twice`);
    this.taken.add(name);
  }

  private unique(name: string): string {
    let candidate = name;
    for (let i = 1; this.taken.has(candidate); i++) candidate = `${name}_${i}`;
    this.taken.add(candidate);
    return candidate;
  }
}
