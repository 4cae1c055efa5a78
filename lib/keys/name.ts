// Checks the names users give memoized functions and cells.
import { NbmemoError } from "../errors.ts";

const MAX_NAME_LENGTH = 200;
// Letters, digits and a few separators; no slashes, no leading dot, no control characters.
const NAME = /^[\p{L}\p{N}_$][\p{L}\p{N}_$.:@+ -]*$/u;

/** Returns `name` if it is a usable name, or throws a clear error saying how to fix it. */
export function checkName(name: unknown, where: string): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw new NbmemoError(
      "INVALID_NAME",
      `Cannot use ${JSON.stringify(name) ?? String(name)} as the name in ${where}: a name must be a non-empty string. ` +
        `Give a stable name such as "load_counties".`,
    );
  }
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name) || name.includes("..")) {
    throw new NbmemoError(
      "INVALID_NAME",
      `Cannot use ${JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name)} as the name in ${where}: ` +
        `names are up to ${MAX_NAME_LENGTH} letters, digits and _ $ . : @ + - or spaces, start with a letter, digit, ` +
        `_ or $, and contain no "/", "\\", ".." or control characters. Use a name such as "load_counties".`,
    );
  }
  return name;
}
