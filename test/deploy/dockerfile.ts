/**
 * Reads a Dockerfile into its stages and instructions, and a .dockerignore into the paths it keeps: what
 * test/deploy/image.test.ts needs to run the build steps and lay out the stages as Docker would. Handles
 * comments, line continuations, `${ARG}` substitution from ARG defaults, exec-form JSON arrays and flags
 * (`--from`, `--chown`, `--mount`).
 */

export interface Instruction {
  keyword: string;
  /** Flags before the arguments, `--chown=1000:1000` as { chown: '1000:1000' }. */
  flags: Record<string, string>;
  /** The rest of the line, ARGs substituted. */
  text: string;
  /** The exec form's array, when the arguments are one. */
  exec?: string[];
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
  /** ARG defaults in effect in this stage (the global ones it redeclares, and its own). */
  args: Record<string, string>;
}

/** Logical lines: comments dropped, `\` continuations joined. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (current === '' && /^\s*#/.test(raw)) continue;
    if (current !== '' && /^\s*#/.test(raw)) continue;
    if (raw.endsWith('\\')) {
      current += `${raw.slice(0, -1)} `;
      continue;
    }
    current += raw;
    if (current.trim() !== '') lines.push(current.trim());
    current = '';
  }
  return lines;
}

const substitute = (text: string, args: Record<string, string>) =>
  text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced, bare) => {
    const name = braced ?? bare;
    return name in args ? args[name] : whole;
  });

function parseInstruction(line: string, args: Record<string, string>): Instruction {
  const [keyword] = line.split(/\s/, 1);
  let rest = line.slice(keyword.length).trim();
  const flags: Record<string, string> = {};
  for (let match = /^--([a-z-]+)=(\S+)\s*/.exec(rest); match; match = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    flags[match[1]] = match[2];
    rest = rest.slice(match[0].length);
  }
  const text = substitute(rest, args);
  const instruction: Instruction = { keyword: keyword.toUpperCase(), flags, text };
  if (text.startsWith('[')) instruction.exec = JSON.parse(text) as string[];
  return instruction;
}

function parseArg(text: string): [string, string | undefined] {
  const equals = text.indexOf('=');
  return equals < 0 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)];
}

export function parseDockerfile(text: string): Stage[] {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const stage = stages.at(-1);
    // FROM lines see the ARGs declared before the first FROM; other lines, their stage's.
    const instruction = parseInstruction(
      line,
      /^FROM\s/i.test(line) ? globalArgs : (stage?.args ?? globalArgs),
    );
    if (instruction.keyword === 'FROM') {
      const [from, , name] = instruction.text.split(/\s+/);
      stages.push({ from, name, instructions: [], args: {} });
      continue;
    }
    if (instruction.keyword === 'ARG') {
      const [name, value] = parseArg(instruction.text);
      if (!stage) globalArgs[name] = value ?? '';
      else stage.args[name] = value ?? globalArgs[name] ?? '';
    }
    if (!stage) continue;
    stage.instructions.push(instruction);
  }
  return stages;
}

/** `ENV A=1 B=2` as { A: '1', B: '2' } over a stage's ENV lines. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const pair of instruction.text.split(/\s+/)) {
      const [name, value] = parseArg(pair);
      env[name] = value ?? '';
    }
  }
  return env;
}

/** A .dockerignore pattern as a regular expression: `*` and `?` within a path segment, `**` across them. */
function patternRegex(pattern: string): RegExp {
  const glob = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (glob.startsWith('**/', i)) {
      source += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      source += '.*';
      i += 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * The build context a .dockerignore leaves, as Docker decides it: a path (relative, `/`-separated) is left out
 * when the last line that matches it, or a folder above it, is a pattern, and kept when that line is a `!`
 * pattern or no line matches.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const keep = line.startsWith('!');
      return { keep, regex: patternRegex(keep ? line.slice(1) : line) };
    });
  return (path) => {
    const segments = path.split('/');
    const paths = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
    let kept = true;
    for (const rule of rules) if (paths.some((p) => rule.regex.test(p))) kept = rule.keep;
    return kept;
  };
}
