/** The shape of a test image's definition: plain data, turned into an OCI layout by index.ts. */
import type { ImageRuntimeConfig } from '../oci/layout.ts';
import type { ToolName } from '../tools.ts';

export type TestImageName = 'os' | 'java' | 'node' | 'secret' | 'trivy';

export interface TestImageSpec {
  name: TestImageName;
  /** A suggested repository to push it as, e.g. `trivy-lookout-test/java`. */
  repository: string;
  /** A fixed tag, or the version a built tool reports (`trivy --version`). */
  tag: string | { fromToolVersion: 'trivy' };
  /** The image's own layer over the Debian base layer; `os` has none. Paths are relative to /. */
  layer?: {
    /** Text files. */
    files?: Record<string, string>;
    /** Maven artifacts (`group:artifact:version`), fetched with mvn and checked by SHA-256. */
    maven?: { coords: string; sha256: string; path: string }[];
    /** npm packages, fetched with `npm pack`, checked by integrity and unpacked into `path`. */
    npm?: { spec: string; integrity: string; path: string }[];
    /** Binaries from scripts/setup-tools.sh. */
    tools?: { tool: ToolName; path: string }[];
  };
  config: ImageRuntimeConfig;
}
