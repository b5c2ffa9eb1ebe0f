/**
 * Every series name the monitoring files (deploy/prometheus, deploy/grafana) may query, as Prometheus stores
 * them: counters with `_total`, histograms as their `_bucket`, `_sum` and `_count` series (Prometheus 2.42
 * has no native histograms, so the bare histogram name never exists as a series).
 *
 * Written by hand from the metric names agreed in the monitoring issue, so that the rules and the dashboard
 * can be checked before /metrics exists. Once it does, replace this list (or check it) against the names of a
 * real /metrics answer; `up` is the one name Prometheus makes itself on each scrape, never in /metrics.
 */
/**
 * The batch jobs' metrics (src/jobs/job-metrics.ts): queue depths and job counts read at scrape time, the rest
 * counted where it happens. Exported by servers, which always run jobs, not by an app built without them.
 */
export const JOB_METRIC_NAMES = [
  'segserve_queue_messages',
  'segserve_jobs',
  'segserve_job_inputs_total',
  'segserve_job_input_seconds_bucket',
  'segserve_job_input_seconds_sum',
  'segserve_job_input_seconds_count',
  'segserve_job_retries_total',
  'segserve_job_duration_seconds_bucket',
  'segserve_job_duration_seconds_sum',
  'segserve_job_duration_seconds_count',
  'segserve_job_webhooks_total',
] as const;

export const METRIC_NAMES = [
  // Requests
  'segserve_requests_total',
  'segserve_request_duration_seconds_bucket',
  'segserve_request_duration_seconds_sum',
  'segserve_request_duration_seconds_count',
  'segserve_stage_duration_seconds_bucket',
  'segserve_stage_duration_seconds_sum',
  'segserve_stage_duration_seconds_count',
  'segserve_batch_size_bucket',
  'segserve_batch_size_sum',
  'segserve_batch_size_count',
  'segserve_inflight_requests',
  // Admission and models
  'segserve_queue_depth',
  'segserve_queue_capacity',
  'segserve_model_ready',
  'segserve_model_load_seconds',
  // Prediction quality
  'segserve_prediction_entropy_bucket',
  'segserve_prediction_entropy_sum',
  'segserve_prediction_entropy_count',
  'segserve_instance_score_bucket',
  'segserve_instance_score_sum',
  'segserve_instance_score_count',
  'segserve_class_predictions_total',
  'segserve_class_area_ratio_bucket',
  'segserve_class_area_ratio_sum',
  'segserve_class_area_ratio_count',
  // Drift
  'segserve_drift_score',
  'segserve_drift_detected',
  // Active learning: samples kept, refused, spooled and lost
  'segserve_samples_total',
  'segserve_sampler_refused_total',
  'segserve_sample_spool_items',
  'segserve_sample_spool_bytes',
  'segserve_sample_store_failures_total',
  // Shadow traffic: comparisons of shadow variants with the served answers
  'segserve_shadow_agreement_bucket',
  'segserve_shadow_agreement_sum',
  'segserve_shadow_agreement_count',
  'segserve_shadow_requests_total',
  'segserve_shadow_latency_difference_seconds_bucket',
  'segserve_shadow_latency_difference_seconds_sum',
  'segserve_shadow_latency_difference_seconds_count',
  ...JOB_METRIC_NAMES,
  // prom-client default metrics (collectDefaultMetrics)
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_seconds',
  // Made by Prometheus on each scrape (1 scraped, 0 failed), not by /metrics.
  'up',
] as const;
