/**
 * Drift monitoring wired to the serving core: one DriftMonitor per model version, fed by every
 * `prediction.completed` (input signals from the pixel statistics the runtime measured while filling the
 * tensor, so nothing is decoded twice; output signals from the event's summary). A crossing of the threshold, or a fall back below it,
 * logs a warning and publishes `drift.detected`; the Prometheus gauges `segserve_drift_score` and
 * `segserve_drift_detected` are read from the monitors at scrape time.
 */
import { Gauge, type Registry } from 'prom-client';
import type { PredictionCompleted } from '../serving/events.js';
import type { InferenceService } from '../serving/service.js';
import {
  type DriftMonitor,
  type DriftState,
  inputSignalsOf,
  openDriftMonitor,
  outputSignalsOf,
} from './drift/index.js';

export type DriftLog = (level: 'warn' | 'info', fields: Record<string, unknown>, message: string) => void;

export class DriftWatch {
  readonly #service: InferenceService;
  readonly #log: DriftLog;
  /** By `model version`; undefined where drift is disabled or the baseline was refused. */
  readonly #monitors = new Map<string, Promise<DriftMonitor | undefined>>();
  readonly #ready = new Map<string, DriftMonitor>();

  constructor(service: InferenceService, options: { registry?: Registry; log: DriftLog }) {
    this.#service = service;
    this.#log = options.log;
    const registers = options.registry ? [options.registry] : [];
    const monitors = () => this.states();
    new Gauge({
      name: 'segserve_drift_score',
      help: 'Population Stability Index of each drift signal (rolling window vs reference), per model version.',
      labelNames: ['model', 'version', 'signal'],
      registers,
      collect() {
        this.reset();
        for (const state of monitors()) {
          for (const [signal, score] of Object.entries(state.signals)) {
            if (score !== undefined)
              this.set({ model: state.model, version: String(state.version), signal }, score);
          }
        }
      },
    });
    new Gauge({
      name: 'segserve_drift_detected',
      help: 'Whether drift is detected (1) for a model version: its largest PSI crossed the threshold.',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const state of monitors()) {
          this.set({ model: state.model, version: String(state.version) }, state.detected ? 1 : 0);
        }
      },
    });
    service.events.on('prediction.completed', 'drift', (event) => this.observe(event));
  }

  /** The state of every drift-monitored model version (reference, window, scores, detected). */
  states(): DriftState[] {
    return [...this.#ready.values()].map((monitor) => monitor.state());
  }

  /** Feeds one prediction to its version's monitor (exposed for tests; the event subscription calls it). */
  async observe(event: PredictionCompleted): Promise<void> {
    if (event.summary.task === 'tensors') return;
    const monitor = await this.#monitorFor(event.model, event.version);
    if (!monitor) return;
    const loaded = this.#service.repository.resolve(event.model, event.version);
    const output = outputSignalsOf(event.summary, event.uncertainty, loaded.labels.length);
    const { imageStatistics, image } = event;
    const input = imageStatistics && image && inputSignalsOf(imageStatistics, image.width, image.height);
    const change = monitor.observe({ input, output });
    if (!change) return;
    this.#log(
      change.detected ? 'warn' : 'info',
      { model: change.model, version: change.version, score: change.score, signal: change.signal },
      change.detected ? 'drift detected' : 'drift cleared',
    );
    this.#service.events.emit({ type: 'drift.detected', at: Date.now(), ...change });
  }

  #monitorFor(model: string, version: number): Promise<DriftMonitor | undefined> {
    const key = `${model} ${version}`;
    let monitor = this.#monitors.get(key);
    if (!monitor) {
      const loaded = this.#service.repository.resolve(model, version);
      const dir = this.#service.repository.get(model)?.dir ?? '.';
      monitor = openDriftMonitor(loaded, dir).then(
        (opened) => {
          if (opened) this.#ready.set(key, opened);
          return opened;
        },
        (error: unknown) => {
          // A baseline that does not fit: said once, and the model serves without drift monitoring.
          this.#log(
            'warn',
            { model, version, error: error instanceof Error ? error.message : String(error) },
            'drift monitoring off',
          );
          return undefined;
        },
      );
      this.#monitors.set(key, monitor);
    }
    return monitor;
  }
}
