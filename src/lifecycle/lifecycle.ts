/**
 * Aliases, the promotion gate and rollback: how a version comes to take a model's traffic, and how it stops.
 *
 * - Any alias (`canary`, `shadow-b`, ...) can point at any ready version.
 * - Moving `stable` (what requests naming no version get) is a promotion: when the model's config names an
 *   evaluation dataset, the candidate is evaluated on it first, and refused when its main metric is worse than
 *   the current stable version's by more than the configured tolerance. The current version's figure is its
 *   last recorded evaluation on the same dataset and metric, or it is evaluated then. Both evaluations are
 *   recorded with their versions, the refusal too.
 * - A rollback puts an alias back where it pointed before its last change, as `kubectl rollout undo` does: a
 *   second rollback goes forward again.
 *
 * Evaluations run outside any transaction (they take seconds); the alias is then changed under a per-alias lock,
 * and only if it still points where it did when the comparison was made: two promotions racing cannot both win
 * against a stale figure.
 */
import { SegserveError } from '../errors.js';
import { DEFAULT_ALIAS, type InferenceService } from '../serving/service.js';
import type { Database } from '../storage/index.js';
import type { AliasTable } from './aliases.js';
import {
  type AliasRecord,
  deleteAlias,
  listEvaluations,
  lockAlias,
  recordEvaluation,
  recordHistory,
  writeAlias,
} from './store.js';

/** One evaluation of a version on the model's configured gate dataset. */
export interface GateEvaluation {
  dataset: string;
  metric: string;
  value: number;
  /** Largest drop of `value` below the current stable version's that is still promoted. */
  tolerance: number;
  report: object;
}

/**
 * Evaluates a version on its model's configured evaluation dataset; undefined when the model configures none
 * (its promotions are then not gated, and the history says so).
 */
export type GateEvaluator = (model: string, version: number) => Promise<GateEvaluation | undefined>;

export interface LifecycleOptions {
  service: InferenceService;
  database: () => Promise<Database>;
  aliases: AliasTable;
  evaluate: GateEvaluator;
}

export interface AliasChange {
  alias: AliasRecord;
  /** The gate's comparison, for a promotion of `stable` that was gated. */
  gate?: { metric: string; dataset: string; candidate: number; current: number | null; tolerance: number };
}

export class ModelLifecycle {
  readonly #options: LifecycleOptions;

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  /** Points `alias` at `version` (a promotion through the gate when the alias is `stable` and `force` is not set). */
  async setAlias(
    model: string,
    alias: string,
    version: number,
    actor: string,
    options: { force?: boolean; why?: string } = {},
  ): Promise<AliasChange> {
    this.#checkServable(model, version);
    const db = await this.#options.database();
    const promoting = alias === DEFAULT_ALIAS && !options.force;
    const before = this.#options.aliases.lookup(model, alias);
    const gate =
      promoting && before !== version ? await this.#gate(db, model, version, before, actor) : undefined;
    const record = await db.transaction(async (tx) => {
      const current = await lockAlias(tx, model, alias);
      if (gate && (current?.version ?? undefined) !== before) {
        throw new SegserveError('PROMOTION_REFUSED', {
          model,
          version,
          alias,
          reason: `"${alias}" moved to version ${current?.version} while version ${version} was evaluated; promote again`,
        });
      }
      const written = await writeAlias(tx, model, alias, version, current?.version ?? null, actor);
      await recordHistory(tx, {
        model,
        version,
        kind: alias === DEFAULT_ALIAS ? 'promoted' : 'alias_set',
        actor,
        details: {
          alias,
          from: current?.version ?? null,
          ...(gate ? { gate } : {}),
          ...(alias === DEFAULT_ALIAS && !gate
            ? { gated: false, why: options.why ?? (options.force ? 'forced' : 'no evaluation dataset') }
            : {}),
        },
      });
      return written;
    });
    this.#options.aliases.set(model, alias, version);
    return { alias: record, ...(gate ? { gate } : {}) };
  }

  async removeAlias(model: string, alias: string, actor: string): Promise<void> {
    const db = await this.#options.database();
    await db.transaction(async (tx) => {
      const current = await lockAlias(tx, model, alias);
      if (!current) throw new SegserveError('ALIAS_NOT_FOUND', { model, alias });
      await deleteAlias(tx, model, alias);
      await recordHistory(tx, {
        model,
        version: current.version,
        kind: 'alias_removed',
        actor,
        details: { alias },
      });
    });
    this.#options.aliases.set(model, alias, undefined);
  }

  /** Puts `alias` back where it pointed before its last change; effective for the next request. */
  async rollback(model: string, actor: string, alias = DEFAULT_ALIAS): Promise<AliasRecord> {
    if (!this.#options.service.repository.get(model)) throw new SegserveError('MODEL_NOT_FOUND', { model });
    const db = await this.#options.database();
    const record = await db.transaction(async (tx) => {
      const current = await lockAlias(tx, model, alias);
      if (!current || current.previousVersion === null) {
        throw new SegserveError('ROLLBACK_UNAVAILABLE', {
          model,
          alias,
          reason: current
            ? `it has pointed at version ${current.version} only`
            : 'the model has no such alias',
        });
      }
      const target = current.previousVersion;
      this.#checkServable(model, target);
      const written = await writeAlias(tx, model, alias, target, current.version, actor);
      await recordHistory(tx, {
        model,
        version: target,
        kind: 'rolled_back',
        actor,
        details: { alias, from: current.version },
      });
      return written;
    });
    this.#options.aliases.set(model, alias, record.version);
    return record;
  }

  /** A version an alias may point at: one that serves now. */
  #checkServable(model: string, version: number): void {
    // Throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND or MODEL_NOT_READY with the reason.
    this.#options.service.resolve({ model, version });
  }

  async #gate(
    db: Database,
    model: string,
    candidate: number,
    current: number | undefined,
    actor: string,
  ): Promise<AliasChange['gate']> {
    const evaluated = await this.#evaluate(db, model, candidate, actor);
    if (!evaluated) return undefined;
    const reference =
      current === undefined ? undefined : await this.#currentFigure(db, model, current, evaluated, actor);
    const gate = {
      metric: evaluated.metric,
      dataset: evaluated.dataset,
      candidate: evaluated.value,
      current: reference ?? null,
      tolerance: evaluated.tolerance,
    };
    if (reference !== undefined && evaluated.value < reference - evaluated.tolerance) {
      await recordHistory(db, {
        model,
        version: candidate,
        kind: 'promotion_refused',
        actor,
        details: { gate },
      });
      throw new SegserveError('PROMOTION_REFUSED', {
        model,
        version: candidate,
        alias: DEFAULT_ALIAS,
        reason: `${evaluated.metric} ${evaluated.value.toFixed(4)} on ${evaluated.dataset} is below version ${current}'s ${reference.toFixed(4)} by more than the tolerance ${evaluated.tolerance}`,
      });
    }
    return gate;
  }

  /** The current stable version's figure: its last evaluation on the same dataset and metric, else a new one. */
  async #currentFigure(
    db: Database,
    model: string,
    version: number,
    like: GateEvaluation,
    actor: string,
  ): Promise<number | undefined> {
    const recorded = (await listEvaluations(db, model)).find(
      (e) => e.version === version && e.dataset === like.dataset && e.metric === like.metric,
    );
    if (recorded) return recorded.value;
    return (await this.#evaluate(db, model, version, actor))?.value;
  }

  async #evaluate(
    db: Database,
    model: string,
    version: number,
    actor: string,
  ): Promise<GateEvaluation | undefined> {
    const evaluated = await this.#options.evaluate(model, version);
    if (!evaluated) return undefined;
    const record = await recordEvaluation(db, { model, version, ...evaluated });
    await recordHistory(db, {
      model,
      version,
      kind: 'evaluated',
      actor,
      details: { evaluation: record.id, dataset: record.dataset, metric: record.metric, value: record.value },
    });
    return evaluated;
  }
}
