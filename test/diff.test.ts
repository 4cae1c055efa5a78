import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { unifiedDiff } from "../lib/keys/diff.ts";

const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}`);

test("equal texts have an empty diff", () => {
  assert.equal(unifiedDiff("a\nb", "a\nb"), "");
});

test("a changed line shows as removed then added, with context and a hunk header", () => {
  assert.equal(unifiedDiff("a\nb\nc", "a\nB\nc"), ["--- before", "+++ after", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"].join("\n"));
});

test("distant changes make separate hunks with their own line numbers", () => {
  const before = lines(12);
  const after = [...before];
  after[1] = "two";
  after.push("line 13");
  assert.equal(unifiedDiff(before.join("\n"), after.join("\n"), { labels: ["f v1", "f v2"] }), [
    "--- f v1", "+++ f v2",
    "@@ -1,4 +1,4 @@", " line 1", "-line 2", "+two", " line 3", " line 4",
    "@@ -11,2 +11,3 @@", " line 11", " line 12", "+line 13",
  ].join("\n"));
});

test("insertions and deletions align on the longest common subsequence", () => {
  const diff = unifiedDiff("a\nb\nc\nd", "a\nc\nd\ne", { context: 0 });
  assert.equal(diff, ["--- before", "+++ after", "@@ -2 +1,0 @@", "-b", "@@ -4,0 +4 @@", "+e"].join("\n"));
});

test("a long diff is cut at maxLines with a count of what was left out", () => {
  const diff = unifiedDiff(lines(50).join("\n"), lines(50).map((l) => l.toUpperCase()).join("\n"), { maxLines: 10 });
  const out = diff.split("\n");
  assert.equal(out.length, 11);
  assert.match(out[10]!, /^… 93 more lines$/);
});
