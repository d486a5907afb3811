/**
 * Detectors described by plain data (model bytes and options), so that the main thread can load
 * and check the models once and each worker thread can build its own sessions from the same
 * description.
 */
import * as fs from 'fs';
import { EngineOptions } from '../engines/onnxruntime';
import { InputError } from '../errors';
import { FaceDetector } from './detector';
import { MtcnnDetector, MtcnnModels, MtcnnOptions, pretrainedMtcnnModels } from './mtcnn';
import { YunetDetector, YunetOptions } from './yunet';

export const DETECTORS = ['mtcnn', 'yunet'] as const;
export type DetectorName = (typeof DETECTORS)[number];

export type DetectorSpec =
  | { kind: 'mtcnn'; models: MtcnnModels; options: MtcnnOptions; engine: EngineOptions }
  | { kind: 'yunet'; model: Uint8Array; source: string; options: YunetOptions; engine: EngineOptions };

export interface DetectorChoice {
  detector: DetectorName;
  /** The YuNet ONNX file; required for 'yunet'. */
  yunetModel?: string | null;
  mtcnn: MtcnnOptions;
  yunet: YunetOptions;
  engine: EngineOptions;
}

/** Loads the models a choice needs; a missing or unreadable YuNet file is the user's to fix. */
export function detectorSpec(choice: DetectorChoice): DetectorSpec {
  if (choice.detector === 'mtcnn') return { kind: 'mtcnn', models: pretrainedMtcnnModels(), options: choice.mtcnn, engine: choice.engine };
  const file = choice.yunetModel;
  if (!file) throw new InputError('detect.yunet_model: the yunet detector needs an ONNX file (e.g. --yunet-model yunet_n_dynamic.onnx)');
  let model: Uint8Array;
  try {
    model = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: cannot read the YuNet model (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err))})`);
  }
  return { kind: 'yunet', model, source: file, options: choice.yunet, engine: choice.engine };
}

export async function createDetector(spec: DetectorSpec): Promise<FaceDetector> {
  return spec.kind === 'mtcnn' ? MtcnnDetector.create(spec.models, spec.options, spec.engine) : YunetDetector.create(spec.model, spec.options, spec.engine, spec.source);
}

/** The same detector with other engine settings (worker threads use one intra-op thread each). */
export function withEngine(spec: DetectorSpec, engine: EngineOptions): DetectorSpec {
  return { ...spec, engine };
}
