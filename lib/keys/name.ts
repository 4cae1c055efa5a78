// Checks the names users give memoized functions and cells.
import { NbmemoError } from "../errors.ts";

const MAX_NAME_LENGTH = 200;
// Letters, digits and a few separators; no slashes, no leading dot, no control characters.
const NAME = /^[\p{L}\p{N}_$][\p{L}\p{N}_$.:@+ -]*$/u;

/**
 * Returns `name` if it is a usable name, or throws a clear error saying how to fix it. `spelling: false`
 * lets through the spellings older nbmemo accepted (untrimmed, not NFC), so that their entries can be deleted.
 */
export function checkName(name: unknown, where: string, { spelling = true } = {}): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw new NbmemoError(
      "INVALID_NAME",
      `Cannot use ${JSON.stringify(name) ?? String(name)} as the name in ${where}: a name must be a non-empty string. ` +
        `Give a stable name such as "load_counties".`,
    );
  }
  // Two spellings of one name would be two caches of one function, with nothing to show it.
  if (spelling && name !== name.trim()) {
    throw new NbmemoError("INVALID_NAME", `Cannot use ${JSON.stringify(name)} as the name in ${where}: it has leading or trailing ` +
      `whitespace, which is easy to miss and would make it another name than ${JSON.stringify(name.trim())}. Use ${JSON.stringify(name.trim())}.`);
  }
  if (spelling && name !== name.normalize("NFC")) {
    throw new NbmemoError("INVALID_NAME", `Cannot use ${JSON.stringify(name)} as the name in ${where}: it is not in Unicode normal form NFC ` +
      `(an accented letter written as a letter plus a combining mark), so it would differ from the same name typed another way. ` +
      `Use its NFC form, name.normalize("NFC"): ${JSON.stringify(name.normalize("NFC"))}.`);
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
