// memory.url(): a URL as an input, keyed by the server's validators (ETag, else Last-Modified), or by the hash of the body when the server sends neither.
import { describe, NbmemoError } from "../errors.ts";
import { KEY, PREVIEW } from "../keys/args.ts";
import { nodeCrypto } from "../runtime.ts";

/** What a URL's key is made of: the validator the server gave, of one kind. */
export type UrlValidator = { readonly etag: string } | { readonly lastModified: string } | { readonly bodyHash: string };

/**
 * A URL as an input to a memoized function (an argument or in `deps`), as it was when {@link Memory.url}
 * asked the server: a new ETag, Last-Modified or body is a miss. The function receives it and fetches `.url`.
 */
export class InputUrl {
  readonly url: string;
  readonly validator: UrlValidator;

  constructor(url: string, validator: UrlValidator) {
    this.url = url;
    this.validator = validator;
  }

  [KEY](): unknown {
    return { url: this.url, ...this.validator };
  }

  [PREVIEW](): string {
    const [kind, value] = Object.entries(this.validator)[0]!;
    return `url ${this.url.length > 40 ? `…${this.url.slice(-39)}` : this.url} ${kind} ${String(value).slice(0, 16)}`;
  }
}

/**
 * Asks the server for the URL's validators with a HEAD request (a GET where HEAD is refused or tells
 * none, hashing the body). A weak ETag counts like a strong one: it names the same version of the content.
 */
export async function openUrl(url: string, fetcher: typeof fetch = fetch): Promise<InputUrl> {
  const where = `memory.url(${JSON.stringify(url)})`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NbmemoError("INVALID_OPTION", `Cannot use ${where}: it is not an absolute URL. Give one such as "https://example.org/data.csv".`);
  }
  const failed = (error: unknown) =>
    new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot key ${where}: ${describe(error)}. Check the URL and the network, or pass the data itself.`, { cause: error });
  const validatorOf = (headers: Headers): UrlValidator | undefined => {
    const etag = headers.get("etag");
    if (etag) return { etag };
    const lastModified = headers.get("last-modified");
    return lastModified ? { lastModified } : undefined;
  };
  try {
    const head = await fetcher(parsed, { method: "HEAD" });
    await head.body?.cancel();
    const found = head.ok ? validatorOf(head.headers) : undefined;
    if (found) return new InputUrl(url, found);
    const response = await fetcher(parsed);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
    const fromGet = validatorOf(response.headers);
    if (fromGet) {
      await response.body?.cancel();
      return new InputUrl(url, fromGet);
    }
    const hash = nodeCrypto().createHash("sha256");
    // Read chunk by chunk (a large body never sits in memory whole); a reader, since Deno 2.4's types
    // do not make a ReadableStream async-iterable.
    const reader = response.body?.getReader();
    for (let chunk = await reader?.read(); chunk && !chunk.done; chunk = await reader!.read()) hash.update(chunk.value);
    return new InputUrl(url, { bodyHash: hash.digest("hex") });
  } catch (error) {
    throw failed(error);
  }
}
