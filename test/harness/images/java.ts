/**
 * `java`: the Debian base plus log4j-core 2.14.1 (from Maven Central, as published), a JAR that
 * carries `META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties`, so Trivy names it
 * `org.apache.logging.log4j:log4j-core` without looking anything up.
 */
import { osImageConfig } from './os.ts';
import type { TestImageSpec } from './spec.ts';

export const javaImage: TestImageSpec = {
  name: 'java',
  repository: 'trivy-lookout-test/java',
  tag: '1.0',
  layer: {
    maven: [
      {
        coords: 'org.apache.logging.log4j:log4j-core:2.14.1',
        sha256: 'ade7402a70667a727635d5c4c29495f4ff96f061f12539763f6f123973b465b0',
        path: 'app/lib/log4j-core-2.14.1.jar',
      },
    ],
  },
  config: osImageConfig,
};
