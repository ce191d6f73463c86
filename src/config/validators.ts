// The envalid validators that the areas of src/config/ share, and the context each area's read() is given.
// A validator throws an Error whose message starts with "expected ...": loadConfig prints it after the name.
import { makeValidator } from 'envalid';
import type { Address } from 'viem';
import { getAddress, isAddress } from 'viem/utils';

/** What an area's read() gets besides its cleaned values: where to report problems and secrets. */
export type AreaContext = {
  /** APP_ENV=production: the area applies its production-only checks. */
  production: boolean;
  /** Whether the variable was given (not left to its default). */
  isSet(name: string): boolean;
  /** Problems found after validation (cross-variable rules); loadConfig throws them all at once. */
  problems: string[];
  /** Values the logger must mask; undefined and short values are dropped by loadConfig. */
  secrets: (string | undefined)[];
};

export const intIn = (min: number, max: number) =>
  makeValidator<number>((input) => {
    const value = Number(input.trim());
    if (!/^-?\d+$/.test(input.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`expected an integer from ${min} to ${max}, got "${input}"`);
    }
    return value;
  });

export const positiveNumber = makeValidator<number>((input) => {
  const value = Number(input.trim());
  if (input.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`expected a positive number, got "${input}"`);
  }
  return value;
});

export const bigintAtLeastZero = makeValidator<bigint>((input) => {
  if (!/^\d+$/.test(input.trim())) throw new Error(`expected a block number (integer >= 0), got "${input}"`);
  return BigInt(input.trim());
});

export const postgresUrl = makeValidator<string>((input) => {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new Error('expected a URL like postgres://user:password@host:5432/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`expected a postgres:// or postgresql:// URL, got scheme "${parsed.protocol}"`);
  }
  if (parsed.hostname === '') throw new Error('expected a host in the URL');
  return input;
});

export const httpUrl = makeValidator<string>((input) => {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new Error('expected an http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`expected an http:// or https:// URL, got scheme "${parsed.protocol}"`);
  }
  return input;
});

export const corsOrigins = makeValidator<readonly string[] | '*'>((input) => {
  const items = input
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new Error('expected a comma-separated list of origins or *');
  if (items.includes('*')) {
    if (items.length > 1) throw new Error('expected either * alone or a list of origins, not both');
    return '*';
  }
  for (const item of items) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(item);
    } catch {
      parsed = undefined;
    }
    // An origin is scheme://host[:port] exactly; browsers send nothing else, so anything more never matches.
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== item) {
      throw new Error(
        `expected origins like https://app.example.com (no path, no trailing slash), got "${item}"`,
      );
    }
  }
  return items;
});

export const byteSize = makeValidator<number>((input) => {
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(input.trim());
  const unit = match?.[2]?.toLowerCase() ?? 'b';
  const amount = match?.[1] === undefined ? NaN : Number(match[1]);
  const bytes = amount * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 100 * 1024 * 1024) {
    throw new Error(`expected a size like 1mb, 512kb or 2048 (1 byte to 100mb), got "${input}"`);
  }
  return bytes;
});

export const contractAddress = makeValidator<Address>((input) => {
  const trimmed = input.trim();
  // strict: false accepts all-lower and all-upper hex; a mixed-case address must carry a valid checksum.
  if (
    !isAddress(trimmed, { strict: false }) ||
    (!isAddress(trimmed) && /[a-f]/.test(trimmed) && /[A-F]/.test(trimmed))
  ) {
    throw new Error(
      `expected a 0x-prefixed 20-byte address (40 hex digits, valid checksum if mixed case), got "${input}"`,
    );
  }
  return getAddress(trimmed);
});

/** A comma-separated subset of `names` (any case, any order), or `none`; returned in the order of `names`. */
export const nameList = <N extends string>(names: readonly N[]) =>
  makeValidator<readonly N[]>((input) => {
    const items = input
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
    if (items.length === 1 && items[0] === 'none') return [];
    const unknown = items.filter((item) => !(names as readonly string[]).includes(item));
    if (items.length === 0 || unknown.length > 0) {
      throw new Error(`expected none or a comma-separated list of ${names.join(', ')}, got "${input}"`);
    }
    return names.filter((name) => items.includes(name));
  });

/** Whole seconds or fractions, as milliseconds. */
export const toMs = (seconds: number): number => Math.round(seconds * 1000);
