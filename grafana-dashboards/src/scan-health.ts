import {
  CLUSTER,
  IMAGE,
  UIDS,
  cluster,
  datasource,
  namespace,
  runningImages,
  sel,
  type Scope,
} from './common.ts';
import {
  Grid,
  barGauge,
  customVariable,
  dashboard,
  queryVariable,
  stat,
  steps,
  table,
  thresholdsOverride,
  timeseries,
  type Dashboard,
} from './grafana.ts';

const JOB = 'job=~"$job"';
const scope: Scope = { namespace: true, severity: false };
/** An operator health series of the selected operator jobs. */
const health = (metric: string, ...matchers: string[]) => sel(metric, CLUSTER, JOB, ...matchers);

const LEADER = 'Only the leader scans; other replicas report 0.';
const SCANNED_IMAGES =
  'Images running in the selected namespaces only; the time of the last successful scan is known to the replica that made it, since it started.';
const HOUR = 3600;
/**
 * Images whose latest scan failed, once per image and reason (only the leader scans; a follower that
 * led before may still hold the series it had). The operator drops the series once a scan succeeds
 * or nothing runs the image, so no join with the running images is needed, and none is possible:
 * an image that never scanned has no report to join with, hence no namespace filter either.
 */
const failingImages = `max by (cluster, ${IMAGE}, reason) (${health('trivy_lookout_image_scan_failing')})`;
const FAILING =
  'All namespaces: the namespace filter does not apply, because an image that never scanned has no report, and so no namespace, to filter by. The series is dropped once a scan of the image succeeds or no workload runs it any more.';

/** Seconds since each running image was last scanned successfully. */
const sinceLastScan = `time() - max by (cluster, ${IMAGE}) (${health('trivy_lookout_image_last_successful_scan_timestamp_seconds')} * on (cluster, ${IMAGE}) group_left () ${runningImages(scope)})`;

export function scanHealthDashboard(): Dashboard {
  const grid = new Grid();
  grid.row('Operator');
  grid.add(
    stat({
      title: 'Replicas up',
      description:
        'trivy-lookout targets Prometheus scrapes successfully now. Every replica serves the same metrics; one of them (the leader) scans.',
      query: { expr: `sum(${health('up')})` },
      thresholds: steps('red', ['green', 1]),
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Scans queued',
      description: `Images waiting for a scan Job now. ${LEADER}`,
      query: { expr: `max(${health('trivy_lookout_scans_queued')})` },
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Scans running',
      description: `Scan Jobs running now (at most operator.scanJobsConcurrentLimit). ${LEADER}`,
      query: { expr: `max(${health('trivy_lookout_scans_running')})` },
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Scan failures',
      description:
        'Scans that failed in the dashboard’s time range, all reasons, retries included. Which images are failing now is in the Failing images table below; each failure is also a ScanFailed Event on the affected workloads and a line in the operator’s log.',
      query: { expr: `sum(increase(${health('trivy_lookout_scan_failures_total')}[$__range]))` },
      decimals: 0,
      thresholds: steps('green', ['orange', 1]),
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Last successful scan',
      description:
        'Time since the most recent successful scan of any image, by the replica that made it. Long gaps are normal on a quiet cluster: images are rescanned when their report TTL (24h by default) runs out.',
      query: {
        expr: `time() - max(${health('trivy_lookout_image_last_successful_scan_timestamp_seconds')})`,
      },
      unit: 's',
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Images not rescanned within TTL',
      description: `Running images whose last successful scan is older than the TTL chosen above (operator.scannerReportTTL, 24h by default). ${SCANNED_IMAGES}`,
      query: { expr: `count((${sinceLastScan}) > $ttl) or vector(0)` },
      thresholds: steps('green', ['orange', 1]),
    }),
    4,
    4,
  );

  grid.row('Trivy DB and failing scans');
  grid.stack(6, [
    [
      stat({
        title: 'Trivy DB age',
        description:
          'Age of the Trivy databases the latest successful scan used, from their build time (UpdatedAt), per database. ' +
          'trivy-db (the vulnerabilities) is published every 6 hours and every scan Job downloads the current one, so it is normally less than a day old: ' +
          'orange past 26h and red past 72h mean the downloads fail or the mirror in trivy.dbRepository stopped syncing, and CVEs published since go unreported. ' +
          'trivy-java-db is built once a day and only downloaded by scans that meet Java archives, so it may lag: orange past 3 days, red past 7. ' +
          'No value until a scan succeeds, and none in ClientServer mode (the Trivy server holds the DB). With several replicas the freshest one counts (a former leader keeps the DB it last saw).',
        query: {
          expr: `max by (db) (min by (cluster, db) (${health('trivy_lookout_trivy_db_age_seconds')}))`,
          legend: '{{db}}',
        },
        unit: 's',
        textMode: 'value_and_name',
        noValue: 'No scan yet',
        thresholds: steps('green', ['orange', 26 * HOUR], ['red', 72 * HOUR]),
        overrides: [
          thresholdsOverride('trivy-java-db', steps('green', ['orange', 72 * HOUR], ['red', 7 * 24 * HOUR])),
        ],
      }),
      4,
    ],
    [
      stat({
        title: 'Images failing to scan',
        description: `Images whose latest scan failed; they are retried with exponential backoff until a scan succeeds. ${FAILING}`,
        query: { expr: `count(group by (cluster, ${IMAGE}) (${failingImages})) or vector(0)` },
        thresholds: steps('green', ['orange', 1]),
      }),
      4,
    ],
  ]);
  grid.add(
    table({
      title: 'Failing images',
      description: `Every image whose latest scan failed, with the reason (image_pull, registry_auth, timeout, trivy_error, …) and for how long it has been failing with it: since the first failure seen in the dashboard’s time range, so at most that range. Its vulnerabilities are unknown, or as old as its last successful scan. ${FAILING}`,
      queries: [
        {
          expr: `sort_desc(time() - min by (cluster, ${IMAGE}, reason) (min_over_time(timestamp(${health('trivy_lookout_image_scan_failing')})[$__range:$__interval])) and on (cluster, ${IMAGE}, reason) ${failingImages})`,
          legend: 'Failing for',
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_registry: 'Registry',
        image_repository: 'Repository',
        image_tag: 'Tag',
        image_digest: 'Digest',
        reason: 'Reason',
      },
      order: ['Cluster', 'Registry', 'Repository', 'Tag', 'Digest', 'Reason', 'Failing for'],
      sortBy: { column: 'Failing for', desc: true },
      units: { 'Failing for': 's' },
    }),
    18,
    8,
  );

  grid.row('Scans');
  grid.add(
    timeseries({
      title: 'Scans finished per minute',
      description:
        'Finished scans by outcome (succeeded, failed). One scan covers every workload running the image.',
      queries: [
        {
          expr: `sum by (cluster, outcome) (rate(${health('trivy_lookout_scan_duration_seconds_count')}[$__rate_interval])) * 60`,
          legend: '{{outcome}}',
        },
      ],
      min: 0,
    }),
    8,
    8,
  );
  grid.add(
    timeseries({
      title: 'Scan failures by reason',
      description:
        'Failed scans by reason: image_pull, registry_auth, timeout, trivy_error, invalid_output, pod_killed, job_create, report_write, other. Failed scans are retried with exponential backoff.',
      queries: [
        {
          expr: `sum by (cluster, reason) (increase(${health('trivy_lookout_scan_failures_total')}[$__rate_interval])) > 0`,
          legend: '{{reason}}',
        },
      ],
      stack: true,
      min: 0,
    }),
    8,
    8,
  );
  grid.add(
    timeseries({
      title: 'Scan duration',
      description: 'Time from scan Job creation to result, median and 95th percentile, of successful scans.',
      queries: [0.5, 0.95].map((q) => ({
        expr: `histogram_quantile(${q}, sum by (cluster, le) (rate(${health('trivy_lookout_scan_duration_seconds_bucket', 'outcome="succeeded"')}[$__rate_interval])))`,
        legend: `p${q * 100}`,
      })),
      unit: 's',
      min: 0,
    }),
    8,
    8,
  );
  grid.add(
    timeseries({
      title: 'Scan queue',
      description: `Images waiting and scan Jobs running. ${LEADER}`,
      queries: [
        { expr: `max by (cluster) (${health('trivy_lookout_scans_queued')})`, legend: 'queued' },
        { expr: `max by (cluster) (${health('trivy_lookout_scans_running')})`, legend: 'running' },
      ],
      min: 0,
    }),
    12,
    7,
  );
  grid.add(
    timeseries({
      title: 'Trivy DB age over time',
      description:
        'Age of each Trivy database the scans used, from its build time: it grows steadily and drops when scans pick up a newer build, normally at least once a day for trivy-db. A line that only grows means the downloads fail.',
      queries: [
        {
          expr: `time() - max by (cluster, db) (${health('trivy_lookout_trivy_db_updated_timestamp_seconds')})`,
          legend: '{{db}}',
        },
      ],
      unit: 's',
      min: 0,
    }),
    12,
    7,
  );

  grid.row('Images');
  grid.add(
    table({
      title: 'Time since last successful scan, by image',
      description: `Every running image with the time since it was last scanned successfully, oldest first: orange past 24h, red past 48h (twice the default report TTL, when the TrivyLookoutReportsStale alert fires). ${SCANNED_IMAGES}`,
      queries: [{ expr: `sort_desc(${sinceLastScan})`, legend: 'Since last scan' }],
      rename: {
        cluster: 'Cluster',
        image_registry: 'Registry',
        image_repository: 'Repository',
        image_tag: 'Tag',
        image_digest: 'Digest',
      },
      order: ['Cluster', 'Registry', 'Repository', 'Tag', 'Digest', 'Since last scan'],
      sortBy: { column: 'Since last scan', desc: true },
      units: { 'Since last scan': 's' },
      colored: {
        'Since last scan': steps('green', ['orange', 86400], ['red', 172800]),
      },
    }),
    24,
    10,
  );

  grid.row('Reports and exporter');
  grid.add(
    barGauge({
      title: 'Reports by kind',
      description: 'Reports the exporter serves series for, by kind.',
      queries: [{ expr: `max by (cluster, kind) (${health('trivy_lookout_reports')})`, legend: '{{kind}}' }],
      thresholds: steps('blue'),
    }),
    8,
    8,
  );
  grid.add(
    barGauge({
      title: 'Oldest report, by kind',
      description:
        'Time since the least recently written report of each kind. Vulnerability reports are rewritten every report TTL (24h by default); other kinds only when their resource changes.',
      queries: [
        {
          expr: `max by (cluster, kind) (${health('trivy_lookout_report_max_age_seconds')})`,
          legend: '{{kind}}',
        },
      ],
      unit: 's',
      thresholds: steps('blue'),
    }),
    8,
    8,
  );
  grid.add(
    stat({
      title: 'Malformed report fields',
      description:
        'Malformed fields met while turning reports into series, in the dashboard’s time range (the series are still written; see trivy_lookout_report_warnings_total by kind and warning).',
      query: {
        expr: `sum(increase(${health('trivy_lookout_report_warnings_total')}[$__range])) or vector(0)`,
      },
      decimals: 0,
      thresholds: steps('green', ['orange', 1]),
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Watch restarts',
      description:
        'Kubernetes watches that ended and were restarted in the dashboard’s time range (see trivy_lookout_watch_restarts_total by watch and reason). A few per hour are normal; many mean API server trouble.',
      query: {
        expr: `sum(increase(${health('trivy_lookout_watch_restarts_total')}[$__range])) or vector(0)`,
      },
      decimals: 0,
      thresholds: steps('green', ['orange', 10]),
    }),
    4,
    4,
  );
  grid.add(
    timeseries({
      title: 'Scrape time',
      description: '95th percentile of the time to write one /metrics response, per replica.',
      queries: [
        {
          expr: `histogram_quantile(0.95, sum by (cluster, instance, le) (rate(${health('trivy_lookout_metrics_render_duration_seconds_bucket')}[$__rate_interval])))`,
          legend: '{{instance}}',
        },
      ],
      unit: 's',
      min: 0,
    }),
    12,
    7,
  );
  grid.add(
    timeseries({
      title: 'Memory',
      description: 'Resident memory of each replica.',
      queries: [
        {
          expr: `max by (cluster, instance) (${health('process_resident_memory_bytes')})`,
          legend: '{{instance}}',
        },
      ],
      unit: 'bytes',
      min: 0,
    }),
    12,
    7,
  );

  return dashboard({
    uid: UIDS.scanHealth,
    title: 'Trivy Lookout / Scan health',
    description:
      'Is trivy-lookout doing its job: replicas up, the Trivy DB’s age, which images fail to scan and why, scan queue, outcomes, failures by reason and durations, images not rescanned in time, reports served, and the exporter’s own cost.',
    tags: ['operator'],
    variables: [
      datasource(),
      cluster(),
      queryVariable({
        name: 'job',
        label: 'Job',
        description:
          'The Prometheus job(s) that scrape trivy-lookout (the Service name behind a ServiceMonitor).',
        query: `label_values(${sel('trivy_lookout_scans_queued', CLUSTER)}, job)`,
        multi: true,
        includeAll: true,
      }),
      namespace(),
      customVariable({
        name: 'ttl',
        label: 'Report TTL',
        description: 'Your operator.scannerReportTTL: images not rescanned within it are counted as late.',
        options: [
          { text: '12h', value: '43200' },
          { text: '24h', value: '86400' },
          { text: '48h', value: '172800' },
          { text: '7d', value: '604800' },
        ],
        multi: false,
        includeAll: false,
        selected: '86400',
      }),
    ],
    panels: grid.panels(),
  });
}
