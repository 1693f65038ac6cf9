// Usage: node scripts/longest-functions.mjs FILE... (TOP=n): the longest functions, methods and arrows, in lines.
// Longest function/method/arrow body (lines, first to last line inclusive) per file, via the TypeScript AST.
import ts from "typescript";
import fs from "node:fs";
const out = [];
for (const f of process.argv.slice(2)) {
  const sf = ts.createSourceFile(f, fs.readFileSync(f, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (n) => {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isConstructorDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n)) {
      const a = sf.getLineAndCharacterOfPosition(n.getStart()).line, b = sf.getLineAndCharacterOfPosition(n.end).line;
      const name = n.name?.getText?.() ?? (ts.isConstructorDeclaration(n) ? "constructor" : "<anon>");
      out.push([b - a + 1, `${f}:${a + 1} ${name}`]);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}
out.sort((x, y) => y[0] - x[0]);
for (const [n, w] of out.slice(0, +process.env.TOP || 8)) console.log(n, w);
