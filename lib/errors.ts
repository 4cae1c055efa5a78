// The one place nbmemo's errors are made: a class with a stable `code` and a message of the form
// "Cannot <verb> <thing>: <reason>. <what to do>".

/** Stable error codes, one per kind of failure a user can meet. */
export type NbmemoErrorCode =
  | "INVALID_NAME"
  | "INVALID_OPTION"
  | "UNHASHABLE_ARGUMENT"
  | "UNHASHABLE_FUNCTION"
  | "ARGUMENTS_CHANGED"
  | "CALL_CYCLE"
  | "CLOSED"
  | "CATALOG_TOO_NEW"
  | "NOT_A_CACHE"
  | "STORE_UNAVAILABLE"
  | "RUNTIME_TOO_OLD"
  | "MAP_FAILED"
  | "READ_ONLY";

/**
 * An error raised by nbmemo. `code` is stable across releases; `cause` carries the underlying error
 * when there is one.
 *
 * @example
 * ```ts
 * import { Memory, NbmemoError } from "nbmemo";
 * try {
 *   await Memory.open(".nbmemo", { maxBytes: -1 });
 * } catch (e) {
 *   if (e instanceof NbmemoError) console.log(e.code); // "INVALID_OPTION"
 * }
 * ```
 */
export class NbmemoError extends Error {
  readonly code: NbmemoErrorCode;

  constructor(code: NbmemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NbmemoError";
    this.code = code;
  }
}

/** The message of a caught error, for warnings that pass it on. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
