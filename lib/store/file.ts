// The default store: one file per output under objects/ab/<id>, written to a temp name and renamed.
import type { Dirent } from "node:fs";
import { dirname, join } from "node:path";
import { byteLength } from "../bytes.ts";
import { denoWriteFile, nativeFileText } from "../runtime.ts";
import { beginSummedWrite, startSumThread, SUM_PART, type SummedWrite } from "./sum-thread.ts";
import { checkObjectId, isObjectId, type PayloadReader, type Store, type StoredObject } from "./store.ts";

// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const {
  closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmdirSync, rmSync, statSync, writeSync, writev,
} = process.getBuiltinModule("node:fs");

// From this size on, a payload is written on another thread while the caller goes on and computes its
// checksum meanwhile (see writeEntry): Node's fs.writev on its thread pool, Deno's own file write
// (denoWriteFile). Written and then summed, an 80 MB store took ~1.5x a raw write under either runtime;
// so, ~1.1-1.2x in single runs whose write does not stray (README, "80 MB").
const BACKGROUND_BYTES = 1 << 20;
// From this size on, once the process has its summing thread (lib/store/sum-thread.ts), a payload is
// written here, as a raw write is, and summed there as it is written: `set` returns its checksum.
const SUMMED_BYTES = 8 << 20;

/**
 * A {@link Store} over a local directory. Ids are checked to be hex digests, so no id can name a path
 * outside `dir`. It declares {@link Store.open}: payloads are read at offsets with plain reads.
 */
export function fileStore(dir: string): Store {
  let counter = 0;
  const pathOf = (id: string) => join(dir, checkObjectId(id).slice(0, 2), id.slice(2));
  // A write of `id` under a temp name: published by renaming it, or failed by removing it.
  const begin = (id: string) => {
    const path = pathOf(id);
    const temp = `${path}.${process.pid}.${counter++}.tmp`;
    const fd = createIn(join(dir, id.slice(0, 2)), temp);
    const fail = (error: unknown): never => {
      closeSync(fd);
      rmSync(temp, { force: true });
      throw error;
    };
    const publish = () => {
      closeSync(fd);
      renameSync(temp, path);
    };
    return { fd, temp, fail, publish };
  };
  return {
    get(id) {
      return ifExists(() => readFileSync(pathOf(id)));
    },
    open(id) {
      const fd = ifExists(() => openSync(pathOf(id), "r"));
      return fd === undefined ? undefined : fileReader(fd);
    },
    set(id, chunks) {
      const { fd, temp, fail, publish } = begin(id);
      const bytes = byteLength(chunks);
      if (bytes < BACKGROUND_BYTES) return writeAll(fd, chunks, fail, publish);
      const large = bytes >= SUMMED_BYTES;
      const summed = large ? beginSummedWrite(temp, bytes) : undefined;
      if (summed) return writeSummed(fd, chunks, summed, fail, publish);
      const written = (denoWriteFile ? denoWriteFile(temp, chunks) : writevAll(fd, chunks)).then(publish, fail);
      return large ? written.then(startSumThread) : written;
    },
    // Synchronous writes of each piece while it is in the cache: a 100 MB string took ~1.1x a raw
    // writeFileSync of it so, against ~2x encoded whole and then written (see the README's "Strings").
    setPieces(id, pieces) {
      const { fd, fail, publish } = begin(id);
      writeAll(fd, pieces, fail, publish);
    },
    delete(id) {
      rmSync(pathOf(id), { force: true });
      try {
        rmdirSync(dirname(pathOf(id))); // once its last payload is gone (`set` makes it again if need be)
      } catch { /* not empty */ }
    },
    list() {
      const found: StoredObject[] = [];
      for (const prefix of readdirOrEmpty(dir)) {
        for (const rest of readdirOrEmpty(join(dir, prefix))) {
          const id = prefix + rest;
          if (!isObjectId(id)) continue; // temp files of writes in progress
          try {
            found.push({ id, modifiedAt: statSync(join(dir, prefix, rest)).mtimeMs });
          } catch {
            // removed meanwhile
          }
        }
      }
      return found;
    },
    strays(before, remove) {
      return strayPaths(dir, before, remove);
    },
  };
}

// Walks the store's directory: payloads are files objects/<2 hex>/<rest of a valid id>; any other file
// that last changed before `before` is a stray (a younger one may be a write in progress). Returns their
// paths relative to `dir`; with `remove`, removes them and then the folders left empty.
function strayPaths(dir: string, before: number, remove: boolean): string[] {
  const found: string[] = [];
  // Returns whether `path` itself is gone (removed as an empty folder).
  const walk = (path: string, relative: string): boolean => {
    let names: Dirent[];
    try {
      names = readdirSync(path, { withFileTypes: true });
    } catch {
      return false;
    }
    let left = names.length;
    for (const entry of names) {
      const child = join(path, entry.name);
      const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (walk(child, childRelative)) left--;
        continue;
      }
      if (/^[0-9a-f]{2}$/.test(relative) && isObjectId(relative + entry.name)) continue; // a payload
      const changed = ifExists(() => lstatSync(child).mtimeMs);
      if (changed === undefined) left--;
      if (changed === undefined || changed >= before) continue;
      found.push(childRelative);
      if (remove) rmSync(child, { force: true }), left--;
    }
    if (relative === "" || left > 0 || !remove) return false;
    try {
      rmdirSync(path); // fails, and keeps it, if a writer put a file in meanwhile
      return true;
    } catch {
      return false;
    }
  };
  walk(dir, "");
  return found;
}

// Another process removes a folder once its last payload is gone (`delete`, `strays`): between the mkdir and
// the open, or inside a recursive mkdir, which then fails having found the folder and lost it (ENOENT under
// Node, EEXIST under Deno). Seen about once in 8 runs of 3 processes x 1,000 stores under a tiny maxBytes,
// where most folders hold no payload; the folder is made again then.
function createIn(folder: string, temp: string): number {
  for (let attempt = 1; ; attempt++) {
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      return openSync(temp, "wx", 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== "ENOENT" && code !== "EEXIST") || attempt === 10) throw error;
    }
  }
}

function readdirOrEmpty(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}


function ifExists<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function fileReader(fd: number): PayloadReader {
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // Reads at offsets (pread) leave the file's own position, which readFileSync(fd) reads from, at 0.
  const readAt = (offset: number, into: Uint8Array, position: number | null = offset) => {
    for (let done = 0; done < into.byteLength;) {
      const n = readSync(fd, into, done, into.byteLength - done, position === null ? null : position + done);
      if (n === 0) throw new Error(`Cannot read the payload: it ended at ${offset + done} bytes, before ${offset + into.byteLength}`);
      done += n;
    }
  };
  let textRead = false;
  return {
    size,
    cheapReads: true,
    read: (offset, into) => readAt(offset, into),
    ...nativeFileText && {
      textToEnd(offset: number) {
        if (textRead) throw new Error("A payload's text is read to its end once");
        textRead = true;
        if (offset > 0) readAt(0, new Uint8Array(offset), null); // up to `offset`, from the file's position 0
        return readFileSync(fd, "utf8");
      },
    },
    close() {
      closeSync(fd);
    },
  };
}

// All of `chunks`, in order, by fs.writev on Node's thread pool (a short write goes on from where it stopped).
async function writevAll(fd: number, chunks: readonly Uint8Array[]): Promise<void> {
  let pending = chunks.filter((c) => c.byteLength > 0);
  while (pending.length > 0) {
    let written = await new Promise<number>((resolve, reject) => writev(fd, pending, (error, n) => error ? reject(error) : resolve(n)));
    while (pending.length > 0 && written >= pending[0]!.byteLength) written -= pending.shift()!.byteLength;
    if (written > 0) pending[0] = pending[0]!.subarray(written);
  }
}

// All of `chunks`, as writeAll, a part at a time, telling the summing thread, then published; their
// checksum, or undefined if that thread failed (the caller then sums them itself).
function writeSummed(fd: number, chunks: readonly Uint8Array[], summed: SummedWrite, fail: (error: unknown) => never, publish: () => void): string | undefined {
  let written = 0;
  const parts = function* () {
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.byteLength; at += SUM_PART) {
        if (written > 0) summed.progress(written);
        const part = chunk.subarray(at, at + SUM_PART);
        written += part.byteLength;
        yield part;
      }
    }
  };
  writeAll(fd, parts(), (error) => {
    summed.abandon();
    return fail(error);
  });
  const sum = summed.end();
  publish();
  return sum;
}

// No fsync: the rename publishes only complete files to other processes, and a process crash keeps
// the page cache. After a power loss a file may be short; the codec's length check then makes it a miss.
// `publish`, when given, runs once all is written (writeSummed publishes after its checksum).
function writeAll(fd: number, chunks: Iterable<Uint8Array>, fail: (error: unknown) => never, publish?: () => void): void {
  try {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.byteLength;) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
    }
  } catch (error) {
    fail(error);
  }
  publish?.();
}
