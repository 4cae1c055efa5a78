// Normalizes a function's source text (comments, formatting and types dropped) and hashes it, so
// that a reformat or another kernel's printing of the same cell gives the same version.
import { NbmemoError } from "../errors.ts";
import { inTslab, tslabCellScript } from "../runtime.ts";
import { commaOperands, type MovedInitializers, movedInitializers } from "./classes.ts";
import { sha256Hex as sha256 } from "./sha256.ts";
import { analyzeNames, FREE_IDENTIFIERS_VERSION, type Names } from "./free_identifiers.ts";
import { applyEdits, type CellImports, cellImports, MENTIONS_ALIAS, tslabEdits } from "./tslab.ts";

type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;

/** Bump when the canonical form changes: every source hash changes with it. */
export const NORMALIZER_VERSION = 3;

/**
 * Who printed a function's source. `plain`: a script or the Deno kernel, whose text is the code as written
 * (types erased). `tslab`: tslab's kernel, which compiles each cell to CommonJS; its rewrites are undone
 * (`tslab.ts`), with the imports of the cell the function was defined in where its compiled script can be read.
 */
export type SourceContext = { readonly dialect: "plain" } | { readonly dialect: "tslab"; readonly imports: CellImports };

export const PLAIN: SourceContext = { dialect: "plain" };

const contexts = new WeakMap<Function, SourceContext>();

/** The context of a function of this process: tslab's inside a tslab kernel, where every cell is compiled. */
export function contextOf(fn: Function, raw: string): SourceContext {
  if (!inTslab()) return PLAIN;
  let context = contexts.get(fn);
  if (!context) {
    const script = MENTIONS_ALIAS.test(raw) ? tslabCellScript(fn) : undefined;
    contexts.set(fn, (context = { dialect: "tslab", imports: script === undefined ? new Map() : cellImports(script) }));
  }
  return context;
}

// The part of a context that the normalized form of `raw` depends on, for the key it is remembered under.
function contextKey(context: SourceContext, raw: string): string {
  if (context.dialect === "plain") return "plain";
  const used = [...context.imports].filter(([alias]) => raw.includes(alias)).sort(([a], [b]) => (a < b ? -1 : 1));
  return `tslab ${JSON.stringify(used)}`;
}

/**
 * A function's source, normalized: `hash` keys the version, `text` is a readable printing for diffs,
 * `free` the identifiers it reads from outside itself (see `free_identifiers.ts`).
 */
export interface NormalizedSource {
  readonly hash: string;
  readonly text: string;
  readonly free: readonly string[];
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

export { sha256 };

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
    const context = contextOf(fn, raw);
    // Keyed by normalizer version too: a remembered hash from an older canonical form must not be reused.
    const rawHash = sha256(`${NORMALIZER_VERSION}\0${FREE_IDENTIFIERS_VERSION}\0${contextKey(context, raw)}\0${raw}`);
    const memo = this.#memo.get(rawHash) ?? this.#known.getSource(rawHash);
    if (memo) {
      this.#memo.set(rawHash, memo);
      return memo;
    }
    if (!ts) throw new ParserNotLoaded();
    const source = normalizeSource(raw, where, context);
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

/**
 * Normalizes raw function source text, as printed in `context`. The parser must be loaded ({@link loadParser}).
 */
export function normalizeSource(raw: string, where: string, context: SourceContext = PLAIN): NormalizedSource {
  if (!ts) throw new ParserNotLoaded();
  if (/\{\s*\[native code\]\s*\}\s*$/.test(raw)) {
    throw new NbmemoError(
      "UNHASHABLE_FUNCTION",
      `Cannot hash the function ${where}: it is native or bound, so its source is not visible. ` +
        `Pass a plain function (wrap it: (...a) => f(...a)), or pin its version with { version: "..." }.`,
    );
  }
  let parsed = parseFunction(ts, raw);
  if (!parsed) {
    throw new NbmemoError(
      "UNHASHABLE_FUNCTION",
      `Cannot hash the function ${where}: its source does not parse as a function ` +
        `(${JSON.stringify(raw.slice(0, 60))}...). Pin its version with { version: "..." }.`,
    );
  }
  let names = analyzeNames(ts, parsed.node);
  if (context.dialect === "tslab") {
    const edits = tslabEdits(ts, parsed.node, names, context.imports);
    // An undone text parses (each edit puts an expression where one was); should one not, keep tslab's printing.
    const undone = edits.length > 0 ? parseFunction(ts, parsed.unwrap(applyEdits(parsed.node.getSourceFile().text, edits))) : undefined;
    if (undone) [parsed, names] = [undone, analyzeNames(ts, undone.node)];
  }
  const parts: string[] = [`nbmemo-source/${NORMALIZER_VERSION}`];
  emit(ts, parsed.node, { names, classes: movedInitializers(ts, parsed.node) }, parts, false);
  return { hash: sha256(parts.join(" ")), text: readableText(ts, parsed.node), free: names.free };
}

/**
 * Prints `node` for people (diffs, inspection) in a form that does not depend on the runtime that printed
 * it: printed as if synthesized, so the original line breaks do not survive; no
 * comments; parentheses only where precedence needs them (the node factory puts those back); bodies of
 * `if` and loops and every non-empty block on their own lines; array literals on one line, object
 * literals too unless they hold more than two members or a method.
 */
function readableText(ts: TS, node: Node): string {
  type Context = import("ts-morph").ts.TransformationContext;
  const transformer = (context: Context) => {
    const { factory } = context;
    const block = (statement: import("ts-morph").ts.Statement) =>
      ts.isBlock(statement) ? statement : factory.createBlock([statement], true);
    const visitor = (n: Node): Node => {
      if (ts.isParenthesizedExpression(n) && !endsOptionalChain(ts, n)) return visitor(n.expression);
      const v = ts.visitEachChild(n, visitor, context);
      if (ts.isBlock(v)) return factory.createBlock(v.statements, v.statements.length > 0);
      if (ts.isIfStatement(v)) {
        const otherwise = v.elseStatement && !ts.isIfStatement(v.elseStatement) ? block(v.elseStatement) : v.elseStatement;
        return factory.updateIfStatement(v, v.expression, block(v.thenStatement), otherwise);
      }
      if (ts.isForStatement(v)) return factory.updateForStatement(v, v.initializer, v.condition, v.incrementor, block(v.statement));
      if (ts.isForOfStatement(v)) return factory.updateForOfStatement(v, v.awaitModifier, v.initializer, v.expression, block(v.statement));
      if (ts.isForInStatement(v)) return factory.updateForInStatement(v, v.initializer, v.expression, block(v.statement));
      if (ts.isWhileStatement(v)) return factory.updateWhileStatement(v, v.expression, block(v.statement));
      if (ts.isDoStatement(v)) return factory.updateDoStatement(v, block(v.statement), v.expression);
      if (ts.isArrayLiteralExpression(v)) return factory.createArrayLiteralExpression(v.elements, false);
      if (ts.isObjectLiteralExpression(v)) {
        const tall = v.properties.length > 2 || v.properties.some((p) => !ts.isPropertyAssignment(p) && !ts.isShorthandPropertyAssignment(p));
        return factory.createObjectLiteralExpression(v.properties, tall);
      }
      return v;
    };
    return visitor;
  };
  forgetPositions(ts, node);
  const { transformed: [canonical] } = ts.transform(node, [transformer]);
  return ts.createPrinter({ removeComments: true }).printNode(ts.EmitHint.Unspecified, canonical!, undefined as never);
}

/**
 * Makes `node`'s tree look synthesized to the printer (position -1), which then lays it out by its own
 * rules instead of keeping the original line breaks, and takes names and literals from the nodes, not
 * from the source text. Mutates the tree: the last use of it.
 */
function forgetPositions(ts: TS, node: Node): void {
  const forget = (range: { pos: number; end: number }) => {
    range.pos = -1;
    range.end = -1;
  };
  const walk = (n: Node): void => {
    forget(n as unknown as { pos: number; end: number });
    ts.forEachChild(n, walk, (nodes) => {
      forget(nodes as unknown as { pos: number; end: number });
      nodes.forEach(walk);
    });
  };
  walk(node);
}

/**
 * Parses what `Function.prototype.toString` returns: a function or class expression, or a method
 * (`m() {}`, `async *m() {}`, `get x() {}`), which only parses inside an object literal.
 */
function parseFunction(ts: TS, raw: string): { node: Node; unwrap: (text: string) => string } | undefined {
  for (const [prefix, suffix] of [["(", "\n)"], ["({", "\n})"]] as const) {
    const unwrap = (text: string) => text.slice(prefix.length, text.length - suffix.length);
    const file = ts.createSourceFile("fn.ts", prefix + raw + suffix, ts.ScriptTarget.Latest, true);
    const diagnostics = (file as unknown as { parseDiagnostics: unknown[] }).parseDiagnostics;
    const statement = file.statements[0];
    if (diagnostics.length > 0 || file.statements.length !== 1 || !statement) continue;
    if (!ts.isExpressionStatement(statement) || !ts.isParenthesizedExpression(statement.expression)) continue;
    const inner = statement.expression.expression;
    if (ts.isObjectLiteralExpression(inner)) {
      const member = inner.properties[0];
      if (inner.properties.length === 1 && member && ts.isFunctionLike(member)) return { node: member, unwrap };
    } else if (ts.isFunctionLike(inner) || ts.isClassExpression(inner)) {
      return { node: inner, unwrap };
    }
  }
  return undefined;
}

// TypeScript-only modifiers, erased like types.
const typeOnlyModifiers = new Set([
  "PublicKeyword", "PrivateKeyword", "ProtectedKeyword", "ReadonlyKeyword", "AbstractKeyword",
  "OverrideKeyword", "DeclareKeyword", "InKeyword", "OutKeyword",
]);

// What the token stream reads besides the tree: the binding of each name, and field initializers a
// constructor assigns.
interface Canon {
  readonly names: Names;
  readonly classes: MovedInitializers;
}

/**
 * Writes the canonical token stream of `node`: syntax kinds and literal values, no comments, no
 * whitespace, no types, no redundant parentheses, braces, semicolons or trailing commas.
 */
function emit(ts: TS, node: Node, canon: Canon, out: string[], tagged: boolean): void {
  const kind = kindNames!.get(node.kind) ?? String(node.kind);
  // Types and type-only constructs vanish.
  if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
  if (ts.isEmptyStatement(node) || ts.isSemicolonClassElement(node)) return;
  if (typeOnlyModifiers.has(kind) && isModifierOf(node)) return;
  if (ts.isParameter(node) && ts.isIdentifier(node.name) && node.name.text === "this") return;
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && !node.body) return;
  if (ts.isHeritageClause(node) && node.token === ts.SyntaxKind.ImplementsKeyword) return;
  // `(a?.b).c` throws where `a?.b.c` stops: parentheses that end an optional chain are meaningful.
  if (ts.isParenthesizedExpression(node) && endsOptionalChain(ts, node)) {
    out.push("ChainEnd(");
    emit(ts, node.expression, canon, out, tagged);
    return void out.push(")");
  }
  if (
    ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node) ||
    ts.isTypeAssertionExpression(node) || ts.isNonNullExpression(node)
  ) {
    return emit(ts, node.expression, canon, out, tagged);
  }
  // A directive (`"use strict"`) is not the expression `("use strict")`; it is written by its raw text.
  if (isDirective(ts, node)) return void out.push(`Directive:${JSON.stringify(node.expression.getText().slice(1, -1))}`);
  // `a, b;` is `a; b;` (the Deno kernel writes `super(), this.r = r;`); a field initializer the
  // constructor assigned is written in its field (see classes.ts).
  if (ts.isExpressionStatement(node)) {
    for (const operand of commaOperands(ts, node.expression)) {
      if (canon.classes.moved.has(operand)) continue;
      out.push("ExpressionStatement(");
      emit(ts, operand, canon, out, tagged);
      out.push(")");
    }
    return;
  }
  // Property names by their string value: `{ a: 1 }` = `{ "a": 1 }`, `{ 1: x }` = `{ "1": x }`.
  if ((ts.isIdentifier(node) || ts.isStringLiteral(node) || ts.isNumericLiteral(node)) && isPropertyKey(ts, node)) {
    return void out.push(`key:${JSON.stringify(ts.isNumericLiteral(node) ? String(Number(node.text.replace(/_/g, ""))) : node.text)}`);
  }
  // Shorthands written out: `{ a }` = `{ a: a }`, `const { a } = o` = `const { a: a } = o`; but
  // `{ __proto__: p }` sets the prototype where `{ __proto__ }` makes a property.
  if (ts.isShorthandPropertyAssignment(node) && !node.objectAssignmentInitializer && node.name.text !== "__proto__") {
    out.push("PropertyAssignment(", `key:${JSON.stringify(node.name.text)}`);
    emit(ts, node.name, canon, out, tagged);
    return void out.push(")");
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
  // Parameters and locals by their binding, not their spelling (the Deno kernel renames some: `rows` ->
  // `rows1`), unless the spelling can be observed (see free_identifiers.ts).
  if (ts.isIdentifier(node)) {
    const binding = canon.names.bindings.get(node);
    return void out.push(binding?.renamable ? `b:${binding.id}` : `id:${node.text}`);
  }
  if (ts.isPrivateIdentifier(node)) return void out.push(`id:${node.text}`);

  out.push(`${kind}(`);
  // Facts kept outside child nodes.
  if (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) out.push(ts.tokenToString(node.operator)!);
  if (ts.isVariableDeclarationList(node)) out.push(declarationKeyword(ts, node.flags));
  if (ts.isMetaProperty(node)) out.push(ts.tokenToString(node.keywordToken)!);
  if (ts.isHeritageClause(node)) out.push(ts.tokenToString(node.token)!);

  const typeSlots = node as { type?: Node; typeArguments?: unknown; typeParameters?: unknown };
  const optionalSlots = ts.isParameter(node) || ts.isPropertyDeclaration(node) || ts.isVariableDeclaration(node) ||
    ts.isMethodDeclaration(node);
  const implicitKey = ts.isBindingElement(node) && !node.propertyName && !node.dotDotDotToken &&
    ts.isObjectBindingPattern(node.parent) && ts.isIdentifier(node.name);
  const child = (c: Node) => {
    if (c === typeSlots.type) return;
    if (implicitKey && c === (node as { name?: Node }).name) out.push(`key:${JSON.stringify((c as { text?: string }).text)}`);
    if (optionalSlots && (c.kind === ts.SyntaxKind.QuestionToken || c.kind === ts.SyntaxKind.ExclamationToken)) return;
    emitBlockBody(ts, node, c, canon, out, tagged || ts.isTaggedTemplateExpression(node));
  };
  ts.forEachChild(node, child, (nodes) => {
    if (nodes === typeSlots.typeArguments || nodes === typeSlots.typeParameters) return;
    out.push("[");
    nodes.forEach(child);
    out.push("]");
  });
  const initializer = canon.classes.initializers.get(node);
  if (initializer) emit(ts, initializer, canon, out, tagged);
  out.push(")");
}

/**
 * Bodies that may be a single statement or an expression are always written as a block, so
 * `if (a) b();` equals `if (a) { b(); }` and `x => y` equals `x => { return y; }`.
 */
function emitBlockBody(ts: TS, parent: Node, child: Node, canon: Canon, out: string[], tagged: boolean): void {
  const isBody = (ts.isArrowFunction(parent) && parent.body === child) ||
    (ts.isIfStatement(parent) && (parent.thenStatement === child || parent.elseStatement === child)) ||
    (ts.isIterationStatement(parent, false) && parent.statement === child);
  if (!isBody || ts.isBlock(child)) return emit(ts, child, canon, out, tagged);
  out.push("Block(", "[");
  if (ts.isArrowFunction(parent)) {
    out.push("ReturnStatement(");
    emit(ts, child, canon, out, tagged);
    out.push(")");
  } else {
    emit(ts, child, canon, out, tagged);
  }
  out.push("]", ")");
}

/** A string statement in the prologue of a function body (parentheses make it a plain expression). */
function isDirective(ts: TS, node: Node): node is import("ts-morph").ts.ExpressionStatement {
  if (!ts.isExpressionStatement(node) || !ts.isStringLiteral(node.expression)) return false;
  const body = node.parent;
  if (!ts.isBlock(body) || !ts.isFunctionLike(body.parent)) return false;
  for (const statement of body.statements) {
    if (statement === node) return true;
    if (!ts.isExpressionStatement(statement) || !ts.isStringLiteral(statement.expression)) return false;
  }
  return false;
}

function isPropertyKey(ts: TS, node: Node): boolean {
  const parent = node.parent;
  if (ts.isBindingElement(parent)) return parent.propertyName === node;
  return (ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent) || ts.isPropertyDeclaration(parent) ||
    ts.isGetAccessorDeclaration(parent) || ts.isSetAccessorDeclaration(parent)) && parent.name === node;
}

function endsOptionalChain(ts: TS, node: import("ts-morph").ts.ParenthesizedExpression): boolean {
  let inner: Node = node.expression;
  while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
  const parent = node.parent;
  if (!ts.isOptionalChain(inner)) return false;
  if (ts.isTaggedTemplateExpression(parent)) return parent.tag === node;
  return (ts.isPropertyAccessExpression(parent) || ts.isElementAccessExpression(parent) || ts.isCallExpression(parent)) &&
    parent.expression === node;
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
