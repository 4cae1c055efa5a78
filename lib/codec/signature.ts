// Signed payloads, for stores that others can write (a team's bucket or Redis): a trailer after the payload
// holds a team key's HMAC-SHA256 over it and what is known of it (the entry's key digest, compute time,
// runtime, when computed). A hit is then only ever an output written by someone holding the key,
// for that very entry: an unsigned, wrongly signed, altered or moved payload does not open.
//
//   payload | info (JSON, UTF-8) | info length (u32 LE) | HMAC-SHA256 (32 bytes) | "nbmsig01"
//
// The HMAC covers the payload, the info and its length, after a domain tag. node:crypto's HMAC takes the
// payload's chunks one by one (no joined copy), under Node and Deno alike.
import { CorruptPayload } from "./codec.ts";
// node:crypto only with a team key: loading it costs ~5 ms of a cold start.
import { nodeCrypto } from "../runtime.ts";

/** A stored payload that is not signed with this key for this entry: refused, never decoded. */
export class ForgedPayload extends CorruptPayload {}

/** What a signature vouches for beside the payload. */
export interface SignedInfo {
  readonly key: string;
  readonly computeMs: number;
  readonly runtime: string;
  readonly createdAt?: number;
}

const DOMAIN = new TextEncoder().encode("nbmemo signed payload v1\0");
const MAGIC = new TextEncoder().encode("nbmsig01");
const MAC_BYTES = 32;
/** The fixed end of every signed payload: the info's length, the HMAC and the magic. */
export const SIGNED_TAIL_BYTES = 4 + MAC_BYTES + MAGIC.byteLength;
const TAIL = SIGNED_TAIL_BYTES;
/** Keys shorter than this are refused: an HMAC is only as strong as its key. */
export const MIN_KEY_BYTES = 16;

/** Signs payloads with one team key, and opens (checks) signed ones. */
export class Signer {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.byteLength < MIN_KEY_BYTES) throw new RangeError(`a signing key needs at least ${MIN_KEY_BYTES} bytes`);
    this.#key = key;
  }

  /** The trailer to store after `chunks`: it signs them with `info`. */
  seal(chunks: readonly Uint8Array[], info: SignedInfo): Uint8Array {
    const signed: SignedInfo = {
      key: info.key, computeMs: info.computeMs, runtime: info.runtime, ...(info.createdAt !== undefined && { createdAt: info.createdAt }),
    };
    const json = new TextEncoder().encode(JSON.stringify(signed));
    const trailer = new Uint8Array(json.byteLength + TAIL);
    trailer.set(json);
    new DataView(trailer.buffer).setUint32(json.byteLength, json.byteLength, true);
    const head = trailer.subarray(0, json.byteLength + 4);
    trailer.set(this.#mac([...chunks, head]), head.byteLength);
    trailer.set(MAGIC, head.byteLength + MAC_BYTES);
    return trailer;
  }

  /**
   * The payload inside `stored` (a view, no copy) and the info signed with it, if it was signed with this
   * key for the entry whose key digest is `key`.
   *
   * @throws ForgedPayload when it is unsigned, signed with another key, altered, or another entry's.
   */
  open(stored: Uint8Array, key: string): { payload: Uint8Array; info: SignedInfo } {
    if (!isSigned(stored)) throw new ForgedPayload("it is not signed with the team's signing key (it carries no signature)");
    const tail = stored.byteLength - TAIL;
    const jsonBytes = new DataView(stored.buffer, stored.byteOffset + tail, 4).getUint32(0, true);
    if (jsonBytes > tail) throw new ForgedPayload("its signature is garbled");
    const end = tail - jsonBytes;
    const mac = this.#mac([stored.subarray(0, end), stored.subarray(end, tail + 4)]);
    if (!nodeCrypto().timingSafeEqual(mac, stored.subarray(tail + 4, tail + 4 + MAC_BYTES))) {
      throw new ForgedPayload("its signature does not match: it was signed with another key, or altered since");
    }
    const info = JSON.parse(new TextDecoder().decode(stored.subarray(end, tail))) as SignedInfo;
    if (info.key !== key) throw new ForgedPayload("it was signed for another entry (moved or copied in the store)");
    return { payload: stored.subarray(0, end), info };
  }

  #mac(pieces: readonly Uint8Array[]): Uint8Array {
    const hmac = nodeCrypto().createHmac("sha256", this.#key).update(DOMAIN);
    for (const piece of pieces) hmac.update(piece);
    return new Uint8Array(hmac.digest());
  }
}

/** True if `stored` ends the way a signed payload does (it says nothing of whether the signature holds). */
export function isSigned(stored: Uint8Array): boolean {
  if (stored.byteLength < TAIL) return false;
  const magic = stored.subarray(stored.byteLength - MAGIC.byteLength);
  return magic.every((b, i) => b === MAGIC[i]);
}
