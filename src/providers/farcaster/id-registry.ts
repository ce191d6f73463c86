// Farcaster's IdRegistry (OP Mainnet): which address holds an fid. Read with viem's readContract on
// FARCASTER_RPC_URL at FARCASTER_ID_REGISTRY_ADDRESS; only the `custodyOf(uint256)` view is needed.
import { createPublicClient, getAddress, http, zeroAddress, type Address } from 'viem';
import { ServiceUnavailableError } from '../../errors.js';

/** The one function of the IdRegistry the service calls (same signature as the deployed contract's). */
export const idRegistryCustodyAbi = [
  {
    type: 'function',
    name: 'custodyOf',
    stateMutability: 'view',
    inputs: [{ name: 'fid', type: 'uint256' }],
    outputs: [{ name: 'custody', type: 'address' }],
  },
] as const;

/** The custody address of an fid (checksummed), or undefined when the fid is not registered (zero address). */
export type CustodyReader = (fid: bigint) => Promise<Address | undefined>;

export function createCustodyReader(rpcUrl: string, registry: Address): CustodyReader {
  const client = createPublicClient({ transport: http(rpcUrl, { timeout: 10_000, retryCount: 1 }) });
  return async (fid) => {
    let custody: Address;
    try {
      custody = await client.readContract({
        address: registry,
        abi: idRegistryCustodyAbi,
        functionName: 'custodyOf',
        args: [fid],
      });
    } catch (error) {
      throw new ServiceUnavailableError(
        'FARCASTER_RPC_UNAVAILABLE',
        'The Farcaster IdRegistry could not be read (FARCASTER_RPC_URL); retry later',
        { cause: error instanceof Error ? error.name : 'unknown' },
      );
    }
    return custody === zeroAddress ? undefined : getAddress(custody);
  };
}
