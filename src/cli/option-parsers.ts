/** Parsers of option values shared by the commands; a bad value is a usage error naming the option. */
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
