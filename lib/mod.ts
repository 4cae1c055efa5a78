/**
 * nbmemo: persistent memoization for TypeScript notebooks (tslab, the Deno kernel) and scripts.
 * Results are kept on disk, keyed by a name you give, the normalized source of the function and its
 * arguments, so they survive kernel restarts and are shared between kernels and scripts.
 *
 * @example
 * ```ts
 * import { Memory } from "nbmemo";
 * const memory = await Memory.open(".nbmemo");
 * const wordCount = memory.fn("word_count", (text: string) => text.split(/\s+/).length);
 * await wordCount("to be or not to be"); // 6, computed
 * await wordCount("to be or not to be"); // 6, read back
 * await memory.close();
 * ```
 *
 * @module
 */
export { Memory, type Memoized } from "./memory/memory.ts";
export { MapError, type MapFailure } from "./memory/map.ts";
export type { InputFile, InputKind } from "./keys/inputs.ts";
export type { InputUrl, UrlValidator } from "./memory/url.ts";
export type { PruneReport } from "./memory/eviction.ts";
export type { VerifyProblem, VerifyReport } from "./memory/verify.ts";
export type { CatalogTotals, EntryInfo, EntrySort, FunctionVersion, Limits, Stats } from "./types.ts";
export type { DeleteOptions, EntryFilter, FnOptions, MapOptions, MemoryOptions, OnChange, PruneOptions } from "./memory/config.ts";
export type {
  ArgumentDifference, Explanation, HitExplanation, NewArgumentsExplanation, NewVersionExplanation, UnknownNameExplanation,
} from "./memory/explain.ts";
export { type KvClient, kvStore, type KvStoreOptions } from "./store/kv.ts";
export { type RedisArgument, type RedisClient, redisStore, type RedisStoreOptions } from "./store/redis.ts";
export { tieredStore } from "./store/tiered.ts";
export { type S3Credentials, type S3Fetch, s3Store, type S3StoreOptions } from "./store/s3.ts";
export type { PayloadReader, Store } from "./store/store.ts";
export type { LogLevel } from "./log.ts";
export { NbmemoError, type NbmemoErrorCode } from "./errors.ts";
