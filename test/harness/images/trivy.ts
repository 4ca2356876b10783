/**
 * `trivy`: the scanner image the scan Jobs run, shaped like Aqua's (`ENTRYPOINT ["trivy"]`): the
 * Debian base (busybox gives the Jobs `/bin/sh`, `gzip`, `base64`, `mkdir`, `cat`, `printf`) plus
 * the real Trivy binary built by scripts/setup-tools.sh at `/usr/local/bin/trivy`. Everything is
 * world-readable and HOME is /tmp, so it runs as any non-root user on a read-only root file
 * system once /tmp is a writable volume. Its tag is the binary's own version.
 */
import { defaultPath } from './os.ts';
import type { TestImageSpec } from './spec.ts';

export const trivyImage: TestImageSpec = {
  name: 'trivy',
  repository: 'trivy-lookout-test/trivy',
  tag: { fromToolVersion: 'trivy' },
  layer: {
    tools: [{ tool: 'trivy', path: 'usr/local/bin/trivy' }],
  },
  config: {
    Env: [`PATH=${defaultPath}`, 'HOME=/tmp'],
    Entrypoint: ['trivy'],
    WorkingDir: '/',
  },
};
