// nbmemo's own version, as package.json and deno.json give it (test/cli.test.ts checks that all three agree).
export const VERSION = "0.1.0";
