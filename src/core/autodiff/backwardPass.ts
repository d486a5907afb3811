import { float32Tensor, numel } from '../graph/types';
import { Emitter } from './emitter';
import { ForwardPass, nodeContext } from './forwardPass';
import { zeros } from './tensors';
import { AutodiffError } from './types';

/**
 * Reverse mode over the tape: nodes in reverse topological order, each rule emitting the
 * gradients of the inputs that need one. A tensor read by several nodes sums their
 * contributions once all of them are in (they all come later in the forward order).
 */

class GradientSums {
  private readonly parts = new Map<string, string[]>();

  add(tensor: string, grad: string): void {
    const list = this.parts.get(tensor);
    if (list) list.push(grad);
    else this.parts.set(tensor, [grad]);
  }

  /** The total gradient of `tensor`, or undefined if none reached it. */
  total(emit: Emitter, tensor: string): string | undefined {
    const parts = this.parts.get(tensor);
    if (!parts) return undefined;
    if (parts.length === 1) return parts[0];
    const sum = emit.op(parts.length === 2 ? 'Add' : 'Sum', parts);
    this.parts.set(tensor, [sum]);
    return sum;
  }
}

/** Emits the backward pass; returns parameter name -> graph output name of its gradient. */
export function emitBackwardPass(pass: ForwardPass, loss: string): Map<string, string> {
  const constants = new Map([...pass.graph.initializers].map(([name, init]) => [name, init.tensor]));
  const sums = new GradientSums();
  const lossDims = pass.shapes.get(loss)?.shape as number[];
  sums.add(loss, pass.emit.constant(float32Tensor(lossDims, new Float32Array(numel(lossDims)).fill(1))));

  for (let i = pass.tape.length - 1; i >= 0; i--) {
    const { node, rule, slots, saved } = pass.tape[i];
    const needs = node.inputs.map((t, slot) => t !== '' && slots.includes(slot) && pass.needing.has(t));
    if (!needs.some(Boolean)) continue;
    const emit = pass.emit.scoped(`grad/${node.name}`);
    const outputGrads = node.outputs.map((t) => (t === '' ? undefined : sums.total(emit, t)));
    if (outputGrads.every((g) => g === undefined)) continue;
    if (!rule) {
      throw new AutodiffError(`no gradient rule for ${node.opType} (node ${node.name}), which lies between a trained parameter and the loss`);
    }
    const grads = rule.backward({ ...nodeContext(node, emit, pass.shapes, constants), outputGrads, needs, saved });
    grads.forEach((g, slot) => {
      if (needs[slot] && g !== undefined) sums.add(node.inputs[slot], g);
    });
  }

  const outputs = new Map<string, string>();
  const emit = pass.emit.scoped('grad');
  for (const [param, dims] of pass.params) {
    const name = emit.fresh(`${param}.grad`);
    // A parameter the loss does not depend on has a zero gradient, still returned so every step's outputs match.
    emit.op('Identity', [sums.total(emit, param) ?? zeros(emit, dims)], {}, name);
    outputs.set(param, name);
  }
  return outputs;
}
