/**
 * A copy of the config safe to log at start-up: tokens, passwords, proxies, the Trivy config file
 * and header values are masked, and the
 * webhook URL is cut to its origin because services like Slack put the secret in the path.
 */
import type { Config } from './types.ts';

const HIDDEN = '(hidden)';
const hide = (value: string | null): string | null => (value === null ? null : HIDDEN);

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
      serverToken: hide(trivy.serverToken),
      serverCustomHeaders: mask(trivy.serverCustomHeaders),
      // A proxy URL may carry user:password; a config file may hold registry credentials.
      httpProxy: hide(trivy.httpProxy),
      httpsProxy: hide(trivy.httpsProxy),
      githubToken: hide(trivy.githubToken),
      dbRepositoryUsername: hide(trivy.dbRepositoryUsername),
      dbRepositoryPassword: hide(trivy.dbRepositoryPassword),
      configFile: hide(trivy.configFile),
    },
  };
}
