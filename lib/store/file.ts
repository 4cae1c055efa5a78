// The default store: one file per output under objects/ab/<id>, written to a temp name and renamed.
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { checkObjectId, isObjectId, type PayloadReader, type Store, type StoredObject } from "./store.ts";

/**
 * A {@link Store} over a local directory. Ids are checked to be hex digests, so no id can name a path
 * outside `dir`. It declares {@link Store.open}: payloads are read at offsets with plain reads.
 */
export function fileStore(dir: string): Store {
  let counter = 0;
  const pathOf = (id: string) => join(dir, checkObjectId(id).slice(0, 2), id.slice(2));
  return {
    get(id) {
      return ifExists(() => readFileSync(pathOf(id)));
    },
    open(id) {
      const fd = ifExists(() => openSync(pathOf(id), "r"));
      return fd === undefined ? undefined : fileReader(fd);
    },
    set(id, chunks) {
      const path = pathOf(id);
      mkdirSync(join(dir, id.slice(0, 2)), { recursive: true, mode: 0o700 });
      const temp = `${path}.${process.pid}.${counter++}.tmp`;
      const fd = openSync(temp, "wx", 0o600);
      try {
        for (const chunk of chunks) writeAll(fd, chunk);
      } catch (error) {
        closeSync(fd);
        rmSync(temp, { force: true });
        throw error;
      }
      closeSync(fd);
      renameSync(temp, path);
    },
    delete(id) {
      rmSync(pathOf(id), { force: true });
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
  };
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
  return {
    size,
    read(offset, into) {
      for (let done = 0; done < into.byteLength;) {
        const n = readSync(fd, into, done, into.byteLength - done, offset + done);
        if (n === 0) throw new Error(`Cannot read the payload: it ended at ${offset + done} bytes, before ${offset + into.byteLength}`);
        done += n;
      }
    },
    close() {
      closeSync(fd);
    },
  };
}

// No fsync: the rename publishes only complete files to other processes, and a process crash keeps
// the page cache. After a power loss a file may be short; the codec's length check then makes it a miss.
function writeAll(fd: number, chunk: Uint8Array): void {
  for (let offset = 0; offset < chunk.byteLength;) {
    offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
  }
}
