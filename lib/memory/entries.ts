// The one way a stored entry is read (inline or object, checksum, compression, decode) and the one way it is written.
import { byteLength, concat } from "../bytes.ts";
import { Checksum, checksum, checksumOfAscii, newChecksum, type RunningSum, sumLike } from "../codec/checksum.ts";
import { compress, CorruptPayload, decode, encode, parseJson, PLAIN_PREFIX, PLAIN_SECTIONS, PLAIN_TEXT_FROM, plainHeader, UnstorableValue } from "../codec/codec.ts";
import type { Compression } from "../codec/compression.ts";
import { decodeSource } from "../codec/read.ts";
import { type Chunk, materialize, payloadPieces } from "../codec/text.ts";
import { ForgedPayload, isSigned, SIGNED_TAIL_BYTES, type Signer } from "../codec/signature.ts";
import type { Catalog, InlineText } from "../catalog/catalog.ts";
import { describe } from "../errors.ts";
import { formatBytes } from "../format.ts";
import { sha256 } from "../keys/source.ts";
import type { Logger } from "../log.ts";
import { newObjectId, type ObjectInfo, removeObjects, type Store } from "../store/store.ts";
import type { Entry, EntryKey } from "../types.ts";

/** The payload is not there at all (a shared store may have expired or cleared it). */
export class MissingPayload extends CorruptPayload {}

/** Where an entry's payload is, as the catalog records it; a null checksum is not checked. */
export type StoredPayload = Pick<Entry, "inline" | "object" | "checksum"> & {
  /** A plain JSON payload's text, as the catalog reads it with {@link PLAIN_TEXT} (`inline` is then null). */
  readonly text?: string | undefined;
};

/** The catalog lookup's description of plain JSON payloads, which it then gives as their text. */
export const PLAIN_TEXT: InlineText = { prefix: PLAIN_PREFIX, andAt: PLAIN_SECTIONS, from: PLAIN_TEXT_FROM };

/** A payload read back and decoded. */
export interface ReadPayload {
  readonly value: unknown;
  /** The payload's length in bytes. */
  readonly bytes: number;
  /** The checksum of the bytes read, when asked for (adopting an entry records it). */
  readonly checksum?: string;
  /** What the signature vouched for, when the payload was signed. */
  readonly signed?: ObjectInfo;
}

/** How a payload is read: with its checksum, and, for a shared store with a team key, its signature. */
export interface ReadOptions {
  readonly checksum?: boolean;
  /** Objects must be signed with this key for `key` (inline payloads live in the local catalog: trusted). */
  readonly signer?: Signer | undefined;
  readonly key?: EntryKey;
}

/**
 * Reads and decodes the payload of `entry`, checking its checksum. Of an object in a shared store only
 * the codec's own checks apply (another machine may rightly have rewritten it since), and its signature
 * with a team key.
 *
 * @throws MissingPayload when the payload is gone, CorruptPayload when it does not check out,
 * ForgedPayload when it is not signed as it must be: at once for an inline entry, which is read
 * synchronously, else by rejecting.
 */
export function readEntry(store: Store, entry: StoredPayload, want: ReadOptions = {}): ReadPayload | Promise<ReadPayload> {
  if (entry.text !== undefined) return readPlainText(store, entry as StoredPayload & { text: string; checksum: string }, want);
  const checked = entry.checksum !== null && !(entry.object && store.flags?.shared);
  // Of the bytes in order, as they are read.
  const sum = checked ? sumLike(entry.checksum!) : want.checksum ? new Checksum() : undefined;
  const finish = (read: { value: unknown; bytes: number; signed?: ObjectInfo }): ReadPayload => {
    const got = sum?.value();
    if (checked && got !== entry.checksum) throw changed();
    return want.checksum ? { ...read, checksum: got! } : read;
  };
  // Inline, it is read at once (a hit then awaits nothing); an object is read from the store.
  if (entry.inline) {
    sum?.add(entry.inline);
    return finish({ value: decode(entry.inline), bytes: entry.inline.byteLength });
  }
  if (!entry.object) throw new MissingPayload("its output is missing");
  const object = entry.object;
  return (want.signer ? readSigned(store, object, sum, want.signer, keyDigest(want.key!)) : readObject(store, object, sum, checked)).then(finish);
}

// The checksum of the text of each entry met (undefined: not ASCII), with that text: the catalog hands out
// the same entry to the lookups of one read burst, whose hits then sum its text once.
const summed = new WeakMap<StoredPayload, { readonly text: string; readonly sum: string | undefined }>();

// A plain JSON payload given as its text, which stands for its header and the text's UTF-8: checked against
// the checksum of those bytes (the catalog gives a text only with one), without making them when the text is
// ASCII; else made and read as any inline payload.
function readPlainText(store: Store, entry: StoredPayload & { text: string; checksum: string }, want: ReadOptions): ReadPayload | Promise<ReadPayload> {
  const { text } = entry;
  let known = summed.get(entry);
  if (known?.text !== text) summed.set(entry, known = { text, sum: checksumOfAscii(plainHeader(text.length), text) });
  const { sum } = known;
  if (sum === undefined) {
    const json = new TextEncoder().encode(text);
    return readEntry(store, { ...entry, text: undefined, inline: concat([plainHeader(json.byteLength), json]) }, want);
  }
  if (sum !== entry.checksum) throw changed();
  const read = { value: parseJson(text), bytes: PLAIN_TEXT_FROM + text.length };
  return want.checksum ? { ...read, checksum: sum } : read;
}

// A store that can read at offsets lets the codec read large binary sections straight into their buffers.
async function readObject(store: Store, id: string, sum: RunningSum | undefined, checked: boolean): Promise<{ value: unknown; bytes: number }> {
  if (!store.open) {
    const bytes = await store.get(id) ?? missing();
    sum?.add(bytes);
    return { value: decodeUnsigned(bytes), bytes: bytes.byteLength };
  }
  const reader = await store.open(id) ?? missing();
  try {
    return { value: await decodeSource(reader, sum, checked), bytes: reader.size };
  } catch (error) {
    if (error instanceof CorruptPayload && reader.size >= SIGNED_TAIL_BYTES && isSigned(await tail(reader))) throw signedWithoutKey();
    throw error;
  } finally {
    await reader.close();
  }
}

// A signature covers every byte, so a signed payload is read whole (one buffer), checked, then decoded
// from a view of it.
async function readSigned(store: Store, id: string, sum: RunningSum | undefined, signer: Signer, key: string) {
  const stored = await store.get(id) ?? missing();
  sum?.add(stored);
  const { payload, info } = signer.open(stored, key);
  return { value: decode(payload), bytes: stored.byteLength, signed: info };
}

function decodeUnsigned(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch (error) {
    throw error instanceof CorruptPayload && isSigned(bytes) ? signedWithoutKey() : error;
  }
}

async function tail(reader: { size: number; read(offset: number, into: Uint8Array): unknown }): Promise<Uint8Array> {
  const last = new Uint8Array(SIGNED_TAIL_BYTES);
  await reader.read(reader.size - SIGNED_TAIL_BYTES, last);
  return last;
}

function signedWithoutKey(): ForgedPayload {
  return new ForgedPayload("it is signed with a team key, and this Memory has none: give it the same signingKey (or NBMEMO_SIGNING_KEY) to read it");
}

function changed(): CorruptPayload {
  return new CorruptPayload("its output was changed after it was stored (checksum mismatch)");
}

function missing(): never {
  throw new MissingPayload("its output is missing");
}

/** How outputs are written: what {@link writeEntry} takes of the Memory's config. */
export interface WriteSettings {
  readonly inlineBytes: number;
  readonly compress: Compression | false;
  readonly compressMinBytes: number;
  readonly maxBytes: number | null;
  /** The runtime recorded with every entry, e.g. "node 24.1.0". */
  readonly runtime: string;
  /** Signs every object (a shared store with a team key). */
  readonly signer?: Signer | undefined;
}

/** A computed value to store under its key. */
export interface NewOutput {
  readonly key: EntryKey;
  readonly value: unknown;
  readonly computeMs: number;
  readonly argsPreview: string;
  /** When it was computed, in ms since the epoch. */
  readonly createdAt: number;
  /** Written with the entry: its arguments' fingerprint, and the lease holder whose lease it ends (see {@link Catalog.put}). */
  readonly extra?: { readonly argsShape?: string; readonly releaseLease?: string };
}

/** What {@link writeEntry} did: stored so many bytes, or refused, saying why. */
export type WriteOutcome = { readonly stored: number } | { readonly refused: string };

/**
 * Encodes and stores `output`: inline in the catalog when small (never for a shared store, whose other
 * machines must find every output), else as an object; then records the entry and removes the output it
 * replaced. Never throws: a value that cannot be stored is refused, with the reason.
 */
export async function writeEntry(catalog: Catalog, store: Store, settings: WriteSettings, output: NewOutput, log: Logger): Promise<WriteOutcome> {
  const { key, computeMs, argsPreview, createdAt } = output;
  // A store that takes pieces gets a large text's UTF-8 made as it writes, unless it is compressed or signed.
  const setPieces = settings.compress || settings.signer ? undefined : store.setPieces?.bind(store);
  let chunks: Chunk[];
  try {
    chunks = encode(output.value, setPieces !== undefined);
    if (settings.compress && byteLength(chunks) >= settings.compressMinBytes) chunks = await compress(materialize(chunks), settings.compress);
  } catch (error) {
    return { refused: error instanceof UnstorableValue ? error.message : describe(error) };
  }
  const bytes = byteLength(chunks);
  if (settings.maxBytes !== null && bytes > settings.maxBytes) {
    return { refused: `it takes ${formatBytes(bytes)}, more than maxBytes (${formatBytes(settings.maxBytes)})` };
  }
  const inline = bytes <= settings.inlineBytes && !store.flags?.shared ? concat(materialize(chunks)) : null;
  const object = inline ? null : newObjectId();
  const info = { computeMs, runtime: settings.runtime, createdAt, key: keyDigest(key) };
  if (object && settings.signer) chunks = [...chunks, settings.signer.seal(materialize(chunks), info)];
  const stored = byteLength(chunks);
  let stale: string | undefined;
  try {
    let sum: string;
    if (object && setPieces && chunks.some((chunk) => !(chunk instanceof Uint8Array))) {
      const checked = newChecksum(stored);
      setPieces(object, (function* () {
        for (const piece of payloadPieces(chunks)) checked.add(piece), yield piece;
      })());
      sum = checked.value();
    } else {
      // The checksum is computed while a store that writes in the background (the file store, for a large
      // payload) writes, unless the store summed what it wrote itself.
      const bytes = materialize(chunks);
      const writing = object ? store.set(object, bytes, info) : undefined;
      sum = typeof writing === "string" ? writing : checksum(bytes);
      await writing;
    }
    stale = await catalog.put({ ...key, object, inline, checksum: sum, bytes: stored, computeMs, argsPreview, runtime: settings.runtime }, createdAt, createdAt, output.extra);
  } catch (error) {
    return { refused: describe(error) };
  }
  try {
    if (stale) await removeObjects(store, [stale]);
  } catch (error) {
    log.debug(`could not remove the replaced output ${stale} of ${key.name}: ${describe(error)}`);
  }
  return { stored };
}

/** What {@link adoptEntry} needs to know of the time: now, and how old an entry may be (null: any age). */
export interface AdoptClock {
  readonly now: number;
  readonly maxAgeMs: number | null;
}

/**
 * A copy of an output, through the codec, for a call that joined another one computing it: each caller
 * gets a value of its own, so that one's changes are not seen by the other. An output the codec refuses
 * (it was not stored either) is shared as it is.
 */
export function copyOutput(value: unknown): unknown {
  let chunks: Uint8Array[];
  try {
    chunks = encode(value);
  } catch {
    return value;
  }
  return decode(concat(chunks));
}

/**
 * Adopts an entry that another machine wrote to a shared store: finds the object last written for its key
 * (the store's index), reads it (the one read path), and records it in the local catalog with the time it
 * was computed, so that `maxAge` counts from then here too. Undefined when the store has none, or only
 * one older than `maxAgeMs` (or of unknown age, when there is a limit).
 */
export async function adoptEntry(catalog: Catalog, store: Store, key: EntryKey, argsPreview: string, log: Logger, clock: AdoptClock, signer?: Signer): Promise<{ value: unknown; computeMs: number } | undefined> {
  const digest = keyDigest(key);
  let read: ReadPayload;
  let info: ObjectInfo | undefined;
  let object: string;
  try {
    // Entries written before nbmemo 0.3 sit under the key's digest itself, unindexed.
    object = await store.find?.(digest) ?? digest;
    info = await store.info?.(object);
    const tooOld = (createdAt: number | undefined) => clock.maxAgeMs !== null && (createdAt === undefined || createdAt < clock.now - clock.maxAgeMs);
    if (tooOld(info?.createdAt)) {
      if (info) log.debug(`${key.name} in the shared store is older than maxAge: recomputing it`);
      return undefined;
    }
    read = await readEntry(store, { inline: null, object, checksum: null }, { checksum: true, signer, key });
    // What the signature vouches for, not what the store says beside it.
    if (read.signed) info = read.signed;
    if (tooOld(info?.createdAt)) return undefined;
  } catch (error) {
    if (error instanceof ForgedPayload) warnForged(log, key.name, argsPreview, error);
    else if (!(error instanceof MissingPayload)) log.debug(`could not adopt ${key.name} from the shared store: ${describe(error)}`);
    return undefined;
  }
  const computeMs = info?.computeMs ?? 0;
  try {
    await catalog.put({
      ...key, object, inline: null, checksum: read.checksum!, bytes: read.bytes, computeMs, argsPreview, runtime: info?.runtime ?? "unknown",
    }, clock.now, info?.createdAt ?? clock.now);
  } catch (error) {
    log.debug(`could not record ${key.name} from the shared store: ${describe(error)}`);
  }
  return { value: read.value, computeMs };
}

/** The one warning (per name and process) for outputs in a shared store that are refused for their signature. */
export function warnForged(log: Logger, name: string, args: string, error: ForgedPayload): void {
  log.warnOnce(`forged:${name}`, `Refused the result of ${name}(${args}) in the shared store: ${error.message}. Computing it instead.`);
}

/** What a shared store indexes an entry's object by (and its lease, and a signature binds it to): the same on every machine. */
export function keyDigest(key: EntryKey): string {
  return sha256(`${key.name}\0${key.version}\0${key.argsHash}`);
}
