/**
 * The schema of segserve's database, as migrations applied in order (migrate.ts). To change the schema, append
 * an entry with the next version; never edit one that has shipped (a changed checksum is refused at open).
 * One dialect: the SQL runs on the embedded engine and on PostgreSQL 13 or newer, and the Database contract
 * suite applies this list on both.
 */
import type { Migration } from './migrate.js';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'installation',
    // One row naming this database: dataset versions and exports (issue 10) record the installation they came
    // from, so two installations' versions are never taken for one another.
    sql: `
      CREATE TABLE installation (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        created_at timestamptz NOT NULL DEFAULT now(),
        only_row boolean NOT NULL DEFAULT true UNIQUE CHECK (only_row)
      );
      INSERT INTO installation DEFAULT VALUES;
    `,
  },
  {
    version: 2,
    name: 'active-learning',
    // The active-learning loop of src/learning: samples (kept predictions, the annotation queue), their labels,
    // datasets with immutable versions, and retraining triggers. Bytes live in the BlobStore; rows hold keys.
    sql: `
      -- A prediction kept for labelling. id = hex SHA-256 of "<model>\\n<version>\\n<image sha256>": the same
      -- image kept twice for one model version is one sample, so a replayed spool never stores it twice.
      CREATE TABLE samples (
        id text PRIMARY KEY,
        model text NOT NULL,
        version integer NOT NULL,
        variant text NOT NULL,
        prediction_id text NOT NULL,
        request_id text,
        source text NOT NULL,
        task text NOT NULL,
        strategy text NOT NULL,
        uncertainty double precision NOT NULL,
        image_key text NOT NULL,
        image_sha256 text NOT NULL,
        image_format text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        -- The prediction as a label document (src/learning/label-document.ts): what the annotator starts from.
        prediction_key text NOT NULL,
        classes text[] NOT NULL DEFAULT '{}',
        predicted_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'labelled', 'rejected')),
        skip_count integer NOT NULL DEFAULT 0,
        claimed_by text,
        claim_expires_at timestamptz,
        UNIQUE (model, version, image_sha256)
      );
      CREATE INDEX samples_queue ON samples (model, state, uncertainty DESC);

      -- The label a person submitted for a sample, as a label document in the BlobStore (content-addressed).
      CREATE TABLE labels (
        sample_id text PRIMARY KEY REFERENCES samples (id),
        label_key text NOT NULL,
        label_sha256 text NOT NULL,
        submitted_as text NOT NULL CHECK (submitted_as IN ('accepted', 'png', 'rle', 'polygons')),
        labelled_by text,
        labelled_at timestamptz NOT NULL DEFAULT now()
      );

      -- A named dataset: its task and classes are fixed at creation (a label's class ids index them).
      CREATE TABLE datasets (
        name text PRIMARY KEY,
        task text NOT NULL,
        labels text[] NOT NULL,
        model text,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      -- The working set of a dataset: what its next snapshot takes. A submitted label upserts its image into the
      -- dataset named after the sample's model; imports add items too. One label per image.
      CREATE TABLE dataset_items (
        dataset text NOT NULL REFERENCES datasets (name),
        image_sha256 text NOT NULL,
        image_key text NOT NULL,
        label_sha256 text NOT NULL,
        label_key text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        sample_id text REFERENCES samples (id),
        source text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dataset, image_sha256)
      );

      -- An immutable version: id = hex SHA-256 of its manifest (sorted image hash, label hash, split lines), as
      -- DVC names data by content. The manifest itself is in the BlobStore.
      CREATE TABLE dataset_versions (
        dataset text NOT NULL REFERENCES datasets (name),
        id text NOT NULL,
        manifest_key text NOT NULL,
        items integer NOT NULL,
        train integer NOT NULL,
        validation integer NOT NULL,
        parent text,
        note text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (dataset, id)
      );

      -- A retraining trigger that fired: why, the dataset version it snapshotted, each hook's outcome.
      CREATE TABLE retrain_triggers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        model text NOT NULL,
        dataset text NOT NULL,
        dataset_version text,
        reason text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
        hooks jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      );
      CREATE INDEX retrain_triggers_model ON retrain_triggers (model, created_at DESC);
    `,
  },
  {
    version: 3,
    name: 'model-lifecycle',
    // The model lifecycle of src/lifecycle: aliases that requests name in place of a version (every replica reads
    // them here), and each model's history: uploads, evaluations, promotions, refusals and rollbacks.
    sql: `
      -- previous_version: where the alias pointed before its last change, so a rollback can put it back.
      CREATE TABLE model_aliases (
        model text NOT NULL,
        alias text NOT NULL,
        version integer NOT NULL,
        previous_version integer,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text NOT NULL,
        PRIMARY KEY (model, alias)
      );
      -- One evaluation of a model version on a dataset; main_metric is what the promotion gate compares.
      CREATE TABLE model_evaluations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        model text NOT NULL,
        version integer NOT NULL,
        dataset text NOT NULL,
        metric text NOT NULL,
        value double precision NOT NULL,
        report jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX model_evaluations_version ON model_evaluations (model, version, created_at DESC);
      -- What happened to a model's versions, newest last; details depend on the kind.
      CREATE TABLE model_history (
        id bigserial PRIMARY KEY,
        model text NOT NULL,
        version integer,
        kind text NOT NULL,
        actor text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX model_history_model ON model_history (model, id);
    `,
  },
  {
    version: 4,
    name: 'traffic-policies',
    // Endpoints' traffic policies (src/lifecycle/traffic*.ts): which variants answer a name, by weight, and which
    // shadow it. Every replica reads them here, as it reads aliases; the history says who changed what, when.
    sql: `
      -- policy: the policy as the admin API took it (variants or the canary shorthand, sticky, shadows).
      CREATE TABLE traffic_policies (
        endpoint text PRIMARY KEY,
        policy jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text NOT NULL
      );
      -- One change of an endpoint's policy: kind policy_set or policy_removed, the policy before and after
      -- (null where there was or is none).
      CREATE TABLE traffic_history (
        id bigserial PRIMARY KEY,
        endpoint text NOT NULL,
        kind text NOT NULL,
        actor text NOT NULL,
        policy jsonb,
        previous jsonb,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX traffic_history_endpoint ON traffic_history (endpoint, id);
    `,
  },
  {
    version: 5,
    name: 'jobs',
    // Batch jobs (src/jobs): one row per job, one per input. The queue carries only ids; what a job is, and
    // where each input stands, lives here, so any API replica answers for it and any worker picks an input up.
    sql: `
      -- state: running -> completed | failed (every input failed) | cancelled, through cancelling. Only the
      -- finalize step leaves running or cancelling, once, so a job's end is recorded (and announced) once.
      -- target: {model, version?} or {endpoint}; spec: formats, output location, webhook URL; the counters
      -- move in the same transaction as the input they count, and only from pending, so a redelivered input
      -- never counts twice.
      CREATE TABLE jobs (
        id text PRIMARY KEY,
        idempotency_key text UNIQUE,
        state text NOT NULL,
        source text NOT NULL,
        target jsonb NOT NULL,
        spec jsonb NOT NULL,
        webhook_secret text,
        total integer NOT NULL,
        done integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        cancelled integer NOT NULL DEFAULT 0,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        progressed_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        webhook jsonb
      );
      CREATE INDEX jobs_created ON jobs (created_at DESC);
      CREATE INDEX jobs_open ON jobs (state) WHERE state IN ('running', 'cancelling');
      -- input: {key} or {url}; name: the base of its outputs under the job's output location; image_id: its
      -- COCO image id. state: pending -> done | failed | cancelled; outputs: the keys written for it.
      CREATE TABLE job_inputs (
        job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx integer NOT NULL,
        input jsonb NOT NULL,
        name text NOT NULL,
        image_id integer NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        error jsonb,
        outputs jsonb,
        served_by jsonb,
        finished_at timestamptz,
        PRIMARY KEY (job_id, idx)
      );
      CREATE INDEX job_inputs_pending ON job_inputs (job_id, idx) WHERE state = 'pending';
    `,
  },
  {
    version: 6,
    name: 'training-runs',
    // Runs of the reference trainer (src/learning/training): what was trained on what, how each epoch went, and
    // what became of the result (the version it was uploaded as, the promotion gate's verdict), for the run
    // history beside a model's version history.
    sql: `
      -- kind: unet | classifier. state: running -> succeeded | failed. params: the trainer's options; epochs:
      -- one object per epoch as the trainer reported it; metrics: the final validation metrics; produced: the
      -- version the upload made, with the gate's decision, once uploaded.
      CREATE TABLE training_runs (
        id text PRIMARY KEY,
        model text NOT NULL,
        kind text NOT NULL,
        state text NOT NULL,
        dataset text,
        dataset_version text,
        code_version text,
        params jsonb NOT NULL DEFAULT '{}',
        epochs jsonb NOT NULL DEFAULT '[]',
        metrics jsonb,
        produced jsonb,
        error text,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      );
      CREATE INDEX training_runs_model ON training_runs (model, started_at DESC);
    `,
  },
];
