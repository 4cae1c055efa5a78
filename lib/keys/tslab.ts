// Undoes what tslab's compiler writes into a cell's functions, so that a function printed by tslab hashes like
// the same function printed by the Deno kernel or a script. Each rule below is one rewrite of tslab 1.0.22's
// converter (`wrapPrevIdentifier`: earlier cells' names read as `exports.NAME`) or of the CommonJS transform
// of its TypeScript fork (transformers/module/module.ts: exported names, imports, dynamic import), matched in
// the exact shape that code builds it; docs/ARCHITECTURE.md lists them.
import type { Binding, Names } from "./free_identifiers.ts";

type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;

/**
 * The imports of the cell a function was defined in, read from the cell's compiled script:
 * `alias.property` (as in `node_fs_1.default`, `node_crypto_1.createHash`) -> the name the cell gave it
 * (`fs`, `createHash`); null where two names of the cell share one (`import { f, f as g }`).
 */
export type CellImports = ReadonlyMap<string, string | null>;

/** Replace the text from `start` to `end` by `text`. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

// TypeScript's temporary names (createTempVariable: _a, _b, ... then _0, _1, ...).
const TEMP = /^_(?:[a-z]|\d+)$/;
// An identifier that may name an import's alias (`<module>_<n>`, makeUniqueName), to skip the script when
// a function mentions none.
export const MENTIONS_ALIAS = /[\w$]_\d+\./;

/**
 * Reads a tslab cell's compiled script for its imports. The converter exports every top-level name of a
 * cell: an import's alias (`const node_fs_1 = __importDefault(require("node:fs"))`) is followed by the
 * export of the name the cell uses (`exports.fs = node_fs_1.default;`, or for a named import
 * `Object.defineProperty(exports, "createHash", { enumerable: true, get: function () { return
 * node_crypto_1.createHash; } });`). Names the cell declares itself are exported as `exports.x = x;`, so an
 * identifier with that line is never taken for an alias.
 */
export function cellImports(script: string): CellImports {
  const aliases = new Set<string>();
  const requires = /^const ([\w$]+) = (?:__importDefault\(|__importStar\()?require\("(?:[^"\\\n]|\\.)*"\)\)?;$/gm;
  for (const [, alias] of script.matchAll(requires)) aliases.add(alias!);
  for (const [, name] of script.matchAll(/^exports\.([\w$]+) = \1;$/gm)) aliases.delete(name!);
  const imports = new Map<string, string | null>();
  const exportsOf = [
    /^Object\.defineProperty\(exports, "([\w$]+)", \{ enumerable: true, get: function \(\) \{ return ([\w$]+)\.([\w$]+); \} \}\);$/gm,
    /^exports\.([\w$]+) = ([\w$]+)\.([\w$]+);$/gm,
  ];
  for (const pattern of exportsOf) {
    for (const [, local, alias, property] of script.matchAll(pattern)) {
      if (!aliases.has(alias!)) continue;
      const key = `${alias}.${property}`;
      imports.set(key, imports.has(key) && imports.get(key) !== local ? null : local!);
    }
  }
  return imports;
}

/**
 * The edits that turn a function as tslab printed it back into the function as written. `names` is the
 * scope analysis of `fn`: a rule applies only where `exports`, the alias or the updated name is read from
 * outside the function (a parameter named `exports` is the function's own). What no rule matches stays as
 * printed, so the versions differ rather than being equal for different code.
 */
export function tslabEdits(ts: TS, fn: Node, names: Names, imports: CellImports): Edit[] {
  const file = fn.getSourceFile();
  const edits: Edit[] = [];
  const start = (n: Node) => n.getStart(file);
  const replace = (n: Node, text: string) => void edits.push({ start: start(n), end: n.end, text });
  const cut = (from: number, to: number, text = "") => void edits.push({ start: from, end: to, text });
  const outer = (n: Node | undefined, name?: string): n is import("ts-morph").ts.Identifier =>
    n !== undefined && ts.isIdentifier(n) && names.outer.has(n) && (name === undefined || n.text === name);
  const { EqualsToken, CommaToken, PlusPlusToken, MinusMinusToken, FirstAssignment, LastAssignment } = ts.SyntaxKind;
  const isBinary = (n: Node | undefined, operator?: number): n is import("ts-morph").ts.BinaryExpression =>
    n !== undefined && ts.isBinaryExpression(n) && (operator === undefined || n.operatorToken.kind === operator);
  const isUpdate = (n: Node | undefined, name: string): n is import("ts-morph").ts.PostfixUnaryExpression =>
    n !== undefined && ts.isPostfixUnaryExpression(n) && (n.operator === PlusPlusToken || n.operator === MinusMinusToken) &&
    outer(n.operand, name);
  const update = (n: import("ts-morph").ts.PostfixUnaryExpression) => `${n.operand.getText(file)}${ts.tokenToString(n.operator)}`;

  // `exports.NAME`, exports being the cell's own: the converter's read of an earlier cell's NAME, and the
  // CommonJS transform's export of a NAME of this cell.
  const exported = (n: Node | undefined): string | undefined =>
    n !== undefined && ts.isPropertyAccessExpression(n) && !n.questionDotToken && outer(n.expression, "exports") &&
      ts.isIdentifier(n.name)
      ? n.name.text
      : undefined;
  // `alias.property` of an import of the cell -> the name the cell gave it.
  const imported = (n: Node | undefined): string | undefined => {
    if (!n || !ts.isPropertyAccessExpression(n) || n.questionDotToken || !outer(n.expression) || !ts.isIdentifier(n.name)) return undefined;
    return imports.get(`${n.expression.text}.${n.name.text}`) ?? undefined;
  };

  // A temporary that holds an update's old value, with the var statement the transform hoisted it into.
  const temps = new Map<Binding, Node>();
  const uses = new Map<Binding, number>();
  for (const binding of names.bindings.values()) uses.set(binding, (uses.get(binding) ?? 0) + 1);
  const consumed = new Set<Binding>();
  const tempOf = (n: Node | undefined): Binding | undefined =>
    n !== undefined && ts.isIdentifier(n) && TEMP.test(n.text) ? names.bindings.get(n) : undefined;

  // module.ts visitPreOrPostfixUnaryExpression / substituteBinaryExpression, for a NAME this cell exports.
  const undoUpdate = (n: Node): boolean => {
    if (isBinary(n, EqualsToken)) {
      const name = exported(n.left);
      if (name === undefined) return false;
      const value = n.right;
      // `exports.n = n = v`, `exports.n = n += v`: an assignment to an exported name.
      if (isBinary(value) && value.operatorToken.kind >= FirstAssignment && value.operatorToken.kind <= LastAssignment &&
        outer(value.left, name)) {
        cut(start(n), start(value));
        visit(value.right);
        return true;
      }
      // `exports.n = ++n`
      if (ts.isPrefixUnaryExpression(value) && (value.operator === PlusPlusToken || value.operator === MinusMinusToken) &&
        outer(value.operand, name)) {
        cut(start(n), start(value));
        return true;
      }
      // `exports.n = (n++, n)`: a postfix update whose value is not used.
      if (ts.isParenthesizedExpression(value) && isBinary(value.expression, CommaToken) &&
        isUpdate(value.expression.left, name) && outer(value.expression.right, name)) {
        replace(n, update(value.expression.left));
        return true;
      }
      return false;
    }
    // `(exports.n = (_a = n++, n), _a)`: a postfix update whose value is used, through a temporary.
    if (isBinary(n, CommaToken) && isBinary(n.left, EqualsToken)) {
      const temp = tempOf(n.right);
      const name = exported(n.left.left);
      const inner = n.left.right;
      if (!temp || name === undefined || !ts.isParenthesizedExpression(inner) || !isBinary(inner.expression, CommaToken)) return false;
      const [assign, last] = [inner.expression.left, inner.expression.right];
      if (!isBinary(assign, EqualsToken) || tempOf(assign.left) !== temp || !isUpdate(assign.right, name) || !outer(last, name)) return false;
      replace(n, update(assign.right));
      consumed.add(temp);
      return true;
    }
    return false;
  };

  // module.ts substituteCallExpression (`(0, alias.f)(...)`), substituteExpressionIdentifier (`alias.f`,
  // `alias.default`) and substituteShorthandPropertyAssignment (`{ f: alias.f }`).
  const undoImport = (n: Node): boolean => {
    if (ts.isParenthesizedExpression(n) && isBinary(n.expression, CommaToken) && ts.isNumericLiteral(n.expression.left) &&
      n.expression.left.text === "0") {
      const local = imported(n.expression.right);
      if (local === undefined) return false;
      replace(n, local);
      return true;
    }
    if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text !== "__proto__" && imported(n.initializer) === n.name.text) {
      replace(n, n.name.text);
      return true;
    }
    const local = imported(n);
    if (local === undefined) return false;
    replace(n, local);
    return true;
  };

  // module.ts createImportCallExpressionCommonJS: `import(x)` as a require behind a resolved promise.
  const undoDynamicImport = (n: Node): boolean => {
    if (!ts.isCallExpression(n) || n.arguments.length !== 1 || !ts.isPropertyAccessExpression(n.expression)) return false;
    const [then, arrow] = [n.expression, n.arguments[0]!];
    const resolve = then.expression;
    if (then.name.text !== "then" || !ts.isCallExpression(resolve) || !ts.isPropertyAccessExpression(resolve.expression) ||
      !outer(resolve.expression.expression, "Promise") || resolve.expression.name.text !== "resolve" || !ts.isArrowFunction(arrow)) {
      return false;
    }
    const body = arrow.body;
    if (!ts.isCallExpression(body) || !outer(body.expression, "__importStar") || body.arguments.length !== 1) return false;
    const required = body.arguments[0]!;
    if (!ts.isCallExpression(required) || !outer(required.expression, "require") || required.arguments.length !== 1) return false;
    const specifier = required.arguments[0]!;
    // `Promise.resolve().then(() => __importStar(require("x")))`
    if (resolve.arguments.length === 0 && arrow.parameters.length === 0 && ts.isStringLiteral(specifier)) {
      replace(n, `import(${specifier.getText(file)})`);
      return true;
    }
    // `Promise.resolve(`${x}`).then(s => __importStar(require(s)))`
    const [template, parameter] = [resolve.arguments[0], arrow.parameters[0]];
    if (resolve.arguments.length !== 1 || arrow.parameters.length !== 1 || !template || !ts.isTemplateExpression(template) ||
      template.head.text !== "" || template.templateSpans.length !== 1 || template.templateSpans[0]!.literal.text !== "" ||
      !parameter || !ts.isIdentifier(parameter.name) || parameter.name.text !== "s" ||
      !ts.isIdentifier(specifier) || names.bindings.get(specifier) !== names.bindings.get(parameter.name)) {
      return false;
    }
    const argument = template.templateSpans[0]!.expression;
    cut(start(n), start(argument), "import(");
    cut(argument.end, n.end, ")");
    visit(argument);
    return true;
  };

  // The converter rewrites a destructured property that names a member of an earlier cell's type as if it
  // were that cell's name (`{ x: px }` -> `{ exports.x: px }`), which the CommonJS pass re-parses as
  // `{ exports, x: px }`. Undone only where no other `exports` is in the function.
  const exportsIdentifiers = [...names.bindings.keys(), ...names.outer].filter((id) => id.text === "exports").length;
  const garbles: { from: number; to: number }[] = [];
  const collectGarbles = (n: Node): void => {
    if (!ts.isObjectBindingPattern(n)) return;
    n.elements.forEach((element, i) => {
      const following = n.elements[i + 1];
      if (!element.propertyName && !element.dotDotDotToken && !element.initializer && ts.isIdentifier(element.name) &&
        element.name.text === "exports" && following?.propertyName && ts.isIdentifier(following.propertyName)) {
        garbles.push({ from: start(element), to: start(following) });
      }
    });
  };

  const collectTemps = (n: Node): void => {
    if (!ts.isBlock(n) || !ts.isFunctionLike(n.parent)) return;
    const statement = n.statements.find((s) => !(ts.isExpressionStatement(s) && ts.isStringLiteral(s.expression)));
    if (!statement || !ts.isVariableStatement(statement) || statement.declarationList.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const)) return;
    const declarations = statement.declarationList.declarations;
    if (!declarations.every((d) => !d.initializer && tempOf(d.name))) return;
    for (const d of declarations) temps.set(tempOf(d.name)!, statement);
  };

  const visit = (n: Node): void => {
    collectGarbles(n);
    collectTemps(n);
    if (undoUpdate(n) || undoImport(n) || undoDynamicImport(n)) return;
    const name = exported(n);
    if (name !== undefined) return cut(start(n), start((n as import("ts-morph").ts.PropertyAccessExpression).name));
    ts.forEachChild(n, visit);
  };
  visit(fn);

  if (garbles.length > 0 && garbles.length === exportsIdentifiers) for (const g of garbles) cut(g.from, g.to);
  // A hoisted temporary goes with the updates that used it: declared once, read twice by each.
  const statements = new Map<Node, Binding[]>();
  for (const [temp, statement] of temps) (statements.get(statement) ?? statements.set(statement, []).get(statement)!).push(temp);
  for (const [statement, declared] of statements) {
    const gone = declared.filter((t) => consumed.has(t) && uses.get(t) === 3);
    if (gone.length === 0) continue;
    const kept = (statement as import("ts-morph").ts.VariableStatement).declarationList.declarations
      .filter((d) => !gone.includes(tempOf(d.name)!)).map((d) => d.name.getText(file));
    replace(statement, kept.length > 0 ? `var ${kept.join(", ")};` : "");
  }
  return edits;
}

/** Applies non-overlapping edits to `text`. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return out;
}
