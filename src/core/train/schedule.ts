/**
 * Learning-rate schedules as pure functions of the optimiser step (not the micro-batch): an
 * optional linear warm-up from 0 to the base rate, then a decay over the remaining steps.
 */

export const SCHEDULE_TYPES = ['cosine', 'poly', 'step'] as const;
export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

export type Decay =
  /** PyTorch CosineAnnealingLR, closed form: eta_min + (base - eta_min) * (1 + cos(pi * t / T)) / 2. */
  | { type: 'cosine'; etaMin: number }
  /** insightface PolyScheduler: eta_min + (base - eta_min) * (1 - t / T)^power (insightface: power 2, eta_min 0). */
  | { type: 'poly'; power: number; etaMin: number }
  /** PyTorch StepLR: base * gamma^floor(t / stepSize). */
  | { type: 'step'; stepSize: number; gamma: number };

export interface Schedule {
  baseLr: number;
  /** Optimiser steps in the whole run. */
  totalSteps: number;
  /** Steps of linear warm-up: base * t / warmup (insightface's form: 0 at step 0). */
  warmupSteps: number;
  /** Applied to the steps after the warm-up, t = step - warmupSteps of T = totalSteps - warmupSteps. */
  decay: Decay;
}

export function validateSchedule(s: Schedule): void {
  if (!(s.baseLr > 0)) throw new Error(`the base learning rate must be > 0, got ${s.baseLr}`);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1) throw new Error(`a schedule needs at least 1 step, got ${s.totalSteps}`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0 || s.warmupSteps >= s.totalSteps) {
    throw new Error(`warm-up must be a whole number of steps in 0..${s.totalSteps - 1}, got ${s.warmupSteps}`);
  }
  if (s.decay.type !== 'step' && !(s.decay.etaMin >= 0 && s.decay.etaMin <= s.baseLr)) {
    throw new Error(`eta_min must be in 0..${s.baseLr} (the base learning rate), got ${s.decay.etaMin}`);
  }
  if (s.decay.type === 'step' && !(Number.isInteger(s.decay.stepSize) && s.decay.stepSize >= 1)) {
    throw new Error(`step decay needs a step size of at least 1 step, got ${s.decay.stepSize}`);
  }
}

/** The learning rate for optimiser step `step` (0-based). Past the end the decay holds its final value. */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.baseLr * step) / s.warmupSteps;
  const t = step - s.warmupSteps;
  const span = s.totalSteps - s.warmupSteps;
  return decayed(s.decay, s.baseLr, Math.min(t, span), span);
}

function decayed(d: Decay, base: number, t: number, span: number): number {
  switch (d.type) {
    case 'cosine':
      return d.etaMin + ((base - d.etaMin) * (1 + Math.cos((Math.PI * t) / span))) / 2;
    case 'poly':
      return d.etaMin + (base - d.etaMin) * (1 - t / span) ** d.power;
    case 'step':
      return base * d.gamma ** Math.floor(t / d.stepSize);
  }
}
