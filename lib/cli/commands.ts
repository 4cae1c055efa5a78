// The nbmemo commands: what each takes, what it prints for people and for scripts (--json).
import { type ParseArgsOptionDescriptor, parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ENTRY_SORTS, type EntrySort, type FunctionVersion } from "../types.ts";
import type { MemoryOptions } from "../memory/config.ts";
import { formatAgo, formatBytes, formatCount, formatDuration, shortVersion } from "../format.ts";
import type { Memory } from "../memory/memory.ts";
import { table } from "../text-table.ts";

/** Exit codes, documented in the README and `nbmemo --help`. */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** Done, and what it found needs attention: `verify` found problems it did not repair; `show`/`rm` a name the cache does not hold. */
  FOUND: 1,
  /** The command line is wrong (unknown command or option, missing or bad value). */
  USAGE: 2,
  /** The directory is not an nbmemo cache (or is missing, or written by a newer nbmemo). */
  NOT_A_CACHE: 3,
  /** Anything else failed (I/O, a locked catalog, a bug). */
  FAILED: 4,
} as const;

/** A failure a command reports itself: a stable code (what --json prints) and its exit code. */
export class CommandError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A wrong command line: reported with the command's usage, exit code 2. */
export class UsageError extends CommandError {
  constructor(message: string) {
    super("USAGE", message, EXIT.USAGE);
  }
}

/** The options every command takes. */
export const globalOptions = {
  dir: { type: "string", short: "d", default: ".nbmemo" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies ParseArgsOptionsConfig;

/** What parseArgs gives for a command's options `O` beside the global ones: typed from the options themselves. */
export type Values<O extends ParseArgsOptionsConfig> =
  ReturnType<typeof parseArgs<{ options: typeof globalOptions & O; strict: true; allowPositionals: true }>>["values"];

export interface Context<O extends ParseArgsOptionsConfig = ParseArgsOptionsConfig> {
  readonly memory: Memory;
  readonly values: Values<O>;
  readonly args: string[];
  readonly json: boolean;
  readonly now: number;
  out(text: string): void;
  err(text: string): void;
  /** Asks on the terminal and resolves to the answer; absent when stdin is not a terminal. */
  ask?(question: string): Promise<string>;
}

/** One command as it is written: its options, typed, and what it does with them. */
interface CommandSpec<O extends ParseArgsOptionsConfig> {
  readonly summary: string;
  /** The synopsis after "nbmemo ", e.g. "rm NAME [--version V]". */
  readonly usage: string;
  /** Paragraphs after the synopsis in `--help`. */
  readonly help: string;
  readonly options: O;
  /** Positional arguments: how many the command takes. */
  readonly positionals: number;
  /** Extra options for Memory.open, from the command's flags. */
  openOptions?(values: Values<O>): MemoryOptions;
  run(context: Context<O>): Promise<number>;
}

/** A command line parsed for one command: the global options, its arguments, and the command ready to run. */
export interface Invocation {
  readonly dir: string;
  readonly json: boolean;
  readonly help: boolean;
  readonly args: string[];
  openOptions(): MemoryOptions;
  run(context: Omit<Context, "values" | "args">): Promise<number>;
}

/** A command as the CLI runs it, whatever its options. */
export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly positionals: number;
  /** Parses `args` against the global and the command's options. @throws TypeError from parseArgs for a wrong command line. */
  parse(args: string[]): Invocation;
}

function defineCommand<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>): Command {
  return {
    summary: spec.summary,
    usage: spec.usage,
    help: spec.help,
    positionals: spec.positionals,
    parse(args) {
      const { values, positionals } = parseArgs({ args, options: { ...globalOptions, ...spec.options }, strict: true, allowPositionals: true });
      // The same command line seen through the global options' own types (the generic one above cannot
      // be narrowed to them inside this function).
      const everyOption: typeof globalOptions & Record<string, ParseArgsOptionDescriptor> = { ...spec.options, ...globalOptions };
      const global = parseArgs({ args, options: everyOption, strict: true, allowPositionals: true }).values;
      return {
        dir: global.dir, json: global.json, help: global.help, args: positionals,
        openOptions: () => spec.openOptions?.(values) ?? {},
        run: (context) => spec.run({ ...context, values, args: positionals }),
      };
    },
  };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
// Rows of the catalog's runtimes that eviction and deletes left (verify counts them, prune forgets them).
const unusedRuntimes = (n: number) => `${formatCount(n, "runtime")} no entry names any more`;

/** The versions of `name`, narrowed to the one `--version` names (exactly or by a unique prefix). */
function versionsOf(context: Context<typeof versionOption>, name: string): FunctionVersion[] {
  const all = context.memory.functions().filter((f) => f.name === name);
  const wanted = context.values.version;
  if (wanted === undefined) return all;
  const exact = all.filter((f) => f.version === wanted || f.version === `pinned:${wanted}`);
  if (exact.length > 0) return exact;
  const byPrefix = all.filter((f) => f.version.startsWith(wanted));
  if (byPrefix.length > 1) {
    throw new UsageError(`--version ${wanted} matches ${byPrefix.length} versions of ${name}: give more of it.`);
  }
  return byPrefix;
}

const versionOption = { version: { type: "string" } } as const satisfies ParseArgsOptionsConfig;

export const commands: Record<string, Command> = {
  ls: defineCommand({
    summary: "list the memoized functions, one line per version",
    usage: "ls [--all]",
    help: "Lists the function versions that hold stored results, most recently used first: their entries, their size,\n" +
      "the hits recorded on them and the compute time those hits saved. Versions left with no results (after rm,\n" +
      "prune or eviction; kept for the change warnings' diffs) are counted below the table; --all lists them too.",
    options: { all: { type: "boolean", default: false } },
    positionals: 0,
    async run(context) {
      const every = context.memory.functions();
      const fns = context.values.all ? every : every.filter((f) => f.entries > 0);
      if (context.json) return context.out(json(fns)), EXIT.OK;
      const empty = every.length - every.filter((f) => f.entries > 0).length;
      const hidden = fns === every || empty === 0 ? "" : `${formatCount(empty, "version")} with no stored results not shown; --all lists ${empty === 1 ? "it" : "them"}.\n`;
      if (fns.length === 0) return context.out(`No stored results in ${context.memory.dir}.\n${hidden}`), EXIT.OK;
      context.out(table(
        [{ heading: "NAME", max: 40 }, { heading: "VERSION" }, { heading: "ENTRIES", right: true }, { heading: "SIZE", right: true },
          { heading: "HITS", right: true }, { heading: "SAVED", right: true }, { heading: "LAST USED" }],
        fns.map((f) => [f.name, shortVersion(f.version), String(f.entries), formatBytes(f.bytes), String(f.hits),
          formatDuration(f.savedMs), formatAgo(f.lastUsedAt, context.now)]),
      ) + hidden);
      return EXIT.OK;
    },
  }),

  show: defineCommand({
    summary: "show one function: its versions, source and stored results",
    usage: "show NAME [--version V] [--sort accessed|created|bytes|hits|computeMs] [--limit N]",
    help: "Shows the versions of NAME, the normalized source of the most recent one (or of --version V: the full\n" +
      "version, or its first digits as `ls` prints them), and its stored results, most recently used first\n" +
      "(--sort to order otherwise, --limit to show fewer; default 50).\n" +
      "Exits with 1 when the cache holds no function NAME.",
    options: { ...versionOption, sort: { type: "string" }, limit: { type: "string", default: "50" } },
    positionals: 1,
    async run(context) {
      const name = context.args[0]!;
      const versions = versionsOf(context, name);
      const limit = Number(context.values.limit);
      if (!Number.isSafeInteger(limit) || limit < 0) throw new UsageError(`--limit ${String(context.values.limit)} is not a whole number.`);
      if (versions.length === 0) return notFound(context, name);
      const sort = parseSort(context.values.sort);
      const version = context.values.version === undefined ? undefined : versions[0]!.version;
      const shown = context.memory.entries({ fn: name, version, sort, limit });
      if (context.json) return context.out(json({ name, versions, entries: shown })), EXIT.OK;
      context.out(`${name}\n\n`);
      context.out(table(
        [{ heading: "VERSION" }, { heading: "ENTRIES", right: true }, { heading: "SIZE", right: true }, { heading: "HITS", right: true },
          { heading: "SAVED", right: true }, { heading: "CREATED" }, { heading: "LAST USED" }],
        versions.map((v) => [shortVersion(v.version), String(v.entries), formatBytes(v.bytes), String(v.hits), formatDuration(v.savedMs),
          formatAgo(v.createdAt, context.now), formatAgo(v.lastUsedAt, context.now)]),
      ));
      const source = versions[0]!.source;
      context.out(`\nsource of ${shortVersion(versions[0]!.version)}:\n${source === null ? "(pinned version: no source kept)" : indent(source)}\n\n`);
      if (shown.length === 0) return context.out("No stored results.\n"), EXIT.OK;
      context.out(table(
        [{ heading: "ARGUMENTS" }, { heading: "VERSION" }, { heading: "SIZE", right: true }, { heading: "HITS", right: true },
          { heading: "COMPUTE", right: true }, { heading: "CREATED" }, { heading: "LAST USED" }, { heading: "RUNTIME" }],
        shown.map((e) => [e.argsPreview || "()", shortVersion(e.version), formatBytes(e.bytes), String(e.accessCount),
          formatDuration(e.computeMs), formatAgo(e.createdAt, context.now), formatAgo(e.accessedAt, context.now), e.runtime]),
      ));
      return EXIT.OK;
    },
  }),

  stats: defineCommand({
    summary: "totals: functions, versions, entries, size, hits, time saved",
    usage: "stats",
    help: "Prints the cache's totals: functions, versions, stored results and their size, the hits recorded and the\n" +
      "compute time those hits saved.",
    options: {},
    positionals: 0,
    async run(context) {
      const { session: _, limits: __, ...totals } = context.memory.stats();
      if (context.json) return context.out(json({ dir: context.memory.dir, ...totals })), EXIT.OK;
      context.out(table([{ heading: "" }, { heading: "" }], [
        ["directory", context.memory.dir],
        ["functions", String(totals.functions)],
        ["versions", String(totals.versions)],
        ["entries", String(totals.entries)],
        ["size", formatBytes(totals.bytes)],
        ["hits", String(totals.hits)],
        ["time saved", formatDuration(totals.savedMs)],
      ]).split("\n").slice(1).join("\n"));
      return EXIT.OK;
    },
  }),

  rm: defineCommand({
    summary: "delete the stored results of one function (or of one version)",
    usage: "rm NAME [--version V]",
    help: "Deletes the stored results of NAME, of every version or of --version V (the full version, or its first\n" +
      "digits as `ls` prints them). Exits with 1 when the cache holds no function NAME.",
    options: versionOption,
    positionals: 1,
    async run(context) {
      const name = context.args[0]!;
      const versions = versionsOf(context, name);
      if (versions.length === 0) return notFound(context, name);
      let removed = 0;
      for (const v of versions) removed += await context.memory.delete(name, { version: v.version });
      if (context.json) return context.out(json({ name, versions: versions.map((v) => v.version), removed })), EXIT.OK;
      const which = context.values.version === undefined ? "" : ` (version ${shortVersion(versions[0]!.version)})`;
      context.out(`Removed ${formatCount(removed, "entry", "entries")} of ${name}${which}.\n`);
      return EXIT.OK;
    },
  }),

  prune: defineCommand({
    summary: "remove expired and over-limit results, and old versions not used for a while",
    usage: "prune [--max-bytes SIZE] [--max-entries N] [--max-age DURATION] [--old-versions DURATION]",
    help: "Removes results older than --max-age, evicts the least recently used results down to 90% of --max-bytes /\n" +
      "--max-entries when the cache is over them, and removes the results of old versions of each function (every\n" +
      "version but its most recently used one) not used for --old-versions (default 7d; 0 removes them all).\n" +
      "Sizes: 500MB, 2GiB, or bytes. Durations: 30min, 12h, 7d, or milliseconds.",
    options: {
      "max-bytes": { type: "string" },
      "max-entries": { type: "string" },
      "max-age": { type: "string" },
      "old-versions": { type: "string", default: "7d" },
    },
    positionals: 0,
    openOptions(values) {
      const entries = values["max-entries"];
      if (entries !== undefined && !/^\d+$/.test(entries)) throw new UsageError(`--max-entries ${entries} is not a whole number.`);
      const maxEntries = entries === undefined ? undefined : Number(entries);
      return {
        ...(values["max-bytes"] === undefined ? {} : { maxBytes: values["max-bytes"] }),
        ...(maxEntries === undefined ? {} : { maxEntries }),
        ...(values["max-age"] === undefined ? {} : { maxAge: values["max-age"] }),
      };
    },
    async run(context) {
      const report = await context.memory.prune({ oldVersionsUnusedFor: context.values["old-versions"] });
      if (context.json) return context.out(json(report)), EXIT.OK;
      const total = report.evicted + report.oldVersionEntries;
      context.out(`Removed ${formatCount(total, "entry", "entries")} (${formatBytes(report.bytes)}): ` +
        `${report.evicted} expired or over the limits, ${report.oldVersionEntries} of old versions; ` +
        `forgot ${formatCount(report.versions, "old version")}.\n`);
      const leftovers = [[report.staleLeases, "expired lease"], [report.orphanSources, "unused source"], [report.strays, "stray file"]] as const;
      const found = leftovers.filter(([n]) => n > 0).map(([n, what]) => formatCount(n, what));
      if (found.length > 0) context.out(`Removed what killed processes left: ${found.join(", ")}.\n`);
      if (report.orphanRuntimes > 0) context.out(`Forgot ${unusedRuntimes(report.orphanRuntimes)}.\n`);
      return EXIT.OK;
    },
  }),

  verify: defineCommand({
    summary: "check every stored result; --repair removes what is broken",
    usage: "verify [--repair]",
    help: "Reads back every stored result, and looks for stored outputs no entry refers to and for stray files under\n" +
      "objects/ (older than a minute: another process may be writing them), and for running totals that are off.\n" +
      "Exits with 1 when it finds problems and --repair was not given; with --repair, removes the broken entries,\n" +
      "the orphan outputs, the stray files and the empty folders, fixes the totals, and exits with 0.",
    options: { repair: { type: "boolean", default: false } },
    positionals: 0,
    async run(context) {
      const repair = context.values.repair;
      const report = await context.memory.verify({ repair });
      const code = report.problems.length > 0 && !repair ? EXIT.FOUND : EXIT.OK;
      if (context.json) return context.out(json(report)), code;
      if (report.problems.length > 0) {
        context.out(table(
          [{ heading: "PROBLEM" }, { heading: "FUNCTION" }, { heading: "ARGUMENTS / OBJECT / PATH" }, { heading: "DETAIL" }],
          report.problems.map((p) => [p.kind, p.name ?? "", p.argsPreview ?? p.object ?? p.path ?? "", p.detail]),
        ));
      }
      context.out(`Checked ${formatCount(report.entries, "entry", "entries")} and ${formatCount(report.objects, "stored output")}: ` +
        (report.problems.length === 0 ? "no problems.\n" : formatCount(report.problems.length, "problem") +
          (repair ? `, ${report.repaired} repaired.\n` : ". Run `nbmemo verify --repair` to remove what is broken.\n")));
      if (report.orphanRuntimes > 0) {
        context.out(repair ? `Forgot ${unusedRuntimes(report.orphanRuntimes)}.\n`
          : `${unusedRuntimes(report.orphanRuntimes)} (not a problem; \`nbmemo prune\` forgets them).\n`);
      }
      return code;
    },
  }),

  clear: defineCommand({
    summary: "delete every stored result",
    usage: "clear [--yes]",
    help: "Deletes every stored result and forgets every function version. The directory stays a cache.\n" +
      "On a terminal it asks first; elsewhere (a script, a pipe) it needs --yes.",
    options: { yes: { type: "boolean", short: "y", default: false } },
    positionals: 0,
    async run(context) {
      if (!context.values.yes) {
        if (!context.ask) throw new UsageError("it deletes every stored result: pass --yes to confirm (on a terminal it asks).");
        const { entries, bytes } = context.memory.stats();
        const answer = await context.ask(`Delete all ${formatCount(entries, "stored result")} (${formatBytes(bytes)}) in ${context.memory.dir}? [y/N] `);
        if (!/^y(es)?$/i.test(answer.trim())) return context.out("Nothing deleted.\n"), EXIT.OK;
      }
      const removed = await context.memory.clear();
      if (context.json) return context.out(json({ removed })), EXIT.OK;
      context.out(`Removed ${formatCount(removed, "entry", "entries")}.\n`);
      return EXIT.OK;
    },
  }),
};

function notFound(context: Context<typeof versionOption>, name: string): never {
  const version = context.values.version === undefined ? "" : ` with version ${context.values.version}`;
  throw new CommandError("NOT_FOUND", `no function ${JSON.stringify(name)}${version} in ${context.memory.dir}. \`nbmemo ls\` lists what it holds.`, EXIT.FOUND);
}

function parseSort(sort: string | undefined): EntrySort | undefined {
  const known = ENTRY_SORTS.find((s) => s === sort);
  if (sort !== undefined && known === undefined) throw new UsageError(`--sort ${sort} is not one of ${ENTRY_SORTS.join(", ")}.`);
  return known;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
