// Input files as arguments or deps: a file, a directory or a glob keyed by the hash of the contents, with a fast path (size, mtime, inode remembered by the caller) so that an unchanged file is not read again.
import { Buffer } from "node:buffer";
import { join, relative, resolve, sep } from "node:path";
import { NbmemoError } from "../errors.ts";
import { nodeCrypto } from "../runtime.ts";
import { KEY, PREVIEW } from "./args.ts";
// Through getBuiltinModule, not an ESM import: see "Built-ins" in lib/runtime.ts.
const { closeSync, openSync, readdirSync, readSync, statSync } = process.getBuiltinModule("node:fs");

/** What is remembered of a file whose contents were hashed: if size, mtime and inode are the same, so is the hash. */
export interface FileStamp {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: string;
  readonly hash: string;
  /** When the hash was taken (ms since the epoch). */
  readonly checkedAt: number;
}

/** Where stamps are remembered across calls and processes (the catalog), keyed by absolute path. */
export interface FileStamps {
  get(path: string): FileStamp | undefined;
  put(path: string, stamp: FileStamp): void;
}

// A file written within this long before its hash was taken may be written again within the same mtime
// tick (1 s on some file systems, 2 s on FAT) without its size changing: its stamp is not trusted, and it
// is read again next time (git's "racy clean" rule).
const RACY_MS = 2_000;
const CHUNK = 1 << 20;

/** The kinds of input: one file, every file under a directory, the files a glob matches. */
export type InputKind = "file" | "directory" | "glob";

/**
 * An input file (or directory, or glob) given to a memoized function as an argument or in `deps`: keyed
 * by the hash of what it holds, so that a changed file is a miss and an unchanged one a hit. The function
 * receives it and reads `.path` (or `.files()`).
 */
export class InputFile {
  /** The path (or glob pattern) as given. */
  readonly path: string;
  readonly kind: InputKind;
  readonly #stamps: FileStamps | undefined;
  readonly #now: () => number;

  constructor(kind: InputKind, path: string, stamps?: FileStamps, now: () => number = Date.now) {
    if (typeof path !== "string" || path === "") {
      throw new NbmemoError("INVALID_OPTION", `Cannot use ${JSON.stringify(path) ?? String(path)} as an input ${kind}: give a non-empty path string, such as "data/stations.csv".`);
    }
    this.path = path;
    this.kind = kind;
    this.#stamps = stamps;
    this.#now = now;
  }

  /** The files it stands for now, as paths joined to `path` (one for a file), sorted. */
  files(): string[] {
    if (this.kind === "file") return [this.path];
    if (this.kind === "directory") return walk(this.path).map((name) => join(this.path, name));
    return globFiles(this.path);
  }

  /** The hash of its contents now: of the file, or of every file's relative path and contents. */
  hash(): string {
    if (this.kind === "file") return this.#hashFile(this.path);
    const base = this.kind === "directory" ? this.path : globBase(this.path);
    const hash = nodeCrypto().createHash("sha256");
    for (const file of this.files()) hash.update(`${JSON.stringify(relative(base, file).split(sep).join("/"))}:${this.#hashFile(file)}\n`);
    return hash.digest("hex");
  }

  [KEY](): unknown {
    return { [this.kind]: this.path, hash: this.hash() };
  }

  [PREVIEW](): string {
    let hash: string;
    try {
      hash = this.hash().slice(0, 8);
    } catch {
      hash = "missing";
    }
    // Short enough to keep the file's name and the hash within a preview's 40 characters.
    const shown = this.path.length > 22 ? `…${this.path.slice(-21)}` : this.path;
    return `${this.kind} ${shown} #${hash}`;
  }

  #hashFile(path: string): string {
    const absolute = resolve(path);
    let stats;
    try {
      stats = statSync(absolute, { bigint: false });
    } catch (error) {
      throw new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot hash the input ${this.kind} ${this.path}: ${absolute} cannot be read (${(error as { code?: string }).code ?? error}). Check the path (relative paths are taken from ${process.cwd()}).`, { cause: error });
    }
    if (this.kind === "file" && stats.isDirectory()) {
      throw new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot hash the input file ${this.path}: it is a directory. Use memory.directory(${JSON.stringify(this.path)}).`);
    }
    const seen = { size: stats.size, mtimeMs: stats.mtimeMs, ino: String(stats.ino) };
    const known = this.#remembered(absolute);
    if (known && known.size === seen.size && known.mtimeMs === seen.mtimeMs && known.ino === seen.ino && known.mtimeMs < known.checkedAt - RACY_MS) {
      return known.hash;
    }
    const checkedAt = this.#now();
    const hash = hashContents(absolute);
    try {
      this.#stamps?.put(absolute, { ...seen, hash, checkedAt });
    } catch {
      // only the fast path is lost: the file is read again next time
    }
    return hash;
  }

  #remembered(absolute: string): FileStamp | undefined {
    try {
      return this.#stamps?.get(absolute);
    } catch {
      return undefined;
    }
  }
}

/** True for an input file, directory or glob: what deps must read again at every call. */
export function isInput(value: unknown): value is InputFile {
  return value instanceof InputFile;
}

// The sha256 of a file's bytes, read in chunks (a large file never sits in memory whole).
function hashContents(path: string): string {
  const hash = nodeCrypto().createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

// Every file under `dir`, as relative paths, sorted (symbolic links to files are followed, to directories not).
function walk(dir: string): string[] {
  const found: string[] = [];
  const visit = (relativeDir: string) => {
    for (const entry of readdirSync(join(dir, relativeDir), { withFileTypes: true })) {
      const name = relativeDir === "" ? entry.name : join(relativeDir, entry.name);
      if (entry.isDirectory()) visit(name);
      else if (entry.isFile() || (entry.isSymbolicLink() && statSync(join(dir, name)).isFile())) found.push(name);
    }
  };
  visit("");
  return found.sort();
}

// The directory part of a glob before its first wildcard: where the search starts.
function globBase(pattern: string): string {
  const parts = pattern.split("/");
  const fixed: string[] = [];
  for (const part of parts) {
    if (/[*?[{]/.test(part)) break;
    fixed.push(part);
  }
  if (fixed.length === parts.length) fixed.pop(); // no wildcard: the pattern names a file
  return fixed.join("/") || ".";
}

// `*` and `?` within one path segment, `**` across segments, `[abc]` classes, `{a,b}` alternatives.
function globRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      const slash = pattern[i + 2] === "/";
      source += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i);
      if (end < 0) source += "\\[";
      else (source += `[${pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`, i = end);
    } else if (c === "{") {
      const end = pattern.indexOf("}", i);
      if (end < 0) source += "\\{";
      else (source += `(?:${pattern.slice(i + 1, end).split(",").map(escapeRegExp).join("|")})`, i = end);
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

// The files a glob matches now, sorted; the pattern uses "/" on every platform.
function globFiles(pattern: string): string[] {
  const base = globBase(pattern);
  const matcher = globRegExp(pattern.startsWith("./") ? pattern.slice(2) : pattern);
  let names: string[];
  try {
    names = walk(base);
  } catch (error) {
    throw new NbmemoError("UNHASHABLE_ARGUMENT", `Cannot hash the input glob ${pattern}: its directory ${resolve(base)} cannot be read (${(error as { code?: string }).code ?? error}). Check the pattern.`, { cause: error });
  }
  const strip = (p: string) => (p.startsWith("./") ? p.slice(2) : p);
  return names.map((name) => strip(base === "." ? name.split(sep).join("/") : `${base}/${name.split(sep).join("/")}`))
    .filter((path) => matcher.test(path));
}
