// What a node's refusal of eth_sendRawTransaction means for a reveal batch. Nodes say it in words only (geth,
// op-geth, hardhat and the hosted providers all answer JSON-RPC -32000 with a message), so the words are matched
// here, in one place, against the messages those nodes are known to send, and the raw text is always kept.
import { BaseError, HttpRequestError, TimeoutError } from 'viem';

export type SendErrorKind =
  /** An identical or a same-nonce transaction of ours is already pending: not a failure. */
  | 'pending'
  /** The nonce was used: one of our stored hashes may have landed, or someone else's transaction. */
  | 'nonce-used'
  /** Worth sending the same bytes again later (network, funds, fees below the base fee, unknown answers). */
  | 'transient'
  /** These bytes can never be accepted (malformed, gas limit, chain id, fee cap of the node). */
  | 'rejected';

export type ClassifiedSendError = { kind: SendErrorKind; code: string; message: string };

const RULES: readonly { kind: SendErrorKind; code: string; pattern: RegExp }[] = [
  // geth/op-geth "already known", hardhat "Known transaction: 0x..", parity/erigon "transaction already imported".
  { kind: 'pending', code: 'ALREADY_KNOWN', pattern: /already known|known transaction|already imported/i },
  // geth "replacement transaction underpriced", hardhat "Replacement transaction underpriced. A gasPrice..".
  { kind: 'pending', code: 'REPLACEMENT_UNDERPRICED', pattern: /replacement (transaction )?underpriced/i },
  { kind: 'nonce-used', code: 'NONCE_TOO_LOW', pattern: /nonce too low|nonce has already been used/i },
  // geth "insufficient funds for gas * price + value", hardhat "Sender doesn't have enough funds to send tx".
  { kind: 'transient', code: 'INSUFFICIENT_FUNDS', pattern: /insufficient funds|enough funds/i },
  // geth "max fee per gas less than block base fee", hardhat "maxFeePerGas (..) is too low for the next block".
  {
    kind: 'transient',
    code: 'FEE_BELOW_BASE_FEE',
    pattern: /less than block base fee|too low for the next block|transaction underpriced|fee cap less than/i,
  },
  { kind: 'transient', code: 'NONCE_TOO_HIGH', pattern: /nonce too high|nonce gap/i },
  {
    kind: 'transient',
    code: 'TXPOOL_FULL',
    pattern: /txpool is full|pool is full|too many requests|rate limit/i,
  },
  { kind: 'rejected', code: 'INTRINSIC_GAS_TOO_LOW', pattern: /intrinsic gas too low/i },
  {
    kind: 'rejected',
    code: 'GAS_LIMIT_TOO_HIGH',
    pattern: /exceeds block gas limit|gas limit reached|exceeds the configured cap/i,
  },
  {
    kind: 'rejected',
    code: 'INVALID_TRANSACTION',
    pattern:
      /invalid sender|invalid chain id|oversized data|invalid signature|transaction type not supported|rlp/i,
  },
];

/** The node's words inside a viem error (its details carry the JSON-RPC message). */
export function sendErrorText(error: unknown): string {
  if (error instanceof BaseError) return [error.details, error.shortMessage].filter((s) => s).join(' | ');
  return error instanceof Error ? error.message : String(error);
}

export function classifySendError(error: unknown): ClassifiedSendError {
  const message = sendErrorText(error);
  if (
    error instanceof BaseError &&
    error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError) !== null
  ) {
    // Unreachable or timed out: the bytes may or may not have reached the node. Same bytes again later.
    return { kind: 'transient', code: 'RPC_UNREACHABLE', message };
  }
  for (const rule of RULES) {
    if (rule.pattern.test(message)) return { kind: rule.kind, code: rule.code, message };
  }
  // Unknown answers are transient: resending the same signed bytes can never send anything twice.
  return { kind: 'transient', code: 'SEND_FAILED', message };
}
