// Scope analysis of a function's syntax tree: which identifiers it reads from outside itself (helpers and
// constants from other cells), so nbmemo can say which ones the function's version does not cover.
type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;

/**
 * Globals of the language and of both runtimes, never reported. A static list on purpose: a function or
 * `var` declared in an earlier Deno cell is a property of `globalThis` too, and exactly what must be reported.
 */
export const WELL_KNOWN_GLOBALS: ReadonlySet<string> = new Set([
  // ECMAScript
  "globalThis", "Infinity", "NaN", "undefined", "eval", "isFinite", "isNaN", "parseFloat", "parseInt",
  "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape", "Object",
  "Function", "Array", "Number", "Boolean", "String", "Symbol", "BigInt", "Math", "JSON", "Date", "RegExp",
  "Error", "AggregateError", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError",
  "URIError", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Promise", "Proxy",
  "Reflect", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "Int8Array", "Uint8Array",
  "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "Intl", "Iterator", "arguments",
  // Web platform APIs that Node and Deno share
  "console", "fetch", "Request", "Response", "Headers", "FormData", "URL", "URLSearchParams", "URLPattern",
  "TextEncoder", "TextDecoder", "TextEncoderStream", "TextDecoderStream", "setTimeout", "clearTimeout",
  "setInterval", "clearInterval", "queueMicrotask", "structuredClone", "atob", "btoa", "crypto", "Crypto",
  "CryptoKey", "SubtleCrypto", "performance", "AbortController", "AbortSignal", "Blob", "File", "Event",
  "EventTarget", "CustomEvent", "MessageChannel", "MessagePort", "MessageEvent", "BroadcastChannel",
  "DOMException", "ReadableStream", "WritableStream", "TransformStream", "CompressionStream",
  "DecompressionStream", "WebSocket", "Worker", "navigator", "WebAssembly", "reportError",
  // Runtime globals
  "Deno", "process", "Buffer", "global", "require", "module", "exports", "__dirname", "__filename",
  "setImmediate", "clearImmediate", "self", "window",
]);

/**
 * The names `fn` reads that it does not declare (parameters, locals, its own name) and that are not
 * {@link WELL_KNOWN_GLOBALS}, sorted. Types are not reads: `(r: Row) => r.id` reads nothing from outside.
 */
export function freeIdentifiers(ts: TS, fn: Node): string[] {
  const free = new Set<string>();
  const scopes: Set<string>[] = [];
  const { Let, Const, Using } = ts.NodeFlags;

  const bind = (name: Node, into: Set<string>): void => {
    if (ts.isIdentifier(name)) into.add(name.text);
    else if (ts.isObjectBindingPattern(name) || ts.isArrayBindingPattern(name)) {
      for (const element of name.elements) if (ts.isBindingElement(element)) bind(element.name, into);
    }
  };
  // `var` is hoisted to the enclosing function, from any depth but nested functions.
  const hoistVars = (node: Node, into: Set<string>): void => {
    ts.forEachChild(node, (child) => {
      if (ts.isFunctionLike(child) || ts.isClassLike(child)) return;
      if (ts.isVariableDeclarationList(child) && !(child.flags & (Let | Const | Using))) {
        for (const declaration of child.declarations) bind(declaration.name, into);
      }
      hoistVars(child, into);
    });
  };
  // let/const/class/function declarations belong to the whole block, also before their line.
  const lexical = (statements: readonly Node[], into: Set<string>): void => {
    for (const statement of statements) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) bind(declaration.name, into);
      } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
        into.add(statement.name.text);
      }
    }
  };

  const scopeOf = (node: Node): Set<string> | undefined => {
    const scope = new Set<string>();
    if (ts.isFunctionLike(node)) {
      if (!ts.isArrowFunction(node)) scope.add("arguments");
      if ((ts.isFunctionExpression(node) || ts.isClassExpression(node)) && node.name) scope.add(node.name.text);
      for (const parameter of node.parameters) bind(parameter.name, scope);
      const body = (node as { body?: Node }).body;
      if (body) hoistVars(body, scope);
      return scope;
    }
    if (ts.isClassExpression(node) && node.name) return scope.add(node.name.text);
    if (ts.isBlock(node) || ts.isSourceFile(node)) return lexical(node.statements, scope), scope;
    if (ts.isCaseBlock(node)) {
      for (const clause of node.clauses) lexical(clause.statements, scope);
      return scope;
    }
    if ((ts.isForStatement(node) || ts.isForInStatement(node) || ts.isForOfStatement(node)) &&
      node.initializer && ts.isVariableDeclarationList(node.initializer)) {
      for (const declaration of node.initializer.declarations) bind(declaration.name, scope);
      return scope;
    }
    if (ts.isCatchClause(node) && node.variableDeclaration) return bind(node.variableDeclaration.name, scope), scope;
    return undefined;
  };

  // An identifier that names a property, a label or a declaration is not a read.
  const isRead = (id: Node): boolean => {
    const parent = id.parent;
    const named = parent as { name?: Node; propertyName?: Node; label?: Node };
    if (ts.isShorthandPropertyAssignment(parent)) return true;
    if (named.name === id || named.propertyName === id || named.label === id) return false;
    return !ts.isMetaProperty(parent) && !ts.isQualifiedName(parent);
  };

  const visit = (node: Node): void => {
    if (ts.isExpressionWithTypeArguments(node)) {
      // `class A extends Base` reads Base; `implements I` reads nothing.
      const clause = node.parent;
      if (ts.isHeritageClause(clause) && clause.token === ts.SyntaxKind.ExtendsKeyword) visit(node.expression);
      return;
    }
    if (ts.isTypeNode(node) || ts.isTypeParameterDeclaration(node) || ts.isInterfaceDeclaration(node) ||
      ts.isTypeAliasDeclaration(node)) return;
    const read = (name: string) => {
      if (!scopes.some((scope) => scope.has(name))) free.add(name);
    };
    if (ts.isIdentifier(node)) {
      if (isRead(node)) read(node.text);
      return;
    }
    const cellName = earlierCellName(ts, node);
    if (cellName && !scopes.some((scope) => scope.has("exports"))) return read(cellName);
    const scope = scopeOf(node);
    if (scope) scopes.push(scope);
    ts.forEachChild(node, visit);
    if (scope) scopes.pop();
  };
  visit(fn);
  return [...free].filter((name) => !WELL_KNOWN_GLOBALS.has(name)).sort();
}

/**
 * The name `node` reads from an earlier tslab cell, if it is `exports.name`: tslab exports every cell's
 * top-level names and rewrites later cells' reads of them so (seen with tslab 1.0.22), where Deno and
 * scripts read plain `name`.
 */
export function earlierCellName(ts: TS, node: Node): string | undefined {
  return ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "exports" &&
      ts.isIdentifier(node.name)
    ? node.name.text
    : undefined;
}
