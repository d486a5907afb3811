import { ParamTensors } from './types';

/** Where a tensor first holds NaN or +-Infinity. */
export interface NonFinite {
  tensor: string;
  index: number;
  value: number;
}

export function findNonFinite(tensors: ParamTensors): NonFinite | undefined {
  for (const [tensor, data] of tensors) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return { tensor, index: i, value: data[i] };
  }
  return undefined;
}

/** Training hit NaN or Infinity; the message names the step and the tensor. Parameters are left as they were. */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly where: NonFinite,
  ) {
    super(`step ${step}: ${where.tensor} is ${where.value} (at index ${where.index})`);
    this.name = 'NonFiniteError';
  }
}

/** Throws NonFiniteError naming `step` and the first offending tensor. */
export function assertFinite(step: number, tensors: ParamTensors): void {
  const bad = findNonFinite(tensors);
  if (bad) throw new NonFiniteError(step, bad);
}
