// memory.url: keyed by the server's ETag, else Last-Modified, else the body's hash; against a real HTTP
// server on loopback.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "./harness.ts";
import { NbmemoError } from "../lib/mod.ts";
import { openTemp } from "./helpers.ts";

// A server whose answers the test changes between calls; it counts the requests by method.
async function server(t: { after: (fn: () => Promise<void>) => void }) {
  const state = { body: "v1", etag: undefined as string | undefined, lastModified: undefined as string | undefined, headAllowed: true };
  const requests = { HEAD: 0, GET: 0 };
  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    const method = request.method as "HEAD" | "GET";
    requests[method]++;
    if (method === "HEAD" && !state.headAllowed) return void response.writeHead(405).end();
    const headers: Record<string, string> = { "content-type": "text/plain" };
    if (state.etag) headers.etag = state.etag;
    if (state.lastModified) headers["last-modified"] = state.lastModified;
    response.writeHead(200, headers);
    response.end(method === "HEAD" ? undefined : state.body);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/data.txt`;
  return { url, state, requests };
}

test("a URL is keyed by its ETag: the same ETag is a hit without fetching the body, a new one a miss", async (t) => {
  const memory = await openTemp(t);
  const { url, state, requests } = await server(t);
  state.etag = '"abc"';
  let computed = 0;
  const load = memory.fn("load", async (page: { url: string }) => (computed++, await (await fetch(page.url)).text()));
  assert.equal(await load(await memory.url(url)), "v1");
  assert.equal(await load(await memory.url(url)), "v1");
  assert.equal(computed, 1);
  assert.deepEqual(requests, { HEAD: 2, GET: 1 }); // the GET is the function's own
  state.body = "v2";
  state.etag = '"def"';
  assert.equal(await load(await memory.url(url)), "v2");
  assert.equal(computed, 2);
  const why = await memory.explain("load", await memory.url(url));
  assert.equal(why.kind, "hit");
});

test("without an ETag, Last-Modified keys the URL", async (t) => {
  const memory = await openTemp(t);
  const { url, state } = await server(t);
  state.lastModified = "Wed, 02 Dec 2026 10:00:00 GMT";
  const first = await memory.url(url);
  assert.deepEqual(first.validator, { lastModified: "Wed, 02 Dec 2026 10:00:00 GMT" });
  state.lastModified = "Wed, 02 Dec 2026 11:00:00 GMT";
  let computed = 0;
  const f = memory.fn("f", (page: { url: string }) => (computed++, page.url));
  await f(first);
  await f(await memory.url(url));
  assert.equal(computed, 2);
});

test("a server that sends no validator, and refuses HEAD, is keyed by the body's hash", async (t) => {
  const memory = await openTemp(t);
  const { url, state, requests } = await server(t);
  state.headAllowed = false;
  let computed = 0;
  const f = memory.fn("f", (page: { url: string }) => (computed++, page.url));
  await f(await memory.url(url));
  await f(await memory.url(url));
  assert.equal(computed, 1);
  state.body = "v2";
  await f(await memory.url(url));
  assert.equal(computed, 2);
  assert.deepEqual(requests, { HEAD: 3, GET: 3 });
  assert.ok("bodyHash" in (await memory.url(url)).validator);
});

test("a bad URL, an error status and a closed port are clear errors", async (t) => {
  const memory = await openTemp(t);
  await assert.rejects(memory.url("data.csv"), /not an absolute URL/);
  const missing = createServer((_request, response) => void response.writeHead(404).end());
  await new Promise<void>((resolve) => missing.listen(0, "127.0.0.1", resolve));
  const port = (missing.address() as AddressInfo).port;
  await assert.rejects(memory.url(`http://127.0.0.1:${port}/x`), (e: unknown) => e instanceof NbmemoError && e.code === "UNHASHABLE_ARGUMENT" && /404/.test(e.message));
  await new Promise<void>((resolve) => missing.close(() => resolve()));
  await assert.rejects(memory.url(`http://127.0.0.1:${port}/x`), (e: unknown) => e instanceof NbmemoError && /Cannot key memory\.url/.test(e.message));
});
