/**
 * Drift monitoring wired to the serving core: one DriftMonitor per model version, fed by every
 * `prediction.completed` (input signals from the pixel statistics the runtime measured while filling the
 * tensor, so nothing is decoded twice; output signals from the event's summary). A crossing of the threshold, or a fall back below it,
 * logs a warning and publishes `drift.detected`; the Prometheus gauges `segserve_drift_score` and
 * `segserve_drift_detected` are read from the monitors at scrape time.
 */
import { Gauge, type Registry } from 'prom-client';
import type { LoadedVersion } from '../models/index.js';
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
  readonly #monitors = new Map<string, Promise<Watched | undefined>>();
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
    // A version that went away takes its monitor with it; one reloaded (new file, new config) starts afresh.
    service.events.on('model.unloaded', 'drift', (event) => this.forget(event.model, event.version));
    service.events.on('model.loaded', 'drift', (event) => {
      if (event.replaced) this.forget(event.model, event.version);
    });
  }

  /** Drops the drift monitor of a model version (unloaded, or replaced by a reload). */
  forget(model: string, version: number): void {
    const key = `${model} ${version}`;
    this.#monitors.delete(key);
    this.#ready.delete(key);
  }

  /** The state of every drift-monitored model version (reference, window, scores, detected). */
  states(): DriftState[] {
    return [...this.#ready.values()].map((monitor) => monitor.state());
  }

  /** Feeds one prediction to its version's monitor (exposed for tests; the event subscription calls it). */
  async observe(event: PredictionCompleted): Promise<void> {
    if (event.summary.task === 'tensors') return;
    const watched = await this.#monitorFor(event.model, event.version);
    if (!watched) return;
    const { monitor, classes } = watched;
    const output = outputSignalsOf(event.summary, event.uncertainty, classes);
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

  #monitorFor(model: string, version: number): Promise<Watched | undefined> {
    const key = `${model} ${version}`;
    let monitor = this.#monitors.get(key);
    if (!monitor) {
      let loaded: LoadedVersion;
      try {
        loaded = this.#service.repository.resolve(model, version);
      } catch {
        // Unloaded between the prediction and its event: nothing more of it will be predicted.
        return Promise.resolve(undefined);
      }
      const dir = this.#service.repository.get(model)?.dir ?? '.';
      const opening = openDriftMonitor(loaded, dir).then(
        (opened) => {
          // Forgotten while opening (unloaded, reloaded): not kept.
          if (opened && this.#monitors.get(key) === opening) this.#ready.set(key, opened);
          return opened && { monitor: opened, classes: loaded.labels.length };
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
      monitor = opening;
      this.#monitors.set(key, monitor);
    }
    return monitor;
  }
}

interface Watched {
  monitor: DriftMonitor;
  /** The version's class count, for the output signals. */
  classes: number;
}
