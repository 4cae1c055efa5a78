// The servers the team stores' tests run against start on loopback, answer, and stop.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import { test } from "./harness.ts";
import { S3_BUCKET, S3_CREDENTIALS, started, startRedis, startS3 } from "./servers.ts";
import { AwsClient } from "aws4fetch";

// One Redis command over a raw socket (RESP), so that this test needs no client library.
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    socket.on("data", (d) => (reply += d, reply.endsWith("\r\n") && (socket.end(), resolve(reply.trim()))));
    socket.on("error", reject);
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  });
}

test("redis-server starts on a free loopback port, answers, and is gone once stopped", async (t) => {
  const server = await started(t, startRedis);
  if (!server) return;
  assert.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(await redisCommand(server.port, "PING"), "+PONG");
  await server.stop();
  await assert.rejects(redisCommand(server.port, "PING"), /ECONNREFUSED/);
});

test("s3rver starts with its bucket, takes a signed PUT and GET, and is gone once killed", async (t) => {
  const server = await started(t, startS3);
  if (!server) return;
  const s3 = new AwsClient({ ...S3_CREDENTIALS, service: "s3", region: "us-east-1" });
  const url = `${server.url}/${S3_BUCKET}/probe`;
  assert.equal((await s3.fetch(url, { method: "PUT", body: "hello" })).status, 200);
  assert.equal(await (await s3.fetch(url)).text(), "hello");
  await server.kill();
  await assert.rejects(s3.fetch(url), /fetch failed|Connection refused|ECONNREFUSED|error sending request/i);
});
