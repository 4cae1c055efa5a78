// The nbmemo command line: finds the command, parses its options (node:util parseArgs), opens the cache
// without ever creating one, runs the command and turns failures into messages and exit codes.
import { NbmemoError } from "../errors.ts";
import { formatCount } from "../format.ts";
import { Memory } from "../memory/memory.ts";
import { VERSION } from "../version.ts";
import { type Command, CommandError, commands, EXIT, type Invocation, UsageError } from "./commands.ts";

/** Where the CLI writes: stdout for results, stderr for errors (JSON with --json); and how it asks. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Asks on the terminal and resolves to the answer; absent when stdin is not a terminal. */
  ask?(question: string): Promise<string>;
}

const GLOBAL_HELP = `  -d, --dir DIR   the cache directory (default: .nbmemo)
      --json      print JSON for scripts instead of tables; errors too, on stderr:
                  {"error": {"code", "message", "exitCode"}}
  -h, --help      this help`;

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `nbmemo: inspect and manage an nbmemo cache directory.

Usage: nbmemo COMMAND [options]
       nbmemo --version

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join("\n")}

Options of every command:
${GLOBAL_HELP}

Exit codes: 0 done; 1 done, and it found something that needs attention (verify found problems
it did not repair; show or rm of a name the cache does not hold); 2 a wrong command line;
3 the directory is not an nbmemo cache (nbmemo never creates one from the command line); 4 any other failure.

\`nbmemo COMMAND --help\` describes one command.
`;
}

function commandHelp(name: string, command: Command): string {
  return `Usage: nbmemo ${command.usage} [--dir DIR] [--json]\n\n${command.help}\n\nOptions of every command:\n${GLOBAL_HELP}\n`;
}

// The command is the first argument that is neither an option nor the value of --dir.
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--dir" || arg === "-d") i++;
    else if (!arg.startsWith("-")) return { name: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { name: undefined, rest: [...argv] };
}

/** Runs the command line `argv` (without the program name); resolves to the exit code. */
export async function run(argv: readonly string[], output: Output): Promise<number> {
  const { name, rest } = splitCommand(argv);
  // Known before parsing, so that a wrong command line is reported as JSON too.
  const report = reporter(output, name, rest.includes("--json"));
  if (name === "help") {
    const about = rest.find((a) => !a.startsWith("-"));
    const command = about === undefined ? undefined : commands[about];
    output.out(command ? commandHelp(about!, command) : mainHelp());
    return EXIT.OK;
  }
  if (name === undefined) {
    if (rest.includes("--version") || rest.includes("-V")) return output.out(`${VERSION}\n`), EXIT.OK;
    if (rest.includes("--help") || rest.includes("-h")) return output.out(mainHelp()), EXIT.OK;
    return report(new UsageError("no command given."), mainHelp());
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    return report(new UsageError(`there is no command ${JSON.stringify(name)}. Commands: ${Object.keys(commands).join(", ")}; see nbmemo --help.`));
  }
  const usage = `Usage: nbmemo ${command.usage} [--dir DIR] [--json]; see nbmemo ${name} --help.\n`;

  let invocation: Invocation;
  try {
    invocation = command.parse(rest);
  } catch (error) {
    return report(new UsageError(error instanceof Error ? error.message : String(error)), usage);
  }
  if (invocation.help) return output.out(commandHelp(name, command)), EXIT.OK;
  if (invocation.args.length !== command.positionals) {
    return report(new UsageError(command.positionals === 0
      ? `it takes no arguments, but got ${invocation.args.join(" ")}.`
      : `it takes ${formatCount(command.positionals, "argument")}, but got ${invocation.args.length}.`), usage);
  }

  let memory: Memory;
  try {
    memory = await Memory.open(invocation.dir, { create: false, log: "warn", ...invocation.openOptions() });
  } catch (error) {
    return report(error, usage);
  }
  try {
    return await invocation.run({ memory, json: invocation.json, now: Date.now(), ...output });
  } catch (error) {
    return report(error, usage);
  } finally {
    await memory.close();
  }
}

/**
 * Reports a failure and returns its exit code: a line on stderr (with `usage` after a wrong command
 * line), or with --json one JSON object, `{"error": {"code", "message", "exitCode"}}`.
 */
function reporter(output: Output, name: string | undefined, json: boolean) {
  return (error: unknown, usage = ""): number => {
    const { code, message, exitCode } = classify(error);
    if (json) output.err(`${JSON.stringify({ error: { code, message, exitCode } })}\n`);
    else output.err(`nbmemo${name && code === "USAGE" ? ` ${name}` : ""}: ${message}\n${code === "USAGE" ? usage : ""}`);
    return exitCode;
  };
}

function classify(error: unknown): { code: string; message: string; exitCode: number } {
  if (error instanceof CommandError) return { code: error.code, message: error.message, exitCode: error.exitCode };
  if (error instanceof NbmemoError) {
    if (error.code === "INVALID_OPTION" || error.code === "INVALID_NAME") return { code: "USAGE", message: error.message, exitCode: EXIT.USAGE };
    const exitCode = error.code === "NOT_A_CACHE" || error.code === "CATALOG_TOO_NEW" ? EXIT.NOT_A_CACHE : EXIT.FAILED;
    return { code: error.code, message: error.message, exitCode };
  }
  return { code: "FAILED", message: error instanceof Error ? error.message : String(error), exitCode: EXIT.FAILED };
}
