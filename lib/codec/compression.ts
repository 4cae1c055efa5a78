// gzip and zstd through node:zlib: which the runtime has, streaming compression of payload chunks, and
// bounded decompression.
// node:zlib is loaded on first use, not imported: a process that reads only small outputs needs none of it.
import { nodeZlib as zlib } from "../runtime.ts";

/** The compression methods an output may be stored with. */
export const COMPRESSIONS = ["gzip", "zstd"] as const;
export type Compression = typeof COMPRESSIONS[number];

/** Whether this runtime's node:zlib can compress and decompress with `method`. */
export function compressionSupported(method: Compression): boolean {
  // zstd came to node:zlib in Node 22.15 / 23.8; Deno 2.x has it too.
  const { createZstdCompress, zstdDecompressSync } = zlib();
  return method === "gzip" || (typeof createZstdCompress === "function" && typeof zstdDecompressSync === "function");
}

/**
 * Compresses `chunks`, in order, as one stream (no concatenation of the input), and resolves to the
 * compressed chunks.
 */
export async function compressChunks(chunks: readonly Uint8Array[], method: Compression): Promise<Uint8Array[]> {
  // gzip carries a CRC-32 by format; zstd's checksum is opt-in, and without it a garbled stream can
  // decompress to wrong bytes of the right length.
  const { createGzip, createZstdCompress, constants } = zlib();
  const stream = method === "gzip" ? createGzip() : createZstdCompress({ params: { [constants.ZSTD_c_checksumFlag]: 1 } });
  const out: Uint8Array[] = [];
  const finished = new Promise<void>((resolve, reject) => {
    stream.on("data", (chunk: Uint8Array) => out.push(chunk));
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once("drain", resolve));
  }
  stream.end();
  await finished;
  return out;
}

/**
 * Decompresses `bytes`, refusing to produce more than `expectedLength` bytes (a garbled stream cannot
 * blow up memory). Throws when the stream is truncated or garbled.
 */
export function decompress(bytes: Uint8Array, method: Compression, expectedLength: number): Uint8Array {
  const options = { maxOutputLength: Math.max(expectedLength, 1) };
  const { gunzipSync, zstdDecompressSync } = zlib();
  return method === "gzip" ? gunzipSync(bytes, options) : zstdDecompressSync(bytes, options);
}
