/** Parsers of command-line values shared by the commands, refusing a bad value as commander's usage error. */
import { InvalidArgumentError } from 'commander';

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port, 0 to 65535');
  return n;
}

/** A repeatable, comma-separated option (`--allow-url a,b --allow-url c`), also as one variable (`a,b,c`). */
export function list(value: string, previous: string[]): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}
