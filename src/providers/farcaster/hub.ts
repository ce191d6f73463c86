// A Farcaster hub's HTTP API (Hubble, or a hosted hub such as Neynar's with FARCASTER_HUB_API_KEY): the username
// of an fid is its latest USER_DATA_TYPE_USERNAME message, `GET /v1/userDataByFid?fid=N&user_data_type=6`, which
// answers one message `{data: {type: MESSAGE_TYPE_USER_DATA_ADD, fid, userDataBody: {type, value}}, hash, ...}`,
// or HTTP 400 (404 on some hosted hubs) with `{errCode: "not_found", ...}` when the fid has none.
import { AppError, ServiceUnavailableError, UpstreamError } from '../../errors.js';

/** Farcaster usernames: fnames (`alice`) and ENS names (`alice.eth`), lowercase; the authors table's format. */
export const FARCASTER_USERNAME_RE = /^[a-z0-9][a-z0-9.-]{0,31}$/;
const USERNAME_TYPE = 6;
const CALL_TIMEOUT_MS = 10_000;

export type HubClient = {
  /** The fid's current username (without @); 422 FARCASTER_USERNAME_NOT_FOUND when it has none. */
  username: (fid: bigint) => Promise<string>;
};

type HubAnswer = {
  data?: { type?: unknown; fid?: unknown; userDataBody?: { type?: unknown; value?: unknown } };
  errCode?: unknown;
};

export function createHubClient(hubUrl: string, apiKey: string): HubClient {
  const base = hubUrl.replace(/\/+$/, '');
  return {
    username: async (fid) => {
      const url = `${base}/v1/userDataByFid?fid=${fid}&user_data_type=${USERNAME_TYPE}`;
      let response: Response;
      try {
        response = await fetch(url, {
          headers: { accept: 'application/json', ...(apiKey === '' ? {} : { 'x-api-key': apiKey }) },
          signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        });
      } catch (error) {
        throw new ServiceUnavailableError(
          'FARCASTER_HUB_UNAVAILABLE',
          'The Farcaster hub (FARCASTER_HUB_URL) did not answer; retry later',
          { cause: error instanceof Error ? error.name : 'unknown' },
        );
      }
      const text = await response.text();
      let body: HubAnswer | undefined;
      try {
        body = JSON.parse(text) as HubAnswer;
      } catch {
        body = undefined;
      }
      if (response.status >= 500 || response.status === 429) {
        throw new ServiceUnavailableError(
          'FARCASTER_HUB_UNAVAILABLE',
          `The Farcaster hub answered HTTP ${response.status}; retry later`,
          { providerStatus: response.status },
        );
      }
      // A removed username is a USER_DATA_ADD with an empty value.
      const removed = response.ok && body?.data?.userDataBody?.value === '';
      if (!response.ok || removed) {
        if (removed || body?.errCode === 'not_found') {
          throw new AppError(
            422,
            'FARCASTER_USERNAME_NOT_FOUND',
            `The Farcaster hub knows no username for fid ${fid}`,
            { fid: fid.toString() },
          );
        }
        throw new UpstreamError(
          'FARCASTER_HUB_BAD_ANSWER',
          `The Farcaster hub refused the username request: HTTP ${response.status}`,
          { details: { providerStatus: response.status } },
        );
      }
      const data = body?.data;
      const value = data?.userDataBody?.value;
      if (
        data?.type !== 'MESSAGE_TYPE_USER_DATA_ADD' ||
        data.userDataBody?.type !== 'USER_DATA_TYPE_USERNAME' ||
        String(data.fid) !== fid.toString() ||
        typeof value !== 'string' ||
        !FARCASTER_USERNAME_RE.test(value)
      ) {
        throw new UpstreamError(
          'FARCASTER_HUB_BAD_ANSWER',
          `The Farcaster hub did not answer a valid username message for fid ${fid}`,
        );
      }
      return value;
    },
  };
}
