/**
 * `node`: the Debian base plus an app with lodash 4.17.20 installed in `node_modules`, laid out
 * as `npm install` leaves it. In an image Trivy reads each installed package's own
 * `node_modules/<name>/package.json` (its node-pkg analyzer); lock files are analysed only when
 * scanning a file system or repository, so none is shipped.
 */
import { osImageConfig } from './os.ts';
import type { TestImageSpec } from './spec.ts';

export const nodeImage: TestImageSpec = {
  name: 'node',
  repository: 'trivy-lookout-test/node',
  tag: '1.0',
  layer: {
    files: {
      // No version: an app's own manifest is not a package Trivy should list.
      'app/package.json':
        JSON.stringify(
          { name: 'trivy-lookout-test-app', private: true, dependencies: { lodash: '4.17.20' } },
          null,
          2,
        ) + '\n',
      'app/index.js': "console.log(require('lodash').VERSION);\n",
    },
    npm: [
      {
        spec: 'lodash@4.17.20',
        integrity:
          'sha512-PlhdFcillOINfeV7Ni6oF1TAEayyZBoZ8bcshTHqOYJYlrqzRK5hagpagky5o4HfCzzd1TRkXPMFq6cKk9rGmA==',
        path: 'app/node_modules/lodash',
      },
    ],
  },
  config: osImageConfig,
};
