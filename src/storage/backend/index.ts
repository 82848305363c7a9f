import type { StorageSettings } from '../../config.js';
import { LoconomyError } from '../../errors.js';
import { diskBackend } from './disk.js';
import { s3Backend } from './s3.js';
import type { StorageBackend } from './types.js';

/** The backend the settings choose (LOCONOMY_STORAGE_BACKEND). */
export function createBackend(settings: StorageSettings): StorageBackend {
  switch (settings.backend) {
    case 'local':
      return diskBackend(settings.dir);
    case 's3': {
      const { bucket } = settings.s3;
      if (bucket === undefined) {
        throw new LoconomyError(
          'LOCO_CONFIG_INVALID',
          'LOCONOMY_STORAGE_BACKEND is s3 but LOCONOMY_STORAGE_S3_BUCKET is not set',
          'set LOCONOMY_STORAGE_S3_BUCKET (and the endpoint and credentials your store needs; see docs/storage.md)',
        );
      }
      if ((settings.s3.accessKeyId === undefined) !== (settings.s3.secretAccessKey === undefined)) {
        throw new LoconomyError(
          'LOCO_CONFIG_INVALID',
          'only one of LOCONOMY_STORAGE_S3_ACCESS_KEY_ID and LOCONOMY_STORAGE_S3_SECRET_ACCESS_KEY is set',
          'set both, or neither to use the AWS credential chain',
        );
      }
      return s3Backend({ ...settings.s3, bucket });
    }
  }
}
