/** How the command line reports errors: catalogue codes only, exit codes by who must act. */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { describeFailure, EXIT_FAILURES, EXIT_OK, EXIT_USAGE, itemErrorCode } from '../../src/cli/errors.js';
import { ERROR_CATALOGUE, SegserveError } from '../../src/errors.js';

describe('CLI errors', () => {
  it('an unforeseen error is INTERNAL_ERROR (a catalogue code), one line, exit code 1', () => {
    const failure = describeFailure(new TypeError('x is not a function'));
    expect(failure.code).toBe('INTERNAL_ERROR');
    expect(failure.code! in ERROR_CATALOGUE).toBe(true);
    expect(failure.exitCode).toBe(EXIT_FAILURES);
    expect(failure.line.split('\n')).toHaveLength(1);
    expect(failure.line).toMatch(/^error INTERNAL_ERROR: x is not a function/);
    expect(itemErrorCode(new Error('boom'))).toBe('INTERNAL_ERROR');
    expect(itemErrorCode(new SegserveError('IMAGE_EMPTY'))).toBe('IMAGE_EMPTY');
  });

  it('catalogue errors and file system errors are setup errors: exit code 2', () => {
    const known = describeFailure(new SegserveError('MODEL_NOT_FOUND', { model: 'm' }));
    expect([known.line, known.exitCode]).toEqual(['error MODEL_NOT_FOUND: No model named "m".', EXIT_USAGE]);
    const system = Object.assign(new Error("EACCES: permission denied, open '/x'"), {
      code: 'EACCES',
      syscall: 'open',
      path: '/x',
    });
    expect(describeFailure(system)).toEqual({
      line: "error INVALID_ARGUMENT: EACCES: permission denied, open '/x'",
      exitCode: EXIT_USAGE,
      code: 'INVALID_ARGUMENT',
    });
  });

  it('commander: help and --version exit 0, usage errors 2 (commander printed them)', () => {
    expect(describeFailure(new CommanderError(0, 'commander.version', '0.1.0'))).toEqual({
      line: '',
      exitCode: EXIT_OK,
    });
    expect(describeFailure(new CommanderError(1, 'commander.unknownOption', 'x')).exitCode).toBe(EXIT_USAGE);
  });
});
