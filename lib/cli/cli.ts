// The nbmemo command line: finds the command, parses its options (node:util parseArgs), opens the cache
// without ever creating one, runs the command and turns failures into messages and exit codes.
import { NbmemoError } from "../errors.ts";
import { formatCount } from "../format.ts";
import { Memory } from "../memory/memory.ts";
import { type Command, commands, EXIT, type Invocation, UsageError } from "./commands.ts";

/** Where the CLI writes: stdout for results, stderr for errors. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const GLOBAL_HELP = `  -d, --dir DIR   the cache directory (default: .nbmemo)
      --json      print JSON for scripts instead of tables
  -h, --help      this help`;

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `nbmemo: inspect and manage an nbmemo cache directory.

Usage: nbmemo COMMAND [options]

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
  if (name === "help") {
    const about = rest.find((a) => !a.startsWith("-"));
    const command = about === undefined ? undefined : commands[about];
    output.out(command ? commandHelp(about!, command) : mainHelp());
    return EXIT.OK;
  }
  if (name === undefined) {
    const wantsHelp = rest.includes("--help") || rest.includes("-h");
    (wantsHelp ? output.out : output.err)(mainHelp());
    return wantsHelp ? EXIT.OK : EXIT.USAGE;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    output.err(`nbmemo: there is no command ${JSON.stringify(name)}. Commands: ${Object.keys(commands).join(", ")}; see nbmemo --help.\n`);
    return EXIT.USAGE;
  }
  const usage = (message: string) => {
    output.err(`nbmemo ${name}: ${message}\nUsage: nbmemo ${command.usage} [--dir DIR] [--json]; see nbmemo ${name} --help.\n`);
    return EXIT.USAGE;
  };

  let invocation: Invocation;
  try {
    invocation = command.parse(rest);
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  if (invocation.help) return output.out(commandHelp(name, command)), EXIT.OK;
  if (invocation.args.length !== command.positionals) {
    return usage(command.positionals === 0
      ? `it takes no arguments, but got ${invocation.args.join(" ")}.`
      : `it takes ${formatCount(command.positionals, "argument")}, but got ${invocation.args.length}.`);
  }

  let memory: Memory;
  try {
    memory = await Memory.open(invocation.dir, { create: false, log: "warn", ...invocation.openOptions() });
  } catch (error) {
    return failure(error, output, usage);
  }
  try {
    return await invocation.run({ memory, json: invocation.json, now: Date.now(), ...output });
  } catch (error) {
    return failure(error, output, usage);
  } finally {
    await memory.close();
  }
}

function failure(error: unknown, output: Output, usage: (message: string) => number): number {
  if (error instanceof UsageError) return usage(error.message);
  if (error instanceof NbmemoError) {
    if (error.code === "INVALID_OPTION" || error.code === "INVALID_NAME") return usage(error.message);
    output.err(`nbmemo: ${error.message}\n`);
    return error.code === "NOT_A_CACHE" || error.code === "CATALOG_TOO_NEW" ? EXIT.NOT_A_CACHE : EXIT.FAILED;
  }
  output.err(`nbmemo: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT.FAILED;
}
