import { z } from 'zod';
import { SCHEDULE_TYPES, Schedule } from '../../train/schedule';
import { num, oneOf } from '../fields';

/**
 * The learning-rate schedule, in epochs as configs think of them; `scheduleOf` converts to
 * optimiser steps once the run's length is known. Each key names the types it applies to.
 */
export const scheduleSection = z.strictObject({
  type: oneOf(SCHEDULE_TYPES),
  warmup_epochs: num({ min: 0 }, 'linear warm-up from 0; fractions allowed'),
  eta_min: num({ min: 0 }, 'cosine and poly: the final learning rate'),
  power: num({ above: 0 }, 'poly'),
  step_epochs: num({ above: 0 }, 'step: epochs between decays'),
  gamma: num({ above: 0, max: 1 }, 'step: the factor at each decay'),
});

export type ScheduleConfig = z.infer<typeof scheduleSection>;

export interface RunLength {
  /** Optimiser steps per epoch (micro-batches per epoch / accumulation steps, rounded up). */
  stepsPerEpoch: number;
  /** Optimiser steps in the whole run. */
  totalSteps: number;
}

export function scheduleOf(s: ScheduleConfig, baseLr: number, run: RunLength): Schedule {
  const steps = (epochs: number) => Math.round(epochs * run.stepsPerEpoch);
  // A warm-up as long as the run leaves the decay at least one step.
  const warmupSteps = Math.min(steps(s.warmup_epochs), run.totalSteps - 1);
  const decay = (): Schedule['decay'] => {
    switch (s.type) {
      case 'cosine':
        return { type: 'cosine', etaMin: s.eta_min };
      case 'poly':
        return { type: 'poly', power: s.power, etaMin: s.eta_min };
      case 'step':
        return { type: 'step', stepSize: Math.max(1, steps(s.step_epochs)), gamma: s.gamma };
    }
  };
  return { baseLr, totalSteps: run.totalSteps, warmupSteps, decay: decay() };
}
