// The reveal stage on the stage runtime (batch mode): claims up to BATCH_REVEAL_MAX_TOKENS `ready` tokens once the
// batch is full or its oldest token has waited BATCH_REVEAL_WAIT_SECONDS, and hands them to the reveal sender,
// which writes every token's outcome itself (with its reveal_transactions row), so each result is `settled`.
import { privateKeyToAccount } from 'viem/accounts';
import type { Config } from '../../config.js';
import type { Database, Executor } from '../../db/client.js';
import type { Token } from '../../db/schema.js';
import { STAGES } from '../../domain/stages.js';
import { ChainStatusReporter } from '../../domain/chain-status.js';
import { TransientStageError } from '../../errors.js';
import { backoffDelayMs } from '../../lib/backoff.js';
import type { Logger } from '../../logger.js';
import { chainFailureText, describeChainFailure } from '../../providers/chain/chain-errors.js';
import { connectRevealChain } from '../../providers/chain/reveal-chain.js';
import * as revealTransactions from '../../repositories/reveal-transactions.repository.js';
import * as tokenClaims from '../../repositories/token-claims.repository.js';
import * as tokenQueue from '../../repositories/token-queue.repository.js';
import type { BatchItemResult, BatchStage, StageSettings } from '../stage.js';
import { gweiToWei } from './fees.js';
import { RevealSender, type BatchResult } from './reveal-sender.js';
import { RevealStatusStore } from './reveal-status.js';

/** The longest pause between two tries of a chain that does not answer. */
const MAX_CHAIN_RETRY_MS = 60_000;

export type RevealStageDeps = {
  config: Config;
  database: Database;
  logger: Logger;
  settings: StageSettings;
  /** Built from the configuration when omitted (tests pass their own). */
  sender?: RevealSender;
};

/** What each claimed token became, as the runtime counts it. */
export function settledResults(tokens: readonly Token[], result: BatchResult): BatchItemResult[] {
  const outcome = new Map<number, 'completed' | 'retried' | 'failed' | 'released'>();
  for (const id of [...result.revealed, ...result.synced]) outcome.set(id, 'completed');
  for (const id of [...result.deferred, ...result.reverted]) outcome.set(id, 'retried');
  for (const id of result.failed) outcome.set(id, 'failed');
  return tokens.map((t) => ({ ok: 'settled', outcome: outcome.get(t.tokenId) ?? 'released' }));
}

export function createRevealStage(deps: RevealStageDeps): BatchStage {
  const { config, database, logger } = deps;
  const reveal = config.reveal;
  const log = logger.child({ stage: 'reveal' });
  const settings: StageSettings = { ...deps.settings, batchSize: reveal.batchMaxTokens };
  const missing = [
    reveal.keeperPrivateKey === '' ? 'KEEPER_PRIVATE_KEY' : undefined,
    config.chain.contractAddress === undefined ? 'GLISK_NFT_CONTRACT_ADDRESS' : undefined,
    config.chain.rpcUrl === undefined ? 'RPC_URL (or ALCHEMY_API_KEY)' : undefined,
  ].filter((name): name is string => name !== undefined);
  let sender: Promise<RevealSender> | undefined = deps.sender ? Promise.resolve(deps.sender) : undefined;
  const getSender = (): Promise<RevealSender> => {
    sender ??= (async () => {
      const chain = await connectRevealChain({
        rpcUrl: config.chain.rpcUrl ?? '',
        contractAddress: config.chain.contractAddress ?? '0x',
        account: privateKeyToAccount(reveal.keeperPrivateKey as `0x${string}`),
      });
      return new RevealSender({
        database,
        chain,
        logger,
        status: statusStore,
        settings: {
          gasBuffer: reveal.gasBuffer,
          maxGasPriceWei:
            reveal.maxGasPriceGwei === undefined ? undefined : gweiToWei(reveal.maxGasPriceGwei),
          transactionTimeoutMs: reveal.transactionTimeoutMs,
          maxFeeBumps: reveal.maxFeeBumps,
          maxAttempts: settings.maxAttempts,
          pollIntervalMs: 1_000,
          retryBaseSeconds: settings.retryBaseMs / 1000,
          retryCapSeconds: settings.retryMaxMs / 1000,
        },
      });
    })().catch((error: unknown) => {
      sender = undefined;
      throw error;
    });
    return sender;
  };
  let warned = false;
  // Stored lower-case, as the sender writes it (reveal_transactions_keeper_address_format).
  const keeper = (
    deps.sender?.keeperAddress ??
    (reveal.keeperPrivateKey === ''
      ? ''
      : privateKeyToAccount(reveal.keeperPrivateKey as `0x${string}`).address)
  ).toLowerCase();
  const statusStore = deps.sender?.statusStore ?? new RevealStatusStore(database.db, keeper, log);
  const chainStatus = new ChainStatusReporter(database.db, 'reveal');
  // A chain that does not answer stalls the stage: nothing is claimed until it answers again, tried with backoff.
  let chainFailures = 0;
  let retryChainAt = 0;

  /** The stage is stalled when `error` is the chain not answering: one short line, the status stored. */
  async function stalled(error: unknown): Promise<{ waitMs: number } | undefined> {
    const failure = describeChainFailure(error);
    if (failure === undefined) return undefined;
    chainFailures += 1;
    const waitMs = backoffDelayMs(chainFailures, {
      baseMs: Math.max(1_000, settings.pollIntervalMs),
      maxMs: MAX_CHAIN_RETRY_MS,
    });
    retryChainAt = Date.now() + waitMs;
    const nextRetryAt = new Date(retryChainAt);
    log.warn('reveal.stalled', {
      code: failure.code,
      endpoint: failure.endpoint,
      detail: failure.detail,
      failures: chainFailures,
      retryInMs: waitMs,
    });
    log.debug('reveal.stalled_stack', { error });
    await statusStore.update({
      state: 'stalled',
      code: failure.code,
      reason: chainFailureText(failure),
      nextRetryAt: nextRetryAt.toISOString(),
    });
    await chainStatus.failed(failure, nextRetryAt);
    return { waitMs };
  }

  async function chainAnswered(): Promise<void> {
    if (chainFailures > 0) {
      log.info('reveal.chain_recovered', { afterFailures: chainFailures });
      chainFailures = 0;
      if (statusStore.get().state === 'stalled')
        await statusStore.update({ state: 'idle', code: null, reason: null, nextRetryAt: null });
    }
    await chainStatus.reachable();
  }

  return {
    mode: 'batch',
    definition: STAGES.reveal,
    settings,
    async readyToClaim(db: Executor, signal: AbortSignal) {
      if (missing.length > 0 && deps.sender === undefined) {
        if (!warned)
          log.warn('reveal.disabled', { missing, detail: 'the reveal stage claims nothing until set' });
        warned = true;
        return { waitMs: 60_000 };
      }
      try {
        if (chainFailures > 0) {
          // Stalled: the chain is tried again once the backoff has passed, before anything is claimed.
          const waitMs = retryChainAt - Date.now();
          if (waitMs > 0) return { waitMs };
          await (await getSender()).probeChain();
          await chainAnswered();
        }
        // A batch this keeper left in flight (a process stopped or killed after signing) is settled first, with
        // its stored bytes at its nonce: its tokens are not claimable meanwhile, so nothing else would ever resume
        // it when no other token is ready, and nothing new is sent before it is settled.
        if ((await revealTransactions.listInFlightForKeeper(db, keeper)).length > 0) {
          const resumed = await (await getSender()).resume(signal);
          if (resumed !== true) return { waitMs: settings.pollIntervalMs };
        }
        const backlog = await tokenClaims.claimableBacklog(db, STAGES.reveal);
        if (backlog.count === 0) return { waitMs: settings.pollIntervalMs };
        const waited =
          backlog.oldestReadyAt === undefined ? Infinity : Date.now() - backlog.oldestReadyAt.getTime();
        if (backlog.count < reveal.batchMaxTokens && waited < reveal.batchWaitMs)
          return { waitMs: reveal.batchWaitMs - waited };
        // The chain is reached (the sender connected) before tokens are claimed for it.
        await getSender();
        return true;
      } catch (error) {
        const wait = await stalled(error);
        if (wait === undefined) throw error;
        return wait;
      }
    },
    async work(tokens, ctx) {
      let result: BatchResult;
      try {
        result = await (await getSender()).revealBatch(tokens, ctx.signal);
        await chainAnswered();
      } catch (error) {
        const chainDown = describeChainFailure(error);
        if (chainDown !== undefined) await stalled(error);
        const failure = new TransientStageError(
          chainDown?.code ?? 'CHAIN_UNAVAILABLE',
          chainDown !== undefined
            ? chainFailureText(chainDown)
            : `reveal could not reach the chain: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        );
        // A token whose batch is signed (maybe broadcast) can still be revealed by it: it is not retried on its
        // own and no attempt is counted against it (MAX_ATTEMPTS_REVEAL could fail a token that then lands).
        // It is given back as it was; the batch is settled by the next resume (readyToClaim).
        const inFlight = new Set(
          (await revealTransactions.listInFlightForKeeper(database.db, keeper)).flatMap((r) => r.tokenRowIds),
        );
        const held = tokens.filter((t) => inFlight.has(t.id));
        await giveBack(held);
        if (held.length > 0) {
          ctx.log.warn('reveal.interrupted', {
            tokenIds: held.map((t) => t.tokenId),
            detail: 'the batch is in flight; settled by the next resume, no attempt counted',
            reason: failure.message,
          });
        }
        return tokens.map((t): BatchItemResult =>
          inFlight.has(t.id) ? { ok: 'settled', outcome: 'released' } : { ok: false, error: failure },
        );
      }
      if (result.keeperBusy) {
        // Another sender holds the keeper: give the tokens back untouched, this claim did no work.
        await giveBack(tokens);
        ctx.log.info('reveal.keeper_busy', { tokens: tokens.length });
      }
      // Stopped while the batch was in flight: the same, its tokens wait for the resume with no attempt counted.
      await giveBack(tokens.filter((t) => result.inFlight.includes(t.tokenId)));
      return settledResults(tokens, result);
    },
  };

  /** Ends the claim of `tokens` as if it had not happened: back to `ready`, lease dropped, attempt refunded. */
  async function giveBack(tokens: readonly Token[]): Promise<void> {
    for (const token of tokens) {
      await tokenQueue.releaseClaim(database.db, token, STAGES.reveal, { refundAttempt: true });
    }
  }
}
