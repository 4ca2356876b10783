/**
 * The chart's values.schema.json, generated (scripts/generate-chart-schema.ts; a unit test fails
 * on drift): every operator setting from the one settings table, at its Helm key, with the schema
 * of its parser, so Helm refuses early exactly what the operator would refuse and never more; and
 * the values that only the chart reads (image, resources, monitoring objects …), described here.
 */
import { SETTINGS } from './settings.ts';
import type { ValueSchema } from './parsers.ts';

type JsonObject = Record<string, unknown>;

/** Settings the chart sets itself: the pod's own namespace and the metrics port its probes use. */
const SET_BY_THE_CHART = new Set(['operator.namespace', 'operator.metricsBindAddress']);

/** Values read only by the chart's templates. */
const CHART_VALUES: JsonObject = {
  definitions: {
    optionalDuration: {
      type: 'string',
      pattern: '^(([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)?$',
    },
    labels: {
      type: 'object',
      additionalProperties: {
        type: 'string',
      },
    },
  },
  properties: {
    nameOverride: {
      type: 'string',
    },
    fullnameOverride: {
      type: 'string',
    },
    image: {
      type: 'object',
      properties: {
        repository: {
          type: 'string',
          minLength: 1,
        },
        tag: {
          type: 'string',
        },
        pullPolicy: {
          enum: ['Always', 'IfNotPresent', 'Never'],
        },
        pullSecrets: {
          type: 'array',
        },
      },
    },
    replicas: {
      type: 'integer',
      minimum: 0,
    },
    trivyOperator: {
      type: 'object',
      properties: {
        policiesConfig: {
          description: "ConfigMap data as YAML text (Trivy-Operator's form) or a map of key: text.",
          oneOf: [
            {
              type: 'string',
            },
            {
              type: 'object',
              additionalProperties: {
                type: 'string',
              },
            },
            {
              type: 'null',
            },
          ],
        },
      },
    },
    trivy: {
      type: 'object',
      properties: {
        externalRegoPoliciesEnabled: {
          description:
            "Trivy-Operator's switch for its policies ConfigMap; false here skips trivyOperator.policiesConfig.",
          oneOf: [
            {
              type: 'boolean',
            },
            {
              enum: ['true', 'false'],
            },
            {
              type: 'null',
            },
          ],
        },
      },
    },
    compliance: {
      type: 'object',
      properties: {
        specs: {
          type: 'array',
          items: {
            enum: ['k8s-cis-1.23', 'k8s-nsa-1.0', 'k8s-pss-baseline-0.1', 'k8s-pss-restricted-0.1'],
          },
        },
        cron: {
          type: 'string',
          minLength: 9,
        },
        reportType: {
          enum: ['summary', 'all'],
        },
      },
    },
    resources: {
      type: 'object',
    },
    podAnnotations: {
      $ref: '#/definitions/labels',
    },
    podLabels: {
      $ref: '#/definitions/labels',
    },
    nodeSelector: {
      $ref: '#/definitions/labels',
    },
    tolerations: {
      type: 'array',
    },
    affinity: {
      type: 'object',
    },
    priorityClassName: {
      type: 'string',
    },
    podSecurityContext: {
      type: 'object',
    },
    securityContext: {
      type: 'object',
    },
    serviceAccount: {
      type: 'object',
      properties: {
        create: {
          type: 'boolean',
        },
        name: {
          type: 'string',
        },
        annotations: {
          $ref: '#/definitions/labels',
        },
      },
    },
    rbac: {
      type: 'object',
      properties: {
        create: {
          type: 'boolean',
        },
        aggregateReportRoles: {
          type: 'boolean',
        },
      },
    },
    service: {
      type: 'object',
      properties: {
        annotations: {
          $ref: '#/definitions/labels',
        },
        port: {
          type: 'integer',
          minimum: 1,
          maximum: 65535,
        },
      },
    },
    serviceMonitor: {
      type: 'object',
      properties: {
        enabled: {
          type: 'boolean',
        },
        namespace: {
          type: 'string',
        },
        labels: {
          $ref: '#/definitions/labels',
        },
        interval: {
          oneOf: [
            {
              $ref: '#/definitions/optionalDuration',
            },
            {
              type: 'null',
            },
          ],
        },
        scrapeTimeout: {
          oneOf: [
            {
              $ref: '#/definitions/optionalDuration',
            },
            {
              type: 'null',
            },
          ],
        },
        honorLabels: {
          type: 'boolean',
        },
        endpointAdditionalProperties: {
          type: 'object',
        },
      },
    },
    prometheusRule: {
      type: 'object',
      properties: {
        enabled: {
          type: 'boolean',
        },
        namespace: {
          type: 'string',
        },
        labels: {
          $ref: '#/definitions/labels',
        },
      },
    },
    grafanaDashboards: {
      type: 'object',
      properties: {
        enabled: {
          type: 'boolean',
        },
        namespace: {
          type: 'string',
        },
        labels: {
          $ref: '#/definitions/labels',
        },
        folder: {
          type: 'string',
        },
        folderAnnotation: {
          type: 'string',
        },
        annotations: {
          $ref: '#/definitions/labels',
        },
      },
    },
  },
};

const string = { type: 'string' };
const map = { type: 'object' };
const list = { type: 'array' };
const nullable = (schema: ValueSchema): ValueSchema => ({ anyOf: [schema, { type: 'null' }] });

/** Trivy-Operator's names for chart values (its deploy/helm/values.yaml, v0.32.0) that the templates read too. */
const TRIVY_OPERATOR_CHART_VALUES: Record<string, ValueSchema> = {
  managedBy: string,
  'global.image.registry': string,
  'image.registry': string,
  'operator.replicas': { type: 'integer', minimum: 0 },
  'operator.revisionHistoryLimit': nullable({ type: 'integer', minimum: 0 }),
  'operator.labels': map,
  'operator.annotations': map,
  'operator.podLabels': map,
  extraEnv: list,
  volumes: list,
  volumeMounts: list,
  hostAliases: list,
  automountServiceAccountToken: { type: 'boolean' },
  'service.metricsPort': nullable({ type: 'integer', minimum: 1, maximum: 65535 }),
  'service.type': { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
  'service.headless': { type: 'boolean' },
  'service.metricsAppProtocol': string,
  'service.nodePort': nullable({ type: 'integer', minimum: 1, maximum: 65535 }),
  'serviceMonitor.annotations': map,
  'trivy.image.registry': string,
  'trivy.image.repository': string,
  'trivy.image.tag': { type: ['string', 'number'] },
  'trivy.image.pullPolicy': nullable({ enum: ['Always', 'IfNotPresent', 'Never', ''] }),
  'trivy.image.imagePullSecret': nullable(string),
  'trivy.dbRegistry': string,
  'trivy.javaDbRegistry': string,
};

function propertyAt(schema: JsonObject, key: string): Record<string, JsonObject> {
  let node = schema;
  for (const part of key.split('.').slice(0, -1)) {
    const properties = (node.properties ??= {}) as Record<string, JsonObject>;
    node = properties[part] ??= { type: 'object' };
  }
  return (node.properties ??= {}) as Record<string, JsonObject>;
}

/** Blank ("" or null) means "not set" for most settings: the operator's default applies. */
const BLANK: ValueSchema[] = [{ type: 'null' }, { type: 'string', pattern: '^\\s*$' }];

export function chartValuesSchema(): JsonObject {
  const schema: JsonObject = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment:
      'Generated by scripts/generate-chart-schema.ts from src/config/settings.ts and src/config/chart-schema.ts: do not edit.',
    title: 'trivy-lookout values',
    description:
      'Unknown keys are allowed so that a Trivy-Operator values file installs unchanged; the known ones are checked.',
    type: 'object',
    ...structuredClone(CHART_VALUES),
  };
  for (const [key, own] of Object.entries(TRIVY_OPERATOR_CHART_VALUES)) {
    propertyAt(schema, key)[key.split('.').at(-1) ?? ''] = { ...own };
  }
  for (const spec of Object.values(SETTINGS)) {
    if (SET_BY_THE_CHART.has(spec.key)) continue;
    const own = spec.blankIsValue ? spec.parse.schema : { anyOf: [spec.parse.schema, ...BLANK] };
    propertyAt(schema, spec.key)[spec.key.split('.').at(-1) ?? ''] = {
      description: `${spec.env}: ${spec.description}`,
      ...own,
    };
  }
  return schema;
}

export function renderChartValuesSchema(): string {
  return `${JSON.stringify(chartValuesSchema(), null, 2)}\n`;
}
