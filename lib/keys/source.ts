// Normalizes a function's source text (comments, formatting and types dropped) and hashes it, so
// that a reformat or another kernel's printing of the same cell gives the same version.
import { createHash } from "node:crypto";
import { NbmemoError } from "../errors.ts";

type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;

/** Bump when the canonical form changes: every source hash changes with it. */
export const NORMALIZER_VERSION = 1;

/** A function's source, normalized: `hash` keys the version, `text` is a readable printing for diffs. */
export interface NormalizedSource {
  readonly hash: string;
  readonly text: string;
}

/** Where normalized sources are remembered by a hash of their raw text (the catalog implements it). */
export interface KnownSources {
  getSource(rawHash: string): NormalizedSource | undefined;
  putSource(rawHash: string, source: NormalizedSource): void;
}

/** Thrown by {@link SourceHasher.hashSync} when the TypeScript parser would be needed but is not loaded. */
export class ParserNotLoaded extends Error {}

let ts: TS | undefined;
let kindNames: Map<number, string> | undefined;

/** Loads TypeScript (through ts-morph) once; ~300-500 ms cold, which is why it happens only on demand. */
export async function loadParser(): Promise<void> {
  if (ts) return;
  const loaded = (await import("ts-morph")).ts;
  kindNames = new Map();
  // SyntaxKind has aliases (FirstToken, LastKeyword...): keep each number's descriptive name.
  for (const [name, value] of Object.entries(loaded.SyntaxKind)) {
    if (typeof value !== "number" || /^(First|Last)/.test(name) || kindNames.has(value)) continue;
    kindNames.set(value, name);
  }
  ts = loaded;
}

/** Whether TypeScript has been loaded in this process (it is loaded only when a new source is met). */
export function parserLoaded(): boolean {
  return ts !== undefined;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The source text a runtime reports for a function. */
export function rawSource(fn: Function): string {
  return Function.prototype.toString.call(fn);
}

/**
 * Hashes functions by their normalized source, remembering results in memory and in `known`, so that a
 * process meeting only sources normalized before never loads TypeScript.
 */
export class SourceHasher {
  readonly #known: KnownSources;
  readonly #memo = new Map<string, NormalizedSource>();

  constructor(known: KnownSources) {
    this.#known = known;
  }

  /** Normalizes `fn`; throws {@link ParserNotLoaded} if that needs TypeScript and it is not loaded yet. */
  normalizeSync(fn: Function, where: string): NormalizedSource {
    const raw = rawSource(fn);
    const rawHash = sha256(raw);
    const memo = this.#memo.get(rawHash) ?? this.#known.getSource(rawHash);
    if (memo) {
      this.#memo.set(rawHash, memo);
      return memo;
    }
    if (!ts) throw new ParserNotLoaded();
    const source = normalizeSource(raw, where);
    this.#memo.set(rawHash, source);
    this.#known.putSource(rawHash, source);
    return source;
  }

  async normalize(fn: Function, where: string): Promise<NormalizedSource> {
    return await this.withParser(() => this.normalizeSync(fn, where));
  }

  /** Runs `work`, loading the parser and retrying once if `work` needed it. */
  async withParser<T>(work: () => T): Promise<T> {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof ParserNotLoaded)) throw error;
      await loadParser();
      return work();
    }
  }
}

/** Normalizes raw function source text. The parser must be loaded ({@link loadParser}). */
export function normalizeSource(raw: string, where: string): NormalizedSource {
  if (!ts) throw new ParserNotLoaded();
  if (/\{\s*\[native code\]\s*\}\s*$/.test(raw)) {
    throw new NbmemoError(
      "UNHASHABLE_FUNCTION",
      `Cannot hash the function ${where}: it is native or bound, so its source is not visible. ` +
        `Pass a plain function (wrap it: (...a) => f(...a)), or pin its version with { version: "..." }.`,
    );
  }
  const node = parseFunction(ts, raw);
  if (!node) {
    throw new NbmemoError(
      "UNHASHABLE_FUNCTION",
      `Cannot hash the function ${where}: its source does not parse as a function ` +
        `(${JSON.stringify(raw.slice(0, 60))}...). Pin its version with { version: "..." }.`,
    );
  }
  const parts: string[] = [`nbmemo-source/${NORMALIZER_VERSION}`];
  emit(ts, node, parts, false);
  const printer = ts.createPrinter({ removeComments: true });
  const text = printer.printNode(ts.EmitHint.Unspecified, node, node.getSourceFile());
  return { hash: sha256(parts.join(" ")), text };
}

/**
 * Parses what `Function.prototype.toString` returns: a function or class expression, or a method
 * (`m() {}`, `async *m() {}`, `get x() {}`), which only parses inside an object literal.
 */
function parseFunction(ts: TS, raw: string): Node | undefined {
  for (const [prefix, suffix] of [["(", "\n)"], ["({", "\n})"]] as const) {
    const file = ts.createSourceFile("fn.ts", prefix + raw + suffix, ts.ScriptTarget.Latest, true);
    const diagnostics = (file as unknown as { parseDiagnostics: unknown[] }).parseDiagnostics;
    const statement = file.statements[0];
    if (diagnostics.length > 0 || file.statements.length !== 1 || !statement) continue;
    if (!ts.isExpressionStatement(statement) || !ts.isParenthesizedExpression(statement.expression)) continue;
    const inner = statement.expression.expression;
    if (ts.isObjectLiteralExpression(inner)) {
      const member = inner.properties[0];
      if (inner.properties.length === 1 && member && ts.isFunctionLike(member)) return member;
    } else if (ts.isFunctionLike(inner) || ts.isClassExpression(inner)) {
      return inner;
    }
  }
  return undefined;
}

// TypeScript-only modifiers, erased like types.
const typeOnlyModifiers = new Set([
  "PublicKeyword", "PrivateKeyword", "ProtectedKeyword", "ReadonlyKeyword", "AbstractKeyword",
  "OverrideKeyword", "DeclareKeyword", "InKeyword", "OutKeyword",
]);

/**
 * Writes the canonical token stream of `node`: syntax kinds and literal values, no comments, no
 * whitespace, no types, no redundant parentheses, braces, semicolons or trailing commas.
 */
function emit(ts: TS, node: Node, out: string[], tagged: boolean): void {
  const kind = kindNames!.get(node.kind) ?? String(node.kind);
  // Types and type-only constructs vanish.
  if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
  if (ts.isEmptyStatement(node)) return;
  if (typeOnlyModifiers.has(kind) && isModifierOf(node)) return;
  if (ts.isParameter(node) && ts.isIdentifier(node.name) && node.name.text === "this") return;
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && !node.body) return;
  if (ts.isHeritageClause(node) && node.token === ts.SyntaxKind.ImplementsKeyword) return;
  if (
    ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node) ||
    ts.isTypeAssertionExpression(node) || ts.isNonNullExpression(node)
  ) {
    return emit(ts, node.expression, out, tagged);
  }
  // Literals: by value, so quote style and escapes do not matter.
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) {
    const raw = tagged && "rawText" in node ? ` raw:${JSON.stringify(node.rawText)}` : "";
    out.push(`${kind === "NoSubstitutionTemplateLiteral" ? "StringLiteral" : kind}:${JSON.stringify(node.text)}${raw}`);
    return;
  }
  if (ts.isNumericLiteral(node)) return void out.push(`n:${String(Number(node.text.replace(/_/g, "")))}`);
  if (ts.isBigIntLiteral(node)) return void out.push(`b:${BigInt(node.text.replace(/_/g, "").slice(0, -1))}`);
  if (ts.isRegularExpressionLiteral(node) || ts.isJsxText(node)) return void out.push(`${kind}:${node.text}`);
  if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) return void out.push(`id:${node.text}`);
  // tslab compiles cells to CommonJS and writes a reference to another cell's top-level name as
  // `exports.NAME`; the Deno kernel (and any ES module) writes `NAME`. Hash both as `NAME`.
  if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "exports") {
    return emit(ts, node.name, out, tagged);
  }

  out.push(`${kind}(`);
  // Facts kept outside child nodes.
  if (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) out.push(ts.tokenToString(node.operator)!);
  if (ts.isVariableDeclarationList(node)) out.push(declarationKeyword(ts, node.flags));
  if (ts.isMetaProperty(node)) out.push(ts.tokenToString(node.keywordToken)!);
  if (ts.isHeritageClause(node)) out.push(ts.tokenToString(node.token)!);

  const typeSlots = node as { type?: Node; typeArguments?: unknown; typeParameters?: unknown };
  const optionalSlots = ts.isParameter(node) || ts.isPropertyDeclaration(node) || ts.isVariableDeclaration(node) ||
    ts.isMethodDeclaration(node);
  const child = (c: Node) => {
    if (c === typeSlots.type) return;
    if (optionalSlots && (c.kind === ts.SyntaxKind.QuestionToken || c.kind === ts.SyntaxKind.ExclamationToken)) return;
    emitBlockBody(ts, node, c, out, tagged || ts.isTaggedTemplateExpression(node));
  };
  ts.forEachChild(node, child, (nodes) => {
    if (nodes === typeSlots.typeArguments || nodes === typeSlots.typeParameters) return;
    out.push("[");
    nodes.forEach(child);
    out.push("]");
  });
  out.push(")");
}

/**
 * Bodies that may be a single statement or an expression are always written as a block, so
 * `if (a) b();` equals `if (a) { b(); }` and `x => y` equals `x => { return y; }`.
 */
function emitBlockBody(ts: TS, parent: Node, child: Node, out: string[], tagged: boolean): void {
  const isBody = (ts.isArrowFunction(parent) && parent.body === child) ||
    (ts.isIfStatement(parent) && (parent.thenStatement === child || parent.elseStatement === child)) ||
    (ts.isIterationStatement(parent, false) && parent.statement === child);
  if (!isBody || ts.isBlock(child)) return emit(ts, child, out, tagged);
  out.push("Block(", "[");
  if (ts.isArrowFunction(parent)) {
    out.push("ReturnStatement(");
    emit(ts, child, out, tagged);
    out.push(")");
  } else {
    emit(ts, child, out, tagged);
  }
  out.push("]", ")");
}

function isModifierOf(node: Node): boolean {
  const modifiers = (node.parent as { modifiers?: readonly Node[] } | undefined)?.modifiers;
  return modifiers?.includes(node) ?? false;
}

function declarationKeyword(ts: TS, flags: number): string {
  const { Const, Let, Using, AwaitUsing } = ts.NodeFlags;
  if ((flags & AwaitUsing) === AwaitUsing) return "await using";
  if (flags & Using) return "using";
  if (flags & Const) return "const";
  if (flags & Let) return "let";
  return "var";
}
