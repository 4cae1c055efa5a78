// The S3 store: a shared Store in a bucket of any S3-compatible service (AWS S3, Cloudflare R2, MinIO, Ceph),
// requests signed by aws4fetch; large payloads go up in parts and come back in ranges.
import type { AwsClient } from "aws4fetch";
import { byteLength, concat } from "../bytes.ts";
import { NbmemoError } from "../errors.ts";
import { checkKnown, checkOptions, invalid, optionNames, shown } from "../options.ts";
import { firstLine } from "../runtime.ts";
import { checkObjectId, isObjectId, type ObjectInfo, type PayloadReader, type Store, type StoredObject } from "./store.ts";

/** The access key {@link s3Store} signs with. */
export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** For temporary credentials (AWS STS, SSO): sent as `X-Amz-Security-Token`. */
  readonly sessionToken?: string;
}

/** How {@link s3Store} sends a signed request: `fetch` itself, or a function of that shape. */
export type S3Fetch = (request: Request) => Promise<Response>;

/** Options of {@link s3Store}. */
export interface S3StoreOptions {
  /** The bucket, which must exist: 3-63 lowercase letters, digits, dots and hyphens. */
  bucket: string;
  /** Its region, e.g. `"us-east-1"`; `"auto"` for Cloudflare R2; MinIO takes `"us-east-1"` unless set otherwise. */
  region: string;
  /**
   * The service's URL, e.g. `"https://<account>.r2.cloudflarestorage.com"` or `"http://localhost:9000"`;
   * objects are addressed path-style (`<endpoint>/<bucket>/<key>`). Default: AWS S3's
   * `https://s3.<region>.amazonaws.com`.
   */
  endpoint?: string;
  credentials: S3Credentials;
  /**
   * The folder of the bucket that nbmemo's objects live under, so that several caches can share one bucket:
   * letters, digits, `.`, `_`, `-` and `/`. Default: `"nbmemo/"`.
   */
  prefix?: string;
  /**
   * Payloads larger than this go up in parts of this size (S3 multipart upload), and are read back in
   * ranges of this size. At least 5 MiB (S3's smallest part), at most 5 GiB. Default: 8 MiB.
   */
  partBytes?: number;
  /** A request without an answer this long fails (each request moves at most `partBytes`). Default: 60 000 ms. */
  timeoutMs?: number;
  /** Sends the signed requests (a proxy's fetch, or one that counts). Default: the runtime's `fetch`. */
  fetch?: S3Fetch;
}

interface S3Config {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint: string;
  readonly credentials: S3Credentials;
  readonly prefix: string;
  readonly partBytes: number;
  readonly timeoutMs: number;
  readonly fetch: S3Fetch;
}

const s3StoreOptionNames = optionNames<S3StoreOptions>({
  bucket: true, region: true, endpoint: true, credentials: true, prefix: true, partBytes: true, timeoutMs: true, fetch: true,
});
const credentialNames = optionNames<S3Credentials>({ accessKeyId: true, secretAccessKey: true, sessionToken: true });

const MIB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MIB; // S3's limits on a part (all but the last) and on the number of parts
const MAX_PART_BYTES = 5 * 1024 * MIB;
const MAX_PARTS = 10_000;
const DEFAULT_PART_BYTES = 8 * MIB;
const DEFAULT_TIMEOUT_MS = 60_000;
const EXAMPLE = `{ bucket: "team-cache", region: "us-east-1", credentials: { accessKeyId, secretAccessKey } }`;

/** Validates {@link S3StoreOptions}, filling the defaults. */
function parseS3StoreOptions(options: S3StoreOptions): S3Config {
  checkOptions(options, s3StoreOptionNames, "s3Store", EXAMPLE);
  const bad = (name: string, value: unknown, rule: string) => invalid(`Cannot use ${name}=${shown(value)} in s3Store: ${rule}.`);
  const { bucket, region, credentials } = options;
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw bad("bucket", bucket, `it must be an existing bucket's name: 3-63 lowercase letters, digits, dots and hyphens, such as "team-cache"`);
  }
  if (typeof region !== "string" || !/^[a-z0-9-]{1,40}$/.test(region)) {
    throw bad("region", region, `it must be the bucket's region, such as "us-east-1" ("auto" for Cloudflare R2)`);
  }
  let endpoint = options.endpoint ?? `https://s3.${region}.amazonaws.com`;
  let url: URL | undefined;
  try {
    url = typeof endpoint === "string" ? new URL(endpoint) : undefined;
  } catch { /* reported below */ }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash || url.username || url.password) {
    throw bad("endpoint", endpoint, `it must be the service's http(s) URL without a query, such as "https://s3.us-east-1.amazonaws.com" or "http://localhost:9000"`);
  }
  endpoint = url.href.replace(/\/+$/, "");
  if (typeof credentials !== "object" || credentials === null) {
    throw invalid(`Cannot use credentials=${shown(credentials)} in s3Store: pass { accessKeyId, secretAccessKey } (and sessionToken for temporary credentials).`);
  }
  checkKnown(credentials, credentialNames, "s3Store's credentials");
  for (const name of ["accessKeyId", "secretAccessKey", "sessionToken"] as const) {
    const value = credentials[name];
    if (value === undefined && name === "sessionToken") continue;
    // A secret is never shown, only what is wrong with it.
    if (typeof value !== "string" || value === "" || /[\s\0]/.test(value)) {
      const what = value === undefined ? "missing" : typeof value !== "string" ? `a ${typeof value}` : value === "" ? "empty" : "holding whitespace";
      throw invalid(`Cannot use credentials.${name} in s3Store: it is ${what}; it must be the access key's ${name}, a string (read it from the environment, e.g. AWS_${name === "accessKeyId" ? "ACCESS_KEY_ID" : name === "secretAccessKey" ? "SECRET_ACCESS_KEY" : "SESSION_TOKEN"}).`);
    }
  }
  let prefix = options.prefix ?? "nbmemo/";
  if (typeof prefix !== "string" || prefix.length > 512 || !/^[A-Za-z0-9._\/-]*$/.test(prefix) ||
    prefix.startsWith("/") || prefix.includes("//") || prefix.split("/").some((part) => part === "." || part === "..")) {
    throw bad("prefix", options.prefix, `it must be a folder of the bucket: letters, digits, ".", "_", "-" and "/", not starting with "/", 512 characters at most, such as "nbmemo/team-a/"`);
  }
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isSafeInteger(partBytes) || partBytes < MIN_PART_BYTES || partBytes > MAX_PART_BYTES) {
    throw bad("partBytes", options.partBytes, `it must be a whole number of bytes from 5 MiB (${MIN_PART_BYTES}, S3's smallest part) to 5 GiB`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw bad("timeoutMs", options.timeoutMs, "it must be a whole number of milliseconds, more than 0");
  const send = options.fetch ?? ((request: Request) => fetch(request));
  if (typeof send !== "function") throw bad("fetch", send, "it must be a function that sends a Request, such as fetch");
  const { accessKeyId, secretAccessKey, sessionToken } = credentials;
  return { bucket, region, endpoint, credentials: { accessKeyId, secretAccessKey, sessionToken }, prefix, partBytes, timeoutMs, fetch: send };
}

// What the bucket holds under the prefix: payloads at objects/<id> (their info in the x-amz-meta-nbmemo
// header), and the index at index/<entry key digest>, a small JSON object naming the latest payload's id.
const OBJECTS = "objects/";
const INDEX = "index/";
const META = "x-amz-meta-nbmemo";
const FORMAT = 1;
// open() reads this much first, in the request that finds the size: the codec's first read of a payload
// (FIRST_READ_BYTES) is served from it, so a small payload costs one request.
const FIRST_READ_BYTES = 64 * 1024;
// Parts go up, and ranges come down, this many at a time.
const PARALLEL = 4;
// Throttling (429, 503 SlowDown), a server error or a dropped connection is tried again after these waits.
const RETRY_WAITS_MS = [100, 400];

interface Meta {
  readonly v: number;
  readonly computeMs?: number;
  readonly runtime?: string;
  readonly createdAt?: number;
  readonly key?: string;
  readonly writtenAt: number;
}

/** One request: what it does (for messages), the object key, and the statuses that are answers rather than errors. */
interface Call {
  readonly doing: string;
  readonly key: string;
  readonly method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  /** Statuses returned to the caller as they are (404 for a missing object); other non-2xx ones throw. */
  readonly answers?: readonly number[];
  /** A create-only write: a 412 after a retried attempt is that attempt's own success. */
  readonly createOnly?: boolean;
  /** A request to the bucket itself (a listing); `key` is then only what messages name. */
  readonly bucketLevel?: boolean;
}

/**
 * A {@link Store} in a bucket of any S3-compatible service (AWS S3, Cloudflare R2, MinIO, Ceph), shared by
 * every machine given the same bucket and prefix. Requests are signed (AWS Signature V4) by aws4fetch and
 * sent with the runtime's fetch, so it runs unchanged on Node and Deno; nothing is contacted until the
 * first read or write.
 *
 * A payload is one object, written create-only (`If-None-Match: *`; every write has a fresh id); one
 * larger than `partBytes` goes up as a multipart upload, part by part, never joined whole in memory. An
 * index object per entry key, written once the payload is complete, names the latest payload, so a reader
 * never finds a partial one. Large payloads are read back in ranges straight into the decoded values.
 *
 * @example
 * ```ts
 * import { Memory, s3Store } from "nbmemo";
 * // Nothing is sent until the first call: this only builds the store.
 * const store = s3Store({
 *   bucket: "team-cache",
 *   region: "auto",
 *   endpoint: "https://ACCOUNT_ID.r2.cloudflarestorage.com", // your R2 account id
 *   credentials: { accessKeyId: "KEY_ID", secretAccessKey: "SECRET" }, // from your R2 API token
 *   prefix: "nbmemo/project-a/",
 * });
 * async function openShared() {
 *   return await Memory.open(".nbmemo", { store });
 * }
 * ```
 */
export function s3Store(options: S3StoreOptions): Store {
  const config = parseS3StoreOptions(options);
  const { bucket, prefix, partBytes } = config;
  const s3 = new S3(config);
  const objectKey = (id: string) => `${prefix}${OBJECTS}${checkObjectId(id)}`;
  const indexKey = (key: string) => `${prefix}${INDEX}${checkObjectId(key)}`;
  let closed = false;
  const open = () => {
    if (closed) throw new NbmemoError("CLOSED", `Cannot use the S3 store of s3://${bucket}/${prefix}: it was closed.`);
  };

  return {
    flags: { shared: true },
    async get(id) {
      const key = objectKey(id);
      open();
      const response = await s3.send({ doing: "read", key, method: "GET", answers: [404] });
      if (response.status === 404) return await s3.missing(response, key);
      return new Uint8Array(await s3.body(response, key));
    },
    async open(id): Promise<PayloadReader | undefined> {
      const key = objectKey(id);
      open();
      return await openObject(s3, key, partBytes);
    },
    async set(id, chunks, info) {
      const key = objectKey(id);
      const index = info?.key === undefined ? undefined : indexKey(info.key);
      open();
      const meta: Meta = {
        v: FORMAT,
        writtenAt: Date.now(),
        ...(info && { computeMs: info.computeMs, runtime: info.runtime, createdAt: info.createdAt, key: info.key }),
      };
      const headers = { [META]: encodeURIComponent(JSON.stringify(meta)), "if-none-match": "*" };
      const bytes = byteLength(chunks);
      if (bytes <= partBytes) {
        await s3.send({ doing: "write", key, method: "PUT", headers, body: chunks.length === 1 ? chunks[0]! : concat(chunks), createOnly: true });
      } else {
        await uploadInParts(s3, key, chunks, bytes, partBytes, headers);
      }
      // Only now is the payload whole: the index may point at it.
      if (index) {
        await s3.send({ doing: "write the index", key: index, method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ v: FORMAT, id }) });
      }
    },
    // An index object left pointing at a deleted payload finds nothing: the read is a miss, and the key's
    // next write points it elsewhere.
    async delete(id) {
      const key = objectKey(id);
      open();
      await s3.send({ doing: "delete", key, method: "DELETE", answers: [404] });
    },
    async find(digest) {
      const key = indexKey(digest);
      open();
      const response = await s3.send({ doing: "read the index", key, method: "GET", answers: [404] });
      if (response.status === 404) return await s3.missing(response, key);
      let id: unknown;
      try {
        id = (JSON.parse(new TextDecoder().decode(await s3.body(response, key))) as { id?: unknown }).id;
      } catch { /* not ours */ }
      return typeof id === "string" && isObjectId(id) ? id : undefined;
    },
    async info(id): Promise<ObjectInfo | undefined> {
      const key = objectKey(id);
      open();
      const response = await s3.send({ doing: "read the info of", key, method: "HEAD", answers: [404] });
      if (response.status === 404) return undefined;
      const meta = readMeta(response);
      if (meta?.computeMs === undefined || meta.runtime === undefined) return undefined;
      return { computeMs: meta.computeMs, runtime: meta.runtime, createdAt: meta.createdAt ?? meta.writtenAt };
    },
    async list(): Promise<StoredObject[]> {
      open();
      const found: StoredObject[] = [];
      const folder = `${prefix}${OBJECTS}`;
      let token: string | undefined;
      do {
        const query: Record<string, string> = { "list-type": "2", prefix: folder, ...(token && { "continuation-token": token }) };
        const response = await s3.send({ doing: "list", key: folder, method: "GET", query, bucketLevel: true });
        const xml = new TextDecoder().decode(await s3.body(response, folder));
        for (const contents of xml.split("<Contents>").slice(1)) {
          const key = xmlText(contents, "Key") ?? "";
          const id = key.slice(folder.length);
          if (key.startsWith(folder) && isObjectId(id)) found.push({ id, modifiedAt: Date.parse(xmlText(contents, "LastModified") ?? "") || 0 });
        }
        token = xmlText(xml, "IsTruncated") === "true" ? xmlText(xml, "NextContinuationToken") : undefined;
      } while (token);
      return found;
    },
    close() {
      closed = true;
    },
  };
}

// A multipart upload: parts of `partBytes` (more if the payload would need over 10,000), each one built from
// the chunks it spans (a view when it lies in one chunk), a few at a time; aborted if anything fails.
async function uploadInParts(s3: S3, key: string, chunks: readonly Uint8Array[], bytes: number, partBytes: number, headers: Record<string, string>): Promise<void> {
  const size = Math.max(partBytes, Math.ceil(bytes / MAX_PARTS));
  const created = await s3.send({ doing: "start the upload of", key, method: "POST", query: { uploads: "" }, headers: { [META]: headers[META]! } });
  const uploadId = xmlText(new TextDecoder().decode(await s3.body(created, key)), "UploadId");
  if (!uploadId) throw s3.failure("start the upload of", key, "the answer to CreateMultipartUpload has no UploadId");
  try {
    const count = Math.ceil(bytes / size);
    const etags: string[] = new Array(count);
    let next = 0;
    // The first failure stops new parts; the parts in flight settle before the abort, since a part that
    // lands after it is stored (and billed) again, outside the aborted upload.
    let failed: { error: unknown } | undefined;
    const worker = async () => {
      while (!failed && next < count) {
        const n = next++;
        try {
          const body = slice(chunks, n * size, Math.min(bytes, (n + 1) * size));
          const response = await s3.send({ doing: `upload part ${n + 1} of ${count} of`, key, method: "PUT", query: { partNumber: String(n + 1), uploadId }, body });
          await response.body?.cancel();
          const etag = response.headers.get("etag");
          if (!etag) throw s3.failure(`upload part ${n + 1} of`, key, "the answer to UploadPart has no ETag");
          etags[n] = etag;
        } catch (error) {
          failed ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
    if (failed) throw failed.error;
    const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`).join("");
    const response = await s3.send({
      doing: "complete the upload of", key, method: "POST", query: { uploadId }, headers: { "if-none-match": "*", "content-type": "application/xml" },
      body: `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`, createOnly: true,
    });
    // S3 may answer 200 and still fail the completion, in the body.
    const answer = response.status === 412 ? "" : new TextDecoder().decode(await s3.body(response, key));
    if (answer.includes("<Error>")) throw s3.failure("complete the upload of", key, `${xmlText(answer, "Code") ?? "an error"} (${xmlText(answer, "Message") ?? ""})`);
  } catch (error) {
    // Best effort, and quick: the parts of an upload never completed are billed until aborted (a lifecycle
    // rule on the bucket removes what a killed writer left). A failed abort is dropped: the caller gets
    // what went wrong first.
    await s3.send({ doing: "abort the upload of", key, method: "DELETE", query: { uploadId }, answers: [404] }, 5_000)
      .then((r) => r.body?.cancel(), () => {});
    throw error;
  }
}

// Bytes [start, end) of the chunks, concatenated: a view when they lie in one chunk.
function slice(chunks: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const chunk of chunks) {
    const from = Math.max(start, at);
    const to = Math.min(end, at + chunk.byteLength);
    if (from < to) pieces.push(chunk.subarray(from - at, to - at));
    at += chunk.byteLength;
    if (at >= end) break;
  }
  return pieces.length === 1 ? pieces[0]! : concat(pieces);
}

// Opens a payload with one ranged GET of its first bytes (which also gives its size); later reads beyond
// them are ranged GETs of at most `partBytes`, a few at a time, each copied into place as it arrives, with
// If-Match on the first answer's ETag so that a replaced object is an error rather than a mix.
async function openObject(s3: S3, key: string, partBytes: number): Promise<PayloadReader | undefined> {
  let response = await s3.send({ doing: "read", key, method: "GET", headers: { range: `bytes=0-${FIRST_READ_BYTES - 1}` }, answers: [404, 416] });
  if (response.status === 404) return await s3.missing(response, key);
  let first: Uint8Array;
  let size: number;
  if (response.status === 416) { // an empty object: no range of it is satisfiable
    await response.body?.cancel();
    response = await s3.send({ doing: "read", key, method: "HEAD", answers: [404] });
    if (response.status === 404) return undefined;
    first = new Uint8Array(0);
    size = Number(response.headers.get("content-length") ?? 0);
  } else {
    first = new Uint8Array(await s3.body(response, key));
    const total = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1];
    size = response.status === 206 && total !== undefined ? Number(total) : first.byteLength; // 200: the server sent it whole
  }
  const etag = response.headers.get("etag");
  const headers = etag ? { "if-match": etag } : undefined;
  return {
    size,
    async read(offset, into) {
      if (offset < 0 || offset + into.byteLength > size) throw new RangeError(`Cannot read bytes ${offset}-${offset + into.byteLength} of s3://${s3.bucket}/${key}: it has ${size}`);
      if (offset + into.byteLength <= first.byteLength) return void into.set(first.subarray(offset, offset + into.byteLength));
      const ranges: number[] = [];
      for (let at = 0; at < into.byteLength; at += partBytes) ranges.push(at);
      let next = 0;
      const worker = async () => {
        while (next < ranges.length) {
          const at = ranges[next++]!;
          const part = into.subarray(at, Math.min(into.byteLength, at + partBytes));
          const range = `bytes=${offset + at}-${offset + at + part.byteLength - 1}`;
          const answer = await s3.send({ doing: "read", key, method: "GET", headers: { ...headers, range } });
          if (answer.status !== 206 && part.byteLength !== size) {
            await answer.body?.cancel();
            throw s3.failure("read", key, `the server ignored the range ${range} (HTTP ${answer.status})`);
          }
          await s3.bodyInto(answer, key, part);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, ranges.length) }, worker));
    },
    close() {},
  };
}

function readMeta(response: Response): Meta | undefined {
  const header = response.headers.get(META);
  if (!header) return undefined;
  try {
    const meta = JSON.parse(decodeURIComponent(header)) as Meta;
    return typeof meta === "object" && meta !== null && meta.v === FORMAT ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** Signs and sends requests to one bucket; turns every failure into a message naming the request, the object and the way out. */
class S3 {
  readonly bucket: string;
  readonly #config: S3Config;
  #client: AwsClient | undefined;

  constructor(config: S3Config) {
    this.#config = config;
    this.bucket = config.bucket;
  }

  // aws4fetch is loaded by the first request, not imported: a process that uses no S3 store (most) never loads it.
  async #signer(): Promise<AwsClient> {
    const { AwsClient } = await import("aws4fetch");
    return this.#client ??= new AwsClient({ ...this.#config.credentials, service: "s3", region: this.#config.region, retries: 0 });
  }

  /** Sends `call`, trying again after throttling, a server error or a dropped connection; resolves to a 2xx answer or one of `call.answers`. */
  async send(call: Call, timeoutMs = this.#config.timeoutMs): Promise<Response> {
    const { endpoint, bucket } = this.#config;
    const url = new URL(`${endpoint}/${bucket}${call.bucketLevel ? "" : `/${call.key.split("/").map(encodeURIComponent).join("/")}`}`);
    for (const [name, value] of Object.entries(call.query ?? {})) url.searchParams.set(name, value);
    for (let attempt = 0; ; attempt++) {
      const last = attempt === RETRY_WAITS_MS.length;
      let response: Response;
      try {
        // A variable, not a literal: Deno 2.4's types of aws4fetch's RequestInit lack `method` (no excess-property check here).
        const init = {
          method: call.method, headers: call.headers, // Our payloads are over ArrayBuffers, which fetch takes (the type also admits a SharedArrayBuffer).
          body: call.body as BodyInit | undefined, signal: AbortSignal.timeout(timeoutMs),
        };
        const request = await (this.#client ?? await this.#signer()).sign(url.href, init);
        response = await this.#config.fetch(request);
      } catch (error) {
        if (last || isTimeout(error)) throw this.#unreachable(call, error, timeoutMs);
        await wait(RETRY_WAITS_MS[attempt]!);
        continue;
      }
      if (response.ok || call.answers?.includes(response.status)) return response;
      // Our own earlier attempt went through although its answer was lost (an id is never written twice).
      if (response.status === 412 && call.createOnly && attempt > 0) return response;
      if (!last && (response.status === 429 || response.status >= 500)) {
        await response.body?.cancel();
        await wait(RETRY_WAITS_MS[attempt]!);
        continue;
      }
      throw await this.#httpError(call, response);
    }
  }

  /** The whole body of an answer (a timeout or a dropped connection while it arrives is an error saying so). */
  async body(response: Response, key: string): Promise<ArrayBuffer> {
    try {
      return await response.arrayBuffer();
    } catch (error) {
      throw this.#unreachable({ doing: "read", key }, error, this.#config.timeoutMs);
    }
  }

  /** Fills all of `into` with the body of an answer, as it arrives. */
  async bodyInto(response: Response, key: string, into: Uint8Array): Promise<void> {
    let at = 0;
    try {
      const reader = response.body?.getReader();
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        if (at + chunk.value.byteLength > into.byteLength) {
          await reader!.cancel();
          throw this.failure("read", key, `a range of ${into.byteLength} bytes came back longer`);
        }
        into.set(chunk.value, at);
        at += chunk.value.byteLength;
      }
    } catch (error) {
      if (error instanceof NbmemoError) throw error;
      throw this.#unreachable({ doing: "read", key }, error, this.#config.timeoutMs);
    }
    if (at !== into.byteLength) throw this.failure("read", key, `a range of ${into.byteLength} bytes came back with ${at}`);
  }

  /**
   * Undefined for a 404 that means the object is missing; an error for one that means the bucket is (a
   * missing bucket must not pass for an empty cache).
   */
  async missing(response: Response, key: string): Promise<undefined> {
    const text = await response.text().catch(() => "");
    if (xmlText(text, "Code") === "NoSuchBucket") throw await this.#httpError({ doing: "read", key, method: "GET" }, response, text);
    return undefined;
  }

  failure(doing: string, key: string, reason: string, cause?: unknown): NbmemoError {
    return new NbmemoError("STORE_UNAVAILABLE", `Cannot ${doing} s3://${this.bucket}/${key} at ${this.#config.endpoint}: ${reason}`, { cause });
  }

  #unreachable(call: Pick<Call, "doing" | "key">, error: unknown, timeoutMs: number): NbmemoError {
    if (isTimeout(error)) {
      return this.failure(call.doing, call.key, `no answer within ${timeoutMs} ms. Check that the service is up and reachable, or give s3Store a larger timeoutMs.`, error);
    }
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${firstLine(error.cause)})` : "";
    return this.failure(call.doing, call.key, `the request failed: ${firstLine(error)}${cause}. Check the endpoint and that the service is up and reachable.`, error);
  }

  async #httpError(call: Pick<Call, "doing" | "key" | "method">, response: Response, text?: string): Promise<NbmemoError> {
    text ??= call.method === "HEAD" ? "" : await response.text().catch(() => "");
    const code = xmlText(text, "Code");
    const message = xmlText(text, "Message");
    const what = `HTTP ${response.status}${code ? ` ${code}` : ""}${message ? ` (${message})` : ""}`;
    const way = response.status === 412 && (call.method === "GET" || call.method === "HEAD")
      ? "The object was replaced or deleted while it was read: read it again."
      : wayOut(response.status, code, this.#config);
    return this.failure(call.doing, call.key, `${what}. ${way}`);
  }
}

// What to do about an error answer, by its S3 error code (or its status, for a HEAD, whose answer has no body).
function wayOut(status: number, code: string | undefined, config: S3Config): string {
  switch (code) {
    case "NoSuchBucket":
      return `The bucket ${config.bucket} does not exist at ${config.endpoint}: create it, or check bucket and endpoint.`;
    case "InvalidAccessKeyId":
      return "The service does not know credentials.accessKeyId: check it (and the endpoint: a key of one service is unknown to another).";
    case "SignatureDoesNotMatch":
      return "The signature does not match: check credentials.secretAccessKey.";
    case "ExpiredToken":
    case "TokenRefreshRequired":
      return "The temporary credentials have expired: get new ones (and a new sessionToken).";
    case "AuthorizationHeaderMalformed":
    case "PermanentRedirect":
    case "IllegalLocationConstraintException":
      return `The bucket is in another region than region=${JSON.stringify(config.region)}: set region to the bucket's.`;
    case "AccessDenied":
      return `The access key may not do this: grant it s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on ${config.bucket}/${config.prefix}*.`;
    case "PreconditionFailed":
      return "An object with this id exists already: nbmemo never writes an id twice, so something else writes under this prefix. Give each cache a prefix of its own.";
    case "SlowDown":
      return "The service is throttling requests: try again later.";
  }
  if (status === 412) return wayOut(status, "PreconditionFailed", config);
  if (status === 401 || status === 403) return "Access was refused: check credentials, region, and the key's permissions on the bucket.";
  if (status === 404) return `Check bucket (${config.bucket}) and endpoint.`;
  if (status === 301 || status === 307) return wayOut(status, "PermanentRedirect", config);
  if (status >= 500 || status === 429) return "The service failed (after retries): try again later.";
  return "Check the store's options.";
}

// The text of the first <tag> in `xml`, entities decoded (S3's answers are small and flat enough for this).
function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return match?.[1]?.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) =>
    entity === "lt" ? "<" : entity === "gt" ? ">" : entity === "amp" ? "&" : entity === "quot" ? '"' : entity === "apos" ? "'"
    : String.fromCodePoint(entity[1] === "x" ? parseInt(entity.slice(2), 16) : Number(entity.slice(1))));
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms * (0.5 + Math.random())));
}
