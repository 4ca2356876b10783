/**
 * Shapes of the strings settings hold. Checked at start-up so a typo fails loudly there instead of
 * as a rejected Job manifest or a scan that silently never matches anything.
 */

/** DNS-1123 label: namespace names. */
export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** DNS-1123 subdomain: Secret and Lease names. */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** A namespace name, or a glob over one using `*` and `?`. */
export const NAMESPACE_GLOB = /^[a-z0-9*?]([a-z0-9*?.-]{0,61}[a-z0-9*?])?$/;

/** Registry host as it appears in an image reference: host[:port]. */
export const REGISTRY_HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/;

/** A registry mirror: a host, optionally with a path prefix. */
export const REGISTRY_MIRROR = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?(\/[a-z0-9._/-]+)?$/;

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

/** Image repository without tag or digest, e.g. mirror.gcr.io/aquasec/trivy (distribution's grammar). */
export const IMAGE_REPOSITORY = new RegExp(
  `^(?:[A-Za-z0-9.-]+(?::\\d{1,5})?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`,
);

const TAG = '\\w[\\w.-]{0,127}';

export const IMAGE_TAG = new RegExp(`^${TAG}$`);

/** Repository with an optional tag, e.g. mirror.gcr.io/aquasec/trivy-db:2 (DB repositories). */
export const IMAGE_REFERENCE = new RegExp(`${IMAGE_REPOSITORY.source.slice(0, -1)}(?::${TAG})?$`);

/** Kubernetes resource quantity (non-negative), e.g. 100m, 0.5, 500M, 1Gi, 1e3. */
export const QUANTITY = /^(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Kubernetes label key: an optional DNS-subdomain prefix and "/", then a name of up to 63 characters. */
export const LABEL_KEY =
  /^(?:(?=[a-z0-9.-]{1,253}\/)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/** Kubernetes label value: empty, or up to 63 characters starting and ending alphanumeric. */
export const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;

/** The start of a Prometheus label name: letters, digits and "_", not starting with a digit. */
export const METRIC_LABEL_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** HTTP header field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
