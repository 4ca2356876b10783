/**
 * A copy of the config safe to log at start-up: tokens and header values are masked, and the
 * webhook URL is cut to its origin because services like Slack put the secret in the path.
 */
import type { Config } from './types.ts';

const HIDDEN = '(hidden)';

export function redactConfig(config: Config): Config {
  const mask = (headers: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.keys(headers).map((name) => [name, HIDDEN]));
  const { operator, trivy } = config;
  return {
    ...config,
    operator: {
      ...operator,
      webhookBroadcastURL:
        operator.webhookBroadcastURL === null
          ? null
          : `${new URL(operator.webhookBroadcastURL).origin}/${HIDDEN}`,
      webhookBroadcastCustomHeaders: mask(operator.webhookBroadcastCustomHeaders),
    },
    trivy: {
      ...trivy,
      serverToken: trivy.serverToken === null ? null : HIDDEN,
      serverCustomHeaders: mask(trivy.serverCustomHeaders),
    },
  };
}
