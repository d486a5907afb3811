import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { createProgress } from '../cli/progress';
import { engineFlags, configFlags } from '../cli/sharedFlags';
import { Table, formatBytes, formatCount, renderMarkdown, renderText } from '../cli/table';
import { BenchResult, BenchSettings, benchModel } from '../core/bench/bench';
import { parseCompare } from '../core/bench/compare';
import { benchTarget } from '../core/bench/targets';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { InputError } from '../core/errors';
import { loadModelSource } from '../core/model/load';

function parseBatchSizes(value: string): number[] {
  const sizes = value.split(',').map((s) => Number(s.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new InputError(`--batch-sizes ${value}: expected a comma-separated list of integers >= 1`);
  }
  return sizes;
}

function resultTable(results: BenchResult[]): Table {
  const batches = [...new Set(results.flatMap((r) => r.throughput.map((t) => t.batch)))].sort((a, b) => a - b);
  const header = ['model', 'params', 'FLOPs', 'size', 'p50 ms', 'p95 ms', 'p99 ms', ...batches.map((b) => `img/s b${b}`), 'threads', 'provider', 'peak RSS'];
  const rows = results.map((r) => [
    r.model,
    formatCount(r.params),
    formatCount(r.flops),
    formatBytes(r.fileBytes),
    r.latencyMs.p50.toFixed(2),
    r.latencyMs.p95.toFixed(2),
    r.latencyMs.p99.toFixed(2),
    ...batches.map((b) => r.throughput.find((t) => t.batch === b)?.imagesPerSecond.toFixed(1) ?? '-'),
    String(r.threads),
    r.provider,
    formatBytes(r.peakRssBytes),
  ]);
  return { header, rows, numeric: header.map((_, i) => i > 0 && i !== header.length - 2) };
}

export default class Bench extends BaseCommand<typeof Bench> {
  static override summary = 'Measure a model: parameters, FLOPs, size, latency, throughput, memory.';
  static override description =
    'MODEL is an .onnx file (ours or any third-party face model), a .safetensors checkpoint, a .yaml config, or a shipped config name. ' +
    'Without MODEL, the default config (mobilefacenet, embedding 512) is measured. Results are medians of repeated timed samples after warm-up.';
  static override examples = [
    '<%= config.bin %> bench',
    '<%= config.bin %> bench resnet50 --batch-sizes 64 --threads 2',
    '<%= config.bin %> bench model.onnx --compare threads=1 --compare other.onnx --markdown',
    '<%= config.bin %> bench mobilefacenet --json',
  ];
  static override strict = false;
  static override args = { model: Args.string({ description: 'Model(s) to measure.' }) };
  static override flags = {
    ...configFlags,
    ...engineFlags,
    'batch-sizes': Flags.string({ description: 'Batch sizes for throughput, e.g. 1,8,32,64 (default: bench.batch_sizes).' }),
    warmup: Flags.integer({ description: 'Untimed runs before timing (default: bench.warmup).', min: 0 }),
    repeats: Flags.integer({ description: 'Timed samples per batch size; the median is reported (default: bench.repeats).', min: 1 }),
    'latency-iterations': Flags.integer({ description: 'Batch-1 runs for latency percentiles (default: bench.latency_iterations).', min: 1 }),
    compare: Flags.string({ description: 'Another model, or settings for the first model (threads=1, graph_optimization=basic, provider=cuda); repeatable.', multiple: true, default: [] }),
    markdown: Flags.boolean({ description: 'Print the table as Markdown.', default: false }),
  };

  async run(): Promise<BenchResult[]> {
    const { flags } = this;
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
    const engine = engineOptions(config.engine, flags);
    const settings: BenchSettings = {
      batchSizes: flags['batch-sizes'] ? parseBatchSizes(flags['batch-sizes']) : config.bench.batch_sizes,
      warmup: flags.warmup ?? config.bench.warmup,
      repeats: flags.repeats ?? config.bench.repeats,
      latencyIterations: flags['latency-iterations'] ?? config.bench.latency_iterations,
      engine,
      seed: config.model.seed,
    };
    const specs = this.positionals.length > 0 ? this.positionals : [flags.config ?? 'base'];
    const runs = specs.map((spec) => ({ spec, engine }));
    for (const entry of flags.compare.map(parseCompare)) {
      if (entry.kind === 'model') runs.push({ spec: entry.spec, engine });
      else runs.push({ spec: runs[0].spec, engine: { ...engine, ...entry.engine } });
    }
    const progress = createProgress({ json: this.jsonEnabled() });
    const results: BenchResult[] = [];
    for (const run of runs) {
      const source = loadModelSource(run.spec, flags.set);
      const target = benchTarget(source);
      if (run.engine !== engine) target.label = `${target.label} (${describeEngineChange(engine, run.engine)})`;
      results.push(
        await benchModel(target, { ...settings, engine: run.engine }, (p) =>
          progress.update({ label: `${p.model} ${p.phase} b${p.batch}`, done: p.done, total: p.total }),
        ),
      );
    }
    progress.stop();
    if (!this.jsonEnabled()) {
      const table = resultTable(results);
      this.log(flags.markdown ? renderMarkdown(table) : renderText(table));
      for (const r of results) for (const note of r.notes) this.log(`note (${r.model}): ${note}`);
    }
    return results;
  }
}

function describeEngineChange(base: { threads: number; provider: string; graphOptimization: string }, changed: typeof base): string {
  const parts: string[] = [];
  if (changed.threads !== base.threads) parts.push(`threads=${changed.threads}`);
  if (changed.provider !== base.provider) parts.push(`provider=${changed.provider}`);
  if (changed.graphOptimization !== base.graphOptimization) parts.push(`graph_optimization=${changed.graphOptimization}`);
  return parts.join(', ') || 'same settings';
}
