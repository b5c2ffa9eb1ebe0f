/**
 * The metric names a PromQL expression reads, found by a small identifier scan rather than a parser: enough
 * for the expressions of deploy/ (selectors, functions, aggregations, binary operators, offsets, Grafana
 * variables). An identifier it does not know as a function or keyword counts as a metric name, so a typo in
 * a function name is reported too rather than ignored.
 */

/** PromQL functions of Prometheus 2.42, and the aggregation operators. */
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'cos',
  'cosh',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'deg',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'pi',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rad',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sin',
  'sinh',
  'sort',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'tan',
  'tanh',
  'time',
  'timestamp',
  'vector',
  'year',
  'start',
  'end',
  // Aggregation operators
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
]);

/** Keywords: binary set operators, modifiers, and the number literals written as words. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** Label lists of `by (...)`, `on (...)` and the like: names there are labels, not metrics. */
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi;

export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    // String literals (label values, label_replace arguments), with escapes inside.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Label matchers: `{model=~"..."}` holds label names only.
    .replace(/\{[^}]*\}/g, '{}')
    // Range and subquery selectors (`[5m]`, `[$__rate_interval]`, `[1h:1m]`).
    .replace(/\[[^\]]*\]/g, '[]')
    // Grafana variables outside those (`$model`, `${model}`, `$__interval`).
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(GROUPING, '$1 ()');
  const names = new Set<string>();
  // Numbers first (so `1d` or `1e3` is not read as the identifier `d` or `e3`), then identifiers.
  for (const match of stripped.matchAll(
    /\.?[0-9](?:[eE][+-][0-9]|[0-9a-zA-Z_.])*|[a-zA-Z_:][a-zA-Z0-9_:]*/g,
  )) {
    const token = match[0];
    if (/^[0-9.]/.test(token)) continue;
    const lower = token.toLowerCase();
    if (KEYWORDS.has(lower)) continue;
    const next = stripped.slice((match.index ?? 0) + token.length).trimStart();
    if (FUNCTIONS.has(lower) && (next.startsWith('(') || /^(by|without)\b/i.test(next))) continue;
    names.add(token);
  }
  return [...names];
}
