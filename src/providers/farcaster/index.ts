// The Farcaster providers chosen by configuration: the IdRegistry on FARCASTER_RPC_URL and the hub on
// FARCASTER_HUB_URL. Either missing: 503 <VAR>_MISSING from the route that needs them; the rest of the service runs.
import type { Address } from 'viem';
import { NotConfiguredError } from '../../errors.js';
import { createHubClient, type HubClient } from './hub.js';
import { createCustodyReader, type CustodyReader } from './id-registry.js';

export type FarcasterSettings = Readonly<{
  rpcUrl: string | undefined;
  hubUrl: string | undefined;
  hubApiKey: string;
  idRegistryAddress: Address;
}>;

export type FarcasterClients = { rpcUrl: string; custodyOf: CustodyReader; hub: HubClient };

/** The clients, or 503 FARCASTER_RPC_URL_MISSING / FARCASTER_HUB_URL_MISSING for the first variable not set. */
export function createFarcasterClients(settings: FarcasterSettings): FarcasterClients {
  if (settings.rpcUrl === undefined) {
    throw new NotConfiguredError(
      'FARCASTER_RPC_URL',
      'the Farcaster link reads the IdRegistry on OP Mainnet',
    );
  }
  if (settings.hubUrl === undefined) {
    throw new NotConfiguredError('FARCASTER_HUB_URL', 'the Farcaster link reads usernames from a hub');
  }
  return {
    rpcUrl: settings.rpcUrl,
    custodyOf: createCustodyReader(settings.rpcUrl, settings.idRegistryAddress),
    hub: createHubClient(settings.hubUrl, settings.hubApiKey),
  };
}
