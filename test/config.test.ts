import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, configSchema, configsDir, loadConfig, shippedConfigNames } from '../src/core/config';
import { describeProblem, problemsOf } from '../src/core/config/problems';
import { int } from '../src/core/config/fields';
import { BACKBONES, isBackboneName } from '../src/core/nn/registry';
import { z } from 'zod';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes a YAML file into the temp dir; returns its absolute path (what messages show outside cwd). */
function yamlFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const MODEL_KEYS = 'backbone, embedding_size, dropout, seed';

describe('defaults and shipped configs', () => {
  test('no file gives the embedded base: mobilefacenet, 512-d, [-1, 1] input', () => {
    const c = loadConfig();
    expect(c.model).toEqual({ backbone: 'mobilefacenet', embedding_size: 512, dropout: 0, seed: 0 });
    expect(c.input).toEqual({ size: 112, color: 'rgb', mean: 127.5, std: 127.5 });
    expect(c.engine).toEqual({ provider: 'cpu', threads: 0, graph_optimization: 'all' });
    expect(c.bench.batch_sizes).toEqual([1, 8, 32, 64]);
    expect(c.export).toEqual({ l2_normalize: false, verify: true });
  });

  test('every shipped config validates and names a registered backbone', () => {
    const names = shippedConfigNames();
    expect(names).toContain('base');
    for (const name of names) {
      const c = loadConfig(name);
      expect(isBackboneName(c.model.backbone)).toBe(true);
      // Per-backbone configs extend base and carry their backbone's name; examples (train-tiny-synth) only validate.
      if (isBackboneName(name)) {
        expect(fs.readFileSync(path.join(configsDir(), `${name}.yaml`), 'utf8')).toMatch(/^extends: base\.yaml$/m);
        expect(c.model.backbone).toBe(name);
      }
    }
  });

  test('every registered backbone has its own config', () => {
    expect(shippedConfigNames()).toEqual(expect.arrayContaining(Object.keys(BACKBONES)));
  });

  test('resnet50 overrides dropout and keeps the rest of base', () => {
    const c = loadConfig('resnet50');
    expect(c.model).toEqual({ backbone: 'resnet50', embedding_size: 512, dropout: 0.4, seed: 0 });
    expect(c.bench).toEqual(loadConfig().bench);
  });

  test('a shipped config is found by name, by file name and by path', () => {
    const byPath = loadConfig(path.join(configsDir(), 'iresnet50.yaml'));
    expect(loadConfig('iresnet50')).toEqual(byPath);
    expect(loadConfig('iresnet50.yaml')).toEqual(byPath);
  });

  test('an unknown config name lists the shipped ones', () => {
    expect(errorOf(() => loadConfig('iresnet51')).message).toBe(
      `iresnet51: no such config file (shipped configs: ${shippedConfigNames().join(', ')})`,
    );
  });
});

describe('extends', () => {
  test('chains merge deeply: child wins, lists replace, untouched keys come from the parents', () => {
    const shipped = path.relative(dir, path.join(configsDir(), 'resnet50.yaml'));
    const parent = yamlFile('parent.yaml', `extends: ${shipped}\nmodel:\n  seed: 7\nbench:\n  batch_sizes: [1, 2, 3]\n`);
    const child = yamlFile('child.yaml', `extends: ${path.basename(parent)}\nmodel:\n  embedding_size: 256\nbench:\n  batch_sizes: [4]\n`);
    const c = loadConfig(child);
    expect(c.model).toEqual({ backbone: 'resnet50', embedding_size: 256, dropout: 0.4, seed: 7 });
    expect(c.bench).toEqual({ ...loadConfig().bench, batch_sizes: [4] });
  });

  test('a file without extends builds on base', () => {
    const c = loadConfig(yamlFile('bare.yaml', 'model:\n  backbone: iresnet18\n'));
    expect(c).toEqual({ ...loadConfig(), model: { ...loadConfig().model, backbone: 'iresnet18' } });
  });

  test('an empty file is the base', () => {
    expect(loadConfig(yamlFile('empty.yaml', ''))).toEqual(loadConfig());
  });

  test('a bad value is reported in the parent that wrote it; a child may fix it', () => {
    const parent = yamlFile('bad-parent.yaml', 'model:\n  backbone: tiny\n  dropout: 2\n');
    const child = yamlFile('bad-child.yaml', 'extends: bad-parent.yaml\nmodel:\n  seed: 1\n');
    expect(errorOf(() => loadConfig(child)).message).toBe(`${parent}:3: model.dropout: expected a number >= 0 and < 1, got 2`);
    const fixed = yamlFile('fixed-child.yaml', 'extends: bad-parent.yaml\nmodel:\n  dropout: 0.1\n');
    expect(loadConfig(fixed).model.dropout).toBe(0.1);
  });

  test('a missing parent, a cycle and a non-string extends are reported at the extends line', () => {
    const missing = yamlFile('orphan.yaml', '# a comment\nextends: nowhere.yaml\n');
    expect(errorOf(() => loadConfig(missing)).message).toBe(`${missing}:2: extends: no such file ${path.join(dir, 'nowhere.yaml')}`);
    const a = yamlFile('cycle-a.yaml', 'extends: cycle-b.yaml\n');
    const b = yamlFile('cycle-b.yaml', 'extends: cycle-a.yaml\n');
    expect(errorOf(() => loadConfig(a)).message).toBe(`${b}:1: extends: cycle ${a} -> ${b} -> ${a}`);
    const typed = yamlFile('typed.yaml', 'extends: 3\n');
    expect(errorOf(() => loadConfig(typed)).message).toBe(`${typed}:1: extends: expected a path to another config file, got 3`);
  });
});

describe('validation messages name the file, the line, the key path and what was expected', () => {
  test('unknown key', () => {
    const f = yamlFile('unknown.yaml', 'model:\n  backbone: tiny\n  backbon: tiny\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:3: unknown key model.backbon (expected one of: ${MODEL_KEYS})`);
  });

  test('unknown section', () => {
    const f = yamlFile('section.yaml', 'modle:\n  seed: 1\n');
    // The list is the schema's own sections (new sections join it), starting with the original five.
    const sections = Object.keys(configSchema.shape);
    expect(sections.slice(0, 5)).toEqual(['model', 'input', 'engine', 'bench', 'export']);
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:1: unknown key modle (expected one of: ${sections.join(', ')})`);
  });

  test('wrong type', () => {
    const f = yamlFile('type.yaml', 'model:\n  embedding_size: abc\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:2: model.embedding_size: expected an integer in 16..4096, got "abc"`);
  });

  test('a section that is not a mapping', () => {
    const f = yamlFile('scalar-section.yaml', 'bench: 5\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(
      `${f}:1: bench: expected a mapping with keys batch_sizes, warmup, repeats, latency_iterations, got 5`,
    );
  });

  test('out of range, including a list item, at its own line', () => {
    const f = yamlFile('range.yaml', 'engine:\n  threads: -1\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:2: engine.threads: expected an integer >= 0 (0 lets onnxruntime choose), got -1`);
    const g = yamlFile('list.yaml', 'bench:\n  batch_sizes:\n    - 1\n    - 0\n');
    expect(errorOf(() => loadConfig(g)).message).toBe(`${g}:4: bench.batch_sizes[1]: expected an integer >= 1, got 0`);
    const h = yamlFile('empty-list.yaml', 'bench:\n  batch_sizes: []\n');
    expect(errorOf(() => loadConfig(h)).message).toBe(`${h}:2: bench.batch_sizes: expected a non-empty list, each item an integer >= 1, got []`);
    const i = yamlFile('fraction.yaml', 'model:\n  seed: 1.5\n');
    expect(errorOf(() => loadConfig(i)).message).toBe(`${i}:2: model.seed: expected an integer in 0..4294967295, got 1.5`);
  });

  test('bad enum value lists the choices', () => {
    const f = yamlFile('enum.yaml', 'model:\n  backbone: resnet51\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:2: model.backbone: expected one of ${Object.keys(BACKBONES).join(', ')}, got "resnet51"`);
  });

  test('an empty value', () => {
    const f = yamlFile('null.yaml', 'input:\n  color:\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:2: input.color: expected one of rgb, bgr, got an empty value`);
  });

  test('several problems: the first in the message, all in problems', () => {
    const f = yamlFile('many.yaml', 'model:\n  seed: -1\nbench:\n  repeats: 0\n');
    const err = errorOf(() => loadConfig(f));
    expect(err.message).toBe(`${f}:2: model.seed: expected an integer in 0..4294967295, got -1 (and 1 more)`);
    expect(err.problems).toEqual([
      `${f}:2: model.seed: expected an integer in 0..4294967295, got -1`,
      `${f}:4: bench.repeats: expected an integer >= 1, got 0`,
    ]);
  });

  test('a __proto__ key is an ordinary unknown key', () => {
    const f = yamlFile('proto.yaml', 'model:\n  __proto__:\n    polluted: true\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:2: unknown key model.__proto__ (expected one of: ${MODEL_KEYS})`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('YAML syntax errors with their line', () => {
    const dup = yamlFile('dup.yaml', 'model:\n  seed: 1\n  seed: 2\n');
    expect(errorOf(() => loadConfig(dup)).message).toBe(`${dup}:3: invalid YAML: Map keys must be unique`);
    const broken = yamlFile('broken.yaml', 'model:\n  seed: 1\nbench:\n  batch_sizes: [1, 8\n');
    expect(errorOf(() => loadConfig(broken)).message).toMatch(new RegExp(`^${broken}:[45]: invalid YAML: .+$`));
  });

  test('a file that is not a mapping', () => {
    const f = yamlFile('list-top.yaml', '- model\n- bench\n');
    expect(errorOf(() => loadConfig(f)).message).toBe(`${f}:1: expected a mapping of sections (model, input, ...), got ["model","bench"]`);
  });

  test('a path inside the working directory is shown as given', () => {
    yamlFile('rel.yaml', 'model:\n  dropout: -0.5\n');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(errorOf(() => loadConfig('rel.yaml')).message).toBe('rel.yaml:2: model.dropout: expected a number >= 0 and < 1, got -0.5');
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('--set', () => {
  test('overrides scalars, lists and enums after the files; later sets win', () => {
    const c = loadConfig('tiny', ['model.embedding_size=256', 'bench.batch_sizes=[1,8]', 'engine.provider=cuda', 'model.embedding_size=1024']);
    expect(c.model.embedding_size).toBe(1024);
    expect(c.bench.batch_sizes).toEqual([1, 8]);
    expect(c.engine.provider).toBe('cuda');
    expect(c.model.backbone).toBe('tiny');
  });

  test('a whole section as a flow mapping merges into the files', () => {
    const c = loadConfig(undefined, ['export={l2_normalize: true}']);
    expect(c.export).toEqual({ l2_normalize: true, verify: true });
  });

  test('a bad value names the --set argument', () => {
    expect(errorOf(() => loadConfig(undefined, ['model.embedding_size=abc'])).message).toBe(
      '--set model.embedding_size=abc: expected an integer in 16..4096, got "abc"',
    );
    expect(errorOf(() => loadConfig(undefined, ['bench.batch_sizes=[1,0]'])).message).toBe(
      '--set bench.batch_sizes=[1,0]: bench.batch_sizes[1]: expected an integer >= 1, got 0',
    );
    expect(errorOf(() => loadConfig(undefined, ['model.embedding_size.foo=1'])).message).toBe(
      '--set model.embedding_size.foo=1: model.embedding_size: expected an integer in 16..4096, got {"foo":1}',
    );
  });

  test('an unknown key path names the --set argument', () => {
    expect(errorOf(() => loadConfig(undefined, ['model.backbon=tiny'])).message).toBe(
      `--set model.backbon=tiny: unknown key model.backbon (expected one of: ${MODEL_KEYS})`,
    );
  });

  test('sections merge: an empty mapping changes nothing, null replaces and is reported', () => {
    expect(loadConfig(undefined, ['input={}'])).toEqual(loadConfig());
    expect(errorOf(() => loadConfig(undefined, ['input=null'])).message).toBe(
      '--set input=null: expected a mapping with keys size, color, mean, std, got an empty value',
    );
  });

  test('malformed arguments', () => {
    expect(errorOf(() => loadConfig(undefined, ['model.seed'])).message).toBe(
      '--set model.seed: expected key.path=value, e.g. --set model.embedding_size=256',
    );
    expect(errorOf(() => loadConfig(undefined, ['model..seed=1'])).message).toBe(
      '--set model..seed=1: "model..seed" is not a key path (expected dotted keys, e.g. model.embedding_size)',
    );
    expect(errorOf(() => loadConfig(undefined, ['bench.batch_sizes=[1,8'])).message).toMatch(
      /^--set bench\.batch_sizes=\[1,8: the value is not valid YAML \(.+\)$/,
    );
  });
});

describe('problems', () => {
  test('a key the schema needs but no layer supplies is reported as missing', () => {
    const schema = z.strictObject({ train: z.strictObject({ epochs: int({ min: 1 }) }) });
    const data = { train: {} };
    const result = schema.safeParse(data);
    expect(result.success).toBe(false);
    const problems = problemsOf(schema, data, result.error!.issues);
    expect(problems.map((p) => describeProblem(p))).toEqual(['missing key train.epochs (expected an integer >= 1)']);
  });
});
