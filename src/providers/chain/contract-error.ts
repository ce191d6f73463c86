// Names the GliskS0 custom error behind a failed call, from viem's ABI decoding (never by matching strings).
import { BaseError, ContractFunctionRevertedError } from 'viem';

export interface ContractRevert {
  /** The custom error's name, e.g. `AlreadyRevealed`, or `Error`/`Panic` for require strings and panics. */
  name: string;
  args: readonly unknown[];
  /** The require string or panic reason when there is one. */
  reason: string | undefined;
}

/** The decoded revert inside a viem error (simulate, estimate, write or read), or undefined when it is not one. */
export function decodeContractRevert(error: unknown): ContractRevert | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError) || reverted.data === undefined) return undefined;
  return { name: reverted.data.errorName, args: reverted.data.args ?? [], reason: reverted.reason };
}
