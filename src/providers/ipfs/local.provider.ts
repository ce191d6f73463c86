// IPFS_PROVIDER=local (the default; offline): the content store in PostgreSQL is the pin. The stage stores every
// file there under its computed CID (the metadata in the same statement as its pin's record), and the gateway
// (/ipfs/{cid}) serves it; pinning is checking that the row is there, with no query when the caller vouches for
// it (IpfsFile.inStore). Nothing leaves the machine.
import type { Executor } from '../../db/client.js';
import * as contentBlobs from '../../repositories/content-blobs.repository.js';
import { IpfsProviderError } from '../../errors.js';
import type { IpfsFile, IpfsProvider, PinResult } from './ipfs-provider.js';

export function createLocalProvider(options: { db: Executor }): IpfsProvider {
  return {
    name: 'local',
    remote: false,
    async pin(file: IpfsFile): Promise<PinResult> {
      if (file.inStore !== true && !(await contentBlobs.exists(options.db, file.cid))) {
        throw new IpfsProviderError(
          'local',
          'permanent',
          'IPFS_CONTENT_MISSING',
          `${file.fileName} (${file.cid}) is not in the content store, so it cannot be served`,
        );
      }
      return { cid: file.cid };
    },
  };
}
