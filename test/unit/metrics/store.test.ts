import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK_REPORTS, buildLayout, SeriesStore, type StoreEvents } from '../../../src/metrics/index.ts';
import { ALL_FAMILIES, familyLines, fixture, promtoolCheck, snapshotText, type Report } from './support.ts';

type VulnerabilityReport = Report & {
  report: {
    summary: Record<string, number>;
    vulnerabilities: Record<string, unknown>[];
    updateTimestamp: string;
    artifact: Record<string, string>;
  };
};

function vulnerabilityReport(namespace: string, name: string): VulnerabilityReport {
  const report = fixture('vulnerabilityreport') as VulnerabilityReport;
  report.metadata.namespace = namespace;
  report.metadata.name = name;
  return report;
}

function recorder(): { events: StoreEvents; log: string[] } {
  const log: string[] = [];
  return {
    log,
    events: {
      warnings: (kind, code, count) => log.push(`warning ${kind} ${code} ${count}`),
      duplicates: (family, scope, count) => log.push(`duplicate ${family} ${scope} ${count}`),
      conflict: (family, _series, reports) => log.push(`conflict ${family} ${reports.join(',')}`),
    },
  };
}

const values = (text: string, name: string) =>
  familyLines(text, name).map((line) => line.slice(line.lastIndexOf(' ') + 1));

describe('SeriesStore', () => {
  it('serves exactly the series of the current reports: add, update, delete', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES));
    assert.equal(snapshotText(store.snapshot()), '');

    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'one'));
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'two'));
    let text = snapshotText(store.snapshot());
    assert.equal(familyLines(text, 'trivy_image_vulnerabilities').length, 10);
    assert.equal(familyLines(text, 'trivy_vulnerability_id').length, 8);
    assert.equal(store.seriesCount('vulnerabilityId'), 8);
    assert.match(text, /^# HELP trivy_image_vulnerabilities .*\n# TYPE trivy_image_vulnerabilities gauge\n/);
    const { status, output } = promtoolCheck(text);
    assert.equal(status, 0, output);

    // Update: one vulnerability fixed, counts changed; the old series must be gone, not doubled.
    const updated = vulnerabilityReport('team-a', 'one');
    updated.report.vulnerabilities.splice(0, 1);
    updated.report.summary.criticalCount = 1;
    store.upsert('VulnerabilityReport', updated);
    text = snapshotText(store.snapshot());
    assert.equal(familyLines(text, 'trivy_vulnerability_id').length, 7);
    assert.deepEqual(
      familyLines(text, 'trivy_image_vulnerabilities')
        .filter((line) => line.includes('name="one"'))
        .map((line) => line.slice(line.indexOf('severity='))),
      [
        'severity="Critical",k8s_label_app=""} 1',
        'severity="High",k8s_label_app=""} 0',
        'severity="Medium",k8s_label_app=""} 2',
        'severity="Low",k8s_label_app=""} 0',
        'severity="Unknown",k8s_label_app=""} 0',
      ],
    );

    // Delete through a relist tombstone, which carries only namespace and name.
    store.apply('VulnerabilityReport', 'DELETED', { metadata: { namespace: 'team-a', name: 'one' } });
    text = snapshotText(store.snapshot());
    assert.ok(!text.includes('name="one"'));
    assert.equal(familyLines(text, 'trivy_vulnerability_id').length, 4);
    store.apply('VulnerabilityReport', 'DELETED', vulnerabilityReport('team-a', 'two'));
    assert.equal(snapshotText(store.snapshot()), '');
    assert.equal(store.reportCount('VulnerabilityReport'), 0);
    assert.equal(store.bytes, 0);
  });

  it('packs blocks of reports into one member per family: the same text, far fewer bytes', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES));
    const count = BLOCK_REPORTS * 2 + 5;
    for (let i = 0; i < count; i++)
      store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', `r-${i}`));
    const unpackedSnapshot = store.snapshot();
    const before = snapshotText(unpackedSnapshot);
    const size = (snapshot: ReturnType<typeof store.snapshot>) =>
      snapshot.families.reduce(
        (sum, family) => sum + [...family.members()].reduce((n, member) => n + member.length, 0),
        0,
      );
    const unpackedBytes = size(unpackedSnapshot);
    assert.equal(store.unpackedBlocks, 3);
    assert.equal(store.packFor(Infinity), 0);
    const packed = store.snapshot();
    assert.equal(snapshotText(packed), before, 'packing changes no byte of the text');
    assert.ok(size(packed) * 3 < unpackedBytes, `${size(packed)} vs ${unpackedBytes}`);
    // A snapshot taken before packing still reads what it captured.
    assert.equal(snapshotText(unpackedSnapshot), before);

    // A change unpacks only its block; the text is right before and after re-packing.
    const updated = vulnerabilityReport('team-a', 'r-3');
    updated.report.summary.criticalCount = 7;
    store.upsert('VulnerabilityReport', updated);
    store.remove('VulnerabilityReport', 'team-a/r-70');
    assert.equal(store.unpackedBlocks, 2);
    const changed = snapshotText(store.snapshot());
    assert.equal(familyLines(changed, 'trivy_image_vulnerabilities').length, (count - 1) * 5);
    assert.equal(values(changed, 'trivy_image_vulnerabilities').filter((v) => v === '7').length, 1);
    store.packFor(Infinity);
    assert.equal(snapshotText(store.snapshot()), changed);
    // An older snapshot's report families are untouched by later changes and packing.
    assert.deepEqual(
      familyLines(snapshotText(packed), 'trivy_vulnerability_id'),
      familyLines(before, 'trivy_vulnerability_id'),
    );
    assert.deepEqual(
      familyLines(snapshotText(packed), 'trivy_image_vulnerabilities'),
      familyLines(before, 'trivy_image_vulnerabilities'),
    );
  });

  it('keeps a snapshot unchanged while reports change under a scrape', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES));
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'one'));
    const snapshot = store.snapshot();
    store.apply('VulnerabilityReport', 'DELETED', { metadata: { namespace: 'team-a', name: 'one' } });
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'one'));
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'two'));
    const text = snapshotText(snapshot);
    assert.equal(familyLines(text, 'trivy_vulnerability_id').length, 4);
  });

  it('aggregates per namespace and per distinct image, subtracting exactly what it added', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES));
    const older = vulnerabilityReport('team-a', 'one');
    older.report.updateTimestamp = '2025-06-01T00:00:00Z';
    older.report.summary.criticalCount = 5; // scanned with an older DB: differs from the newer report
    store.upsert('VulnerabilityReport', older);
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'two'));
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-b', 'three'));
    let text = snapshotText(store.snapshot());
    assert.deepEqual(familyLines(text, 'trivy_lookout_namespace_vulnerabilities').slice(0, 4), [
      'trivy_lookout_namespace_vulnerabilities{namespace="team-a",severity="Critical",fixable="true"} 4',
      'trivy_lookout_namespace_vulnerabilities{namespace="team-a",severity="Critical",fixable="false"} 3',
      'trivy_lookout_namespace_vulnerabilities{namespace="team-a",severity="High",fixable="true"} 0',
      'trivy_lookout_namespace_vulnerabilities{namespace="team-a",severity="High",fixable="false"} 0',
    ]);
    assert.deepEqual(values(text, 'trivy_lookout_namespace_vulnerabilities').slice(10), [
      '2',
      '0',
      '0',
      '0',
      '2',
      '0',
      '0',
      '0',
      '0',
      '0',
    ]);
    // One image, run by three containers, counted once (from the newest report).
    const image =
      'image_registry="ghcr.io",image_repository="aquasecurity/trivy-test-images",image_tag="alpine-39",image_digest="sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb"';
    assert.deepEqual(familyLines(text, 'trivy_lookout_image_vulnerabilities').slice(0, 2), [
      `trivy_lookout_image_vulnerabilities{${image},severity="Critical",fixable="true"} 2`,
      `trivy_lookout_image_vulnerabilities{${image},severity="Critical",fixable="false"} 0`,
    ]);
    assert.deepEqual(familyLines(text, 'trivy_lookout_image_containers'), [
      `trivy_lookout_image_containers{${image}} 3`,
    ]);

    store.remove('VulnerabilityReport', 'team-b/three');
    store.remove('VulnerabilityReport', 'team-a/two');
    text = snapshotText(store.snapshot());
    assert.equal(familyLines(text, 'trivy_lookout_namespace_vulnerabilities').length, 10);
    assert.deepEqual(values(text, 'trivy_lookout_namespace_vulnerabilities').slice(0, 2), ['2', '3']);
    assert.deepEqual(values(text, 'trivy_lookout_image_vulnerabilities').slice(0, 2), ['2', '3']);
    assert.deepEqual(values(text, 'trivy_lookout_image_containers'), ['1']);
    store.remove('VulnerabilityReport', 'team-a/one');
    assert.equal(snapshotText(store.snapshot()), '');
  });

  it('leaves out reports of namespaces that are not targeted, but not cluster-scoped ones', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES), {
      namespaceFilter: (namespace) => namespace.startsWith('team-'),
    });
    store.upsert('VulnerabilityReport', vulnerabilityReport('kube-system', 'one'));
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'two'));
    store.upsert('ClusterRbacAssessmentReport', fixture('clusterrbacassessmentreport'));
    const text = snapshotText(store.snapshot());
    assert.ok(!text.includes('kube-system'));
    assert.equal(familyLines(text, 'trivy_image_vulnerabilities').length, 5);
    assert.equal(familyLines(text, 'trivy_clusterrole_clusterrbacassessments').length, 4);
  });

  it('exports a series two reports share once, counts the conflict, and hands it over on delete', () => {
    const { events, log } = recorder();
    const store = new SeriesStore(buildLayout(ALL_FAMILIES), { events });
    const first = fixture('clustercompliancereport');
    const second = fixture('clustercompliancereport');
    second.metadata.name = 'copy-of-nsa';
    (second as unknown as { status: { summary: { failCount: number } } }).status.summary.failCount = 9;
    store.upsert('ClusterComplianceReport', first);
    store.upsert('ClusterComplianceReport', second);
    let text = snapshotText(store.snapshot());
    assert.deepEqual(values(text, 'trivy_cluster_compliance'), ['2', '2']);
    assert.equal(familyLines(text, 'trivy_compliance_info').length, 4);
    assert.equal(store.conflictCount('clusterCompliance'), 2);
    assert.ok(log.includes('duplicate trivy_cluster_compliance reports 1'));
    assert.ok(log.includes('conflict trivy_cluster_compliance k8s-nsa-1.0,copy-of-nsa'));
    assert.equal(promtoolCheck(text).status, 0);

    // Updating the first keeps it in charge: ownership must not flap on every write.
    store.upsert('ClusterComplianceReport', first);
    assert.deepEqual(values(snapshotText(store.snapshot()), 'trivy_cluster_compliance'), ['2', '2']);

    store.apply('ClusterComplianceReport', 'DELETED', { metadata: { name: 'k8s-nsa-1.0' } });
    text = snapshotText(store.snapshot());
    assert.deepEqual(values(text, 'trivy_cluster_compliance'), ['9', '2']);
    assert.equal(store.conflictCount('clusterCompliance'), 0);
  });

  it('reports warnings and duplicate rows through its events', () => {
    const { events, log } = recorder();
    const store = new SeriesStore(buildLayout(ALL_FAMILIES), { events });
    const report = vulnerabilityReport('team-a', 'dup');
    report.report.vulnerabilities.push(structuredClone(report.report.vulnerabilities[1] ?? {}));
    report.report.summary.highCount = '1' as unknown as number;
    store.upsert('VulnerabilityReport', report);
    assert.deepEqual(log, [
      'warning VulnerabilityReport invalid_count 1',
      'duplicate trivy_vulnerability_id report 1',
    ]);
    assert.equal(store.seriesCount('vulnerabilityId'), 4);
  });

  it('tells the age of the oldest report of each kind', () => {
    const store = new SeriesStore(buildLayout(ALL_FAMILIES));
    assert.equal(store.maxReportAgeSeconds('VulnerabilityReport'), undefined);
    store.upsert('VulnerabilityReport', vulnerabilityReport('team-a', 'one'));
    const now = Date.parse('2025-06-02T09:15:42Z');
    assert.equal(store.maxReportAgeSeconds('VulnerabilityReport', now), 3600);
  });
});
