// Scope analysis of a function's syntax tree: which binding each name denotes (so that the version can ignore
// how parameters and locals are spelled), and which names it reads from outside itself (helpers and constants
// from other cells), so nbmemo can say which ones the function's version does not cover.
type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;
type Identifier = import("ts-morph").ts.Identifier;

/** Bump when what is reported changes: free identifiers remembered in a catalog under an older list are not reused. */
export const FREE_IDENTIFIERS_VERSION = 2;

/**
 * ECMAScript's own globals (ECMA-262 and ECMA-402), the only names assumed to be what they seem and never
 * reported. A static list on purpose: a function or `var` declared in an earlier Deno cell is a property
 * of `globalThis` too, and exactly what must be reported.
 */
export const ECMASCRIPT_GLOBALS: ReadonlySet<string> = new Set([
  "globalThis", "Infinity", "NaN", "undefined", "eval", "isFinite", "isNaN", "parseFloat", "parseInt",
  "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape", "Object",
  "Function", "Array", "Number", "Boolean", "String", "Symbol", "BigInt", "Math", "JSON", "Date", "RegExp",
  "Error", "AggregateError", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError",
  "URIError", "SuppressedError", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Promise",
  "Proxy", "Reflect", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "Int8Array", "Uint8Array",
  "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "Intl", "Iterator", "DisposableStack",
  "AsyncDisposableStack", "arguments",
]);

/**
 * Names the runtimes (Node, Deno, the web platform they share) give every program. They are reported like
 * any other outer name, since a cell may define its own `URL` or `performance`; listed in `deps`, one whose
 * value is the runtime's own is keyed by its name alone (see `digestDeps`).
 */
export const HOST_GLOBALS: ReadonlySet<string> = new Set([
  "console", "fetch", "Request", "Response", "Headers", "FormData", "URL", "URLSearchParams", "URLPattern",
  "TextEncoder", "TextDecoder", "TextEncoderStream", "TextDecoderStream", "setTimeout", "clearTimeout",
  "setInterval", "clearInterval", "queueMicrotask", "structuredClone", "atob", "btoa", "crypto", "Crypto",
  "CryptoKey", "SubtleCrypto", "performance", "AbortController", "AbortSignal", "Blob", "File", "Event",
  "EventTarget", "CustomEvent", "MessageChannel", "MessagePort", "MessageEvent", "BroadcastChannel",
  "DOMException", "ReadableStream", "WritableStream", "TransformStream", "CompressionStream",
  "DecompressionStream", "WebSocket", "Worker", "navigator", "WebAssembly", "reportError",
  "Deno", "process", "Buffer", "global", "require", "module", "__dirname", "__filename",
  "setImmediate", "clearImmediate", "self", "window",
]);

/**
 * A name declared inside the function. `renamable` is false where the spelling can be observed by the code:
 * a function or class declaration, a named function or class expression, and a binding that an anonymous
 * function or class is assigned to (it takes the name: `const f = () => 1; f.name` is "f"); and every
 * binding of a function that runs a direct `eval` or a `with` block.
 */
export interface Binding {
  readonly id: number;
  renamable: boolean;
}

/** What the scope analysis found. */
export interface Names {
  /** The binding each declaring or referring identifier denotes; absent for outer names, properties and labels. */
  readonly bindings: ReadonlyMap<Identifier, Binding>;
  /** The identifiers that read a name from outside the function. */
  readonly outer: ReadonlySet<Identifier>;
  /** The outer names read, minus {@link ECMASCRIPT_GLOBALS}, sorted. */
  readonly free: readonly string[];
}

/**
 * Resolves every name in `fn`: parameters, locals (let/const/class/function per block, `var` per function),
 * for-loop and catch bindings, a function's own name. Types are not reads: `(r: Row) => r.id` reads nothing
 * from outside.
 */
export function analyzeNames(ts: TS, fn: Node): Names {
  const bindings = new Map<Identifier, Binding>();
  const outer = new Set<Identifier>();
  const scopes: Map<string, Binding>[] = [];
  let next = 0;
  let dynamic = false; // a direct eval or a with block: names are looked up at run time
  const { Let, Const, Using } = ts.NodeFlags;

  const declare = (id: Identifier, into: Map<string, Binding>, renamable: boolean): void => {
    const name = id.text;
    let binding = into.get(name);
    if (!binding) into.set(name, (binding = { id: next++, renamable }));
    else if (!renamable) binding.renamable = false;
    bindings.set(id, binding);
  };
  const bind = (name: Node, into: Map<string, Binding>, named: boolean): void => {
    if (ts.isIdentifier(name)) declare(name, into, !named);
    else if (ts.isObjectBindingPattern(name) || ts.isArrayBindingPattern(name)) {
      for (const element of name.elements) {
        if (ts.isBindingElement(element)) bind(element.name, into, takesName(ts, element.initializer));
      }
    }
  };
  // `var` is hoisted to the enclosing function, from any depth but nested functions.
  const hoistVars = (node: Node, into: Map<string, Binding>): void => {
    ts.forEachChild(node, (child) => {
      if (ts.isFunctionLike(child) || ts.isClassLike(child)) return;
      if (ts.isVariableDeclarationList(child) && !(child.flags & (Let | Const | Using))) {
        for (const declaration of child.declarations) bind(declaration.name, into, takesName(ts, declaration.initializer));
      }
      hoistVars(child, into);
    });
  };
  // let/const/class/function declarations belong to the whole block, also before their line.
  const lexical = (statements: readonly Node[], into: Map<string, Binding>): void => {
    for (const statement of statements) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          bind(declaration.name, into, takesName(ts, declaration.initializer));
        }
      } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
        declare(statement.name, into, false);
      }
    }
  };

  const scopeOf = (node: Node): Map<string, Binding> | undefined => {
    const scope = new Map<string, Binding>();
    if (ts.isFunctionLike(node)) {
      if (!ts.isArrowFunction(node)) scope.set("arguments", { id: next++, renamable: false });
      if ((ts.isFunctionExpression(node) || ts.isClassExpression(node)) && node.name) declare(node.name, scope, false);
      for (const parameter of node.parameters) bind(parameter.name, scope, takesName(ts, parameter.initializer));
      const body = (node as { body?: Node }).body;
      if (body) hoistVars(body, scope);
      return scope;
    }
    if (ts.isClassExpression(node) && node.name) return declare(node.name, scope, false), scope;
    if (ts.isBlock(node) || ts.isSourceFile(node)) return lexical(node.statements, scope), scope;
    if (ts.isCaseBlock(node)) {
      for (const clause of node.clauses) lexical(clause.statements, scope);
      return scope;
    }
    if ((ts.isForStatement(node) || ts.isForInStatement(node) || ts.isForOfStatement(node)) &&
      node.initializer && ts.isVariableDeclarationList(node.initializer)) {
      for (const declaration of node.initializer.declarations) bind(declaration.name, scope, takesName(ts, declaration.initializer));
      return scope;
    }
    if (ts.isCatchClause(node) && node.variableDeclaration) return bind(node.variableDeclaration.name, scope, false), scope;
    return undefined;
  };

  const refer = (id: Identifier): void => {
    const name = id.text;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const binding = scopes[i]!.get(name);
      if (binding) return void bindings.set(id, binding);
    }
    outer.add(id);
  };
  // An assignment of an anonymous function names it after the target: `f = () => 1` makes f.name "f".
  const namesTarget = (target: Node, value: Node | undefined): void => {
    const binding = ts.isIdentifier(target) ? bindings.get(target) : undefined;
    if (binding && takesName(ts, value)) binding.renamable = false;
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
    if (ts.isIdentifier(node)) {
      if (!bindings.has(node) && isReference(ts, node)) refer(node);
      return;
    }
    if (ts.isWithStatement(node) || (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "eval")) {
      dynamic = true;
    }
    const scope = scopeOf(node);
    if (scope) scopes.push(scope);
    ts.forEachChild(node, visit);
    if (scope) scopes.pop();
    if (ts.isBinaryExpression(node) && isNamingAssignment(ts, node.operatorToken.kind)) namesTarget(node.left, node.right);
    if (ts.isShorthandPropertyAssignment(node)) namesTarget(node.name, node.objectAssignmentInitializer);
  };
  visit(fn);
  if (dynamic) for (const binding of bindings.values()) binding.renamable = false;
  const names = new Set([...outer].map((id) => id.text));
  return { bindings, outer, free: [...names].filter((name) => !ECMASCRIPT_GLOBALS.has(name)).sort() };
}

// An identifier that names a property, a label or a declaration is not a reference.
function isReference(ts: TS, id: Node): boolean {
  const parent = id.parent;
  const named = parent as { name?: Node; propertyName?: Node; label?: Node };
  if (ts.isShorthandPropertyAssignment(parent)) return true;
  if (named.name === id || named.propertyName === id || named.label === id) return false;
  return !ts.isMetaProperty(parent) && !ts.isQualifiedName(parent);
}

function isNamingAssignment(ts: TS, operator: number): boolean {
  const { EqualsToken, BarBarEqualsToken, AmpersandAmpersandEqualsToken, QuestionQuestionEqualsToken } = ts.SyntaxKind;
  return operator === EqualsToken || operator === BarBarEqualsToken || operator === AmpersandAmpersandEqualsToken ||
    operator === QuestionQuestionEqualsToken;
}

/** Whether `value` is an anonymous function or class, which takes the name of what it is assigned to. */
function takesName(ts: TS, value: Node | undefined): boolean {
  while (value && (ts.isParenthesizedExpression(value) || ts.isAsExpression(value) || ts.isSatisfiesExpression(value) ||
    ts.isTypeAssertionExpression(value) || ts.isNonNullExpression(value))) value = value.expression;
  if (!value) return false;
  return ts.isArrowFunction(value) || ((ts.isFunctionExpression(value) || ts.isClassExpression(value)) && !value.name);
}
