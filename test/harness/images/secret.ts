/**
 * `secret`: the Debian base plus an AWS credentials file holding a planted, made-up key pair
 * that Trivy's built-in rules `aws-access-key-id` and `aws-secret-access-key` report. The values
 * are obviously fake but avoid Trivy's allow rules: nothing says "example" (AWS's documented
 * AKIAIOSFODNN7EXAMPLE is allowed), and the path has no `test` in it (test paths are allowed).
 */
import { osImageConfig } from './os.ts';
import type { TestImageSpec } from './spec.ts';

/** The planted credentials: fake, for trivy-lookout's tests only. */
export const plantedAwsAccessKeyId = 'AKIATRIVYLOOKOUT0001';
export const plantedAwsSecretAccessKey = 'trivyLookoutPlantedFakeSecretKey00000000';

/** Where the secret file sits in the image. */
export const plantedSecretPath = '/root/.aws/credentials';

export const secretImage: TestImageSpec = {
  name: 'secret',
  repository: 'trivy-lookout-test/secret',
  tag: '1.0',
  layer: {
    files: {
      [plantedSecretPath.slice(1)]: [
        '[default]',
        `aws_access_key_id = ${plantedAwsAccessKeyId}`,
        `aws_secret_access_key = ${plantedAwsSecretAccessKey}`,
        'region = eu-west-1',
        '',
      ].join('\n'),
    },
  },
  config: osImageConfig,
};
