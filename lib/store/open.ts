// Opens the store that the `store` option names by a string: a Redis URL, else a Deno KV path or URL.
import { kvStore } from "./kv.ts";
import { isRedisUrl, redisStore } from "./redis.ts";
import type { Store } from "./store.ts";

/** The store `spec` names (already checked by the options): `redis://` / `rediss://` is Redis, the rest Deno KV. */
export async function openStore(spec: string): Promise<Store> {
  return isRedisUrl(spec) ? await redisStore(spec) : await kvStore(spec);
}
