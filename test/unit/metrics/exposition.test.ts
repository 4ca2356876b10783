import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  acceptsGzip,
  escapeLabelValue,
  formatNumber,
  gaugeHeader,
  negotiateFormat,
  promTextToOpenMetrics,
  titleCase,
} from '../../../src/metrics/exposition.ts';

describe('exposition format helpers', () => {
  it('escapes backslash, double quote and line feed in label values, nothing else', () => {
    assert.equal(escapeLabelValue('plain value: ok'), 'plain value: ok');
    assert.equal(escapeLabelValue('a\\b"c"\nd\te'), 'a\\\\b\\"c\\"\\nd\te');
    assert.equal(escapeLabelValue('ünïcode ✓'), 'ünïcode ✓');
  });

  it('prints numbers as Go prints Trivy-Operator scores, never in exponent notation', () => {
    assert.equal(formatNumber(9.8), '9.8');
    assert.equal(formatNumber(7), '7');
    assert.equal(formatNumber(0), '0');
    assert.equal(formatNumber(1e-7), '0.0000001');
    assert.equal(formatNumber(1e21), '1000000000000000000000');
    assert.equal(formatNumber(Number.NaN), 'NaN');
  });

  it('title-cases severities the way Go cases.Title does', () => {
    assert.equal(titleCase('CRITICAL'), 'Critical');
    assert.equal(titleCase('NEGLIGIBLE'), 'Negligible');
    assert.equal(titleCase('very high'), 'Very High');
    assert.equal(titleCase(''), '');
  });

  it('writes gauge headers with escaped help text', () => {
    assert.equal(gaugeHeader('x', 'a\\b\nc'), '# HELP x a\\\\b\\nc\n# TYPE x gauge\n');
  });
});

describe('content negotiation', () => {
  it('answers Prometheus 2 and 3 with OpenMetrics', () => {
    assert.equal(
      negotiateFormat(
        'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      ),
      'openmetrics',
    );
    assert.equal(
      negotiateFormat(
        'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1',
      ),
      'openmetrics',
    );
  });

  it('answers browsers, curl, wildcards and plain-text scrapers with the 0.0.4 text format', () => {
    assert.equal(negotiateFormat(undefined), 'prometheus');
    assert.equal(negotiateFormat('*/*'), 'prometheus');
    assert.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
    assert.equal(negotiateFormat('text/html,application/xhtml+xml,*/*;q=0.8'), 'prometheus');
    assert.equal(negotiateFormat('application/openmetrics-text;q=0,text/plain'), 'prometheus');
    assert.equal(negotiateFormat('application/openmetrics-text;version=2.0.0'), 'prometheus');
    assert.equal(negotiateFormat('text/plain;q=1,application/openmetrics-text;q=0.5'), 'prometheus');
  });

  it('accepts gzip only when the client says so', () => {
    assert.equal(acceptsGzip('gzip'), true);
    assert.equal(acceptsGzip('deflate, gzip;q=0.5'), true);
    assert.equal(acceptsGzip('*'), true);
    assert.equal(acceptsGzip('gzip;q=0'), false);
    assert.equal(acceptsGzip('gzip;q=0, *'), false);
    assert.equal(acceptsGzip('identity'), false);
    assert.equal(acceptsGzip(undefined), false);
  });
});

describe('promTextToOpenMetrics', () => {
  it('drops blank lines and names counter families without _total while samples keep it', () => {
    const prom = [
      '# HELP x_total Things.',
      '# TYPE x_total counter',
      'x_total{a="1"} 3',
      '',
      '# HELP y Gauge.',
      '# TYPE y gauge',
      'y 1',
      '',
      '# HELP z Counter without suffix.',
      '# TYPE z counter',
      'z 2',
      '',
    ].join('\n');
    assert.equal(
      promTextToOpenMetrics(prom),
      [
        '# HELP x Things.',
        '# TYPE x counter',
        'x_total{a="1"} 3',
        '# HELP y Gauge.',
        '# TYPE y gauge',
        'y 1',
        '# HELP z Counter without suffix.',
        '# TYPE z counter',
        'z_total 2',
        '',
      ].join('\n'),
    );
    assert.equal(promTextToOpenMetrics(''), '');
  });
});
