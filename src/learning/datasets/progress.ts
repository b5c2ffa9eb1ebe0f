/**
 * How long dataset work reports progress, without knowing where it goes: the command line passes its progress
 * bars (src/cli/progress.ts has this shape), the HTTP API passes nothing.
 */
export interface Progress {
  tick(detail?: string): void;
  stop(): void;
}

export type ProgressFactory = (total: number, label: string) => Progress;

const SILENT: Progress = { tick() {}, stop() {} };

export const noProgress: ProgressFactory = () => SILENT;
