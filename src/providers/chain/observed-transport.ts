// Chain RPC calls as provider calls: every JSON-RPC request a viem client makes (the log follower's, the reveal's)
// is timed into glisk_provider_request_duration_seconds{provider="chain", operation=<method>} and its failures
// counted in glisk_provider_errors_total, retries included (one logical call, as the caller sees it).
import type { EIP1193RequestFn, Transport } from 'viem';
import { observeProviderCall } from '../../metrics/registry.js';

/** JSON-RPC method names are the label (a fixed set viem calls); anything else shape-less becomes "other". */
export function rpcMethodLabel(method: unknown): string {
  return typeof method === 'string' && /^[a-z][a-z0-9]{1,15}_[A-Za-z0-9]{1,40}$/.test(method)
    ? method
    : 'other';
}

/** `transport` with each request observed as a call to provider "chain". */
export function observedTransport<T extends Transport>(transport: T): T {
  const wrapped: Transport = (params) => {
    const inner = transport(params);
    const request = ((args, options) =>
      observeProviderCall('chain', rpcMethodLabel(args.method), () =>
        inner.request(args, options),
      )) as EIP1193RequestFn;
    return { ...inner, request };
  };
  return wrapped as T;
}
