// Reads a field that a constructor assigns before anything else as the field initializer it is equal to, so
// that the Deno kernel's printing of a class with parameter properties (`#map;` plus `this.#map = new Map()`
// in the constructor, after the parameters are copied) hashes like TypeScript's (`#map = new Map();`).
type TS = typeof import("ts-morph").ts;
type Node = import("ts-morph").ts.Node;

/** Field declarations to read with an initializer, and the constructor expressions that were it. */
export interface MovedInitializers {
  readonly initializers: ReadonlyMap<Node, Node>;
  readonly moved: ReadonlySet<Node>;
}

/**
 * For every class in `root`: the leading expressions of its constructor (after `super(...)` and the copies of
 * parameters, `this.p = p`) that assign `this.f = e` to an instance field `f;` declared without initializer.
 * Moving `e` into the declaration changes nothing a program can see when `e` does not mention `this`, `super`
 * or `new.target`: the only work it moves past is copying parameters into fields it cannot reach.
 */
export function movedInitializers(ts: TS, root: Node): MovedInitializers {
  const initializers = new Map<Node, Node>();
  const moved = new Set<Node>();
  const visit = (node: Node): void => {
    if (ts.isClassLike(node)) readClass(ts, node, initializers, moved);
    ts.forEachChild(node, visit);
  };
  visit(root);
  return { initializers, moved };
}

/** The operands of a comma expression, left to right (`a, b, c` -> [a, b, c]); [e] for any other e. */
export function commaOperands(ts: TS, expression: Node): Node[] {
  while (ts.isParenthesizedExpression(expression)) expression = expression.expression;
  if (!ts.isBinaryExpression(expression) || expression.operatorToken.kind !== ts.SyntaxKind.CommaToken) return [expression];
  return [...commaOperands(ts, expression.left), ...commaOperands(ts, expression.right)];
}

function readClass(ts: TS, node: import("ts-morph").ts.ClassLikeDeclaration, initializers: Map<Node, Node>, moved: Set<Node>): void {
  const isStatic = (m: Node) => (m as { modifiers?: readonly Node[] }).modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword);
  const bare = new Map<string, Node>();
  for (const member of node.members) {
    if (ts.isPropertyDeclaration(member) && !member.initializer && !isStatic(member) &&
      (ts.isIdentifier(member.name) || ts.isPrivateIdentifier(member.name))) bare.set(member.name.text, member);
  }
  const constructor = node.members.find((m) => ts.isConstructorDeclaration(m) && m.body);
  if (bare.size === 0 || !constructor || !ts.isConstructorDeclaration(constructor)) return;
  const parameters = new Set(constructor.parameters.map((p) => (ts.isIdentifier(p.name) ? p.name.text : "")));
  const assigned = (e: Node): { field: string; value: Node } | undefined => {
    if (!ts.isBinaryExpression(e) || e.operatorToken.kind !== ts.SyntaxKind.EqualsToken) return undefined;
    const target = e.left;
    if (!ts.isPropertyAccessExpression(target) || target.expression.kind !== ts.SyntaxKind.ThisKeyword) return undefined;
    return { field: target.name.text, value: e.right };
  };
  let leading = true;
  for (const statement of constructor.body!.statements) {
    if (!ts.isExpressionStatement(statement)) break;
    for (const operand of commaOperands(ts, statement.expression)) {
      if (!leading) break;
      if (ts.isCallExpression(operand) && operand.expression.kind === ts.SyntaxKind.SuperKeyword) continue;
      const assignment = assigned(operand);
      if (!assignment) {
        leading = false;
        break;
      }
      const { field, value } = assignment;
      // A parameter copied into its field (`this.p = p`) stays where it is.
      if (ts.isIdentifier(value) && value.text === field && parameters.has(field)) continue;
      const declaration = bare.get(field);
      if (!declaration || initializers.has(declaration) || mentionsInstance(ts, value)) {
        leading = false;
        break;
      }
      initializers.set(declaration, value);
      moved.add(operand);
    }
    if (!leading) break;
  }
}

function mentionsInstance(ts: TS, node: Node): boolean {
  if (node.kind === ts.SyntaxKind.ThisKeyword || node.kind === ts.SyntaxKind.SuperKeyword || ts.isMetaProperty(node)) return true;
  // A nested non-arrow function has a `this` of its own; an arrow's is the constructor's.
  if (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node)) return false;
  return ts.forEachChild(node, (child) => mentionsInstance(ts, child) || undefined) ?? false;
}
