/**
 * A codec server for the Temporal Web UI: it decrypts payloads (inputs, results, summaries, failures) so an
 * operator can read a run in the UI, which itself has no key. It speaks Temporal's codec server protocol:
 * POST /decode and POST /encode with `{ "payloads": [{ "metadata": {...}, "data": "<base64>" }] }`.
 *
 *   JIT_CODEC_KEYS=... tsx worker/codec-server.ts --port 8888 --ui-origin http://127.0.0.1:8233
 *
 * It listens on 127.0.0.1 only and serves any caller that can reach it, so anyone on this host can decrypt.
 * NOTE: a shared deployment must put authentication in front of it; the UI can forward its users' tokens.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import type { Payload, PayloadCodec } from '@temporalio/common';
import { Command } from 'commander';

import { codecFromKeys } from '../client/codec';
import { logger } from './logger';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

function fromJson(payload: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value, 'base64');
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

function toJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value ?? []).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? []).toString('base64') };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the codec server on 127.0.0.1; port 0 picks a free port. `uiOrigin` is allowed by CORS. */
export async function startCodecServer(codec: PayloadCodec, port: number, uiOrigin: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    response.setHeader('Access-Control-Allow-Origin', uiOrigin);
    response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    if (request.method === 'OPTIONS') {
      response.writeHead(204).end();
      return;
    }
    const operation = request.url?.split('?')[0]?.replace(/\/$/, '');
    if (request.method !== 'POST' || (operation !== '/decode' && operation !== '/encode')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('use POST /decode or POST /encode\n');
      return;
    }
    try {
      const body = JSON.parse(await readBody(request)) as { payloads?: JsonPayload[] };
      const payloads = (body.payloads ?? []).map(fromJson);
      const result = operation === '/decode' ? await codec.decode(payloads) : await codec.encode(payloads);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ payloads: result.map(toJson) }));
    } catch (err) {
      logger.warn({ operation, error: (err as Error).message }, 'codec request failed');
      response.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${bound}` };
}

if (require.main === module) {
  const program = new Command('codec-server')
    .description('decrypt payloads for the Temporal Web UI; keys come from JIT_CODEC_KEYS')
    .option('--port <n>', 'TCP port on 127.0.0.1', (value) => Number.parseInt(value, 10), 8888)
    .requiredOption('--ui-origin <url>', 'origin of the Temporal Web UI, allowed by CORS, such as http://127.0.0.1:8233')
    .action(async (opts: { port: number; uiOrigin: string }) => {
      const keys = process.env.JIT_CODEC_KEYS;
      if (!keys) throw new Error('JIT_CODEC_KEYS is not set; the codec server needs the payload encryption keys');
      const { url } = await startCodecServer(codecFromKeys(keys), opts.port, opts.uiOrigin);
      logger.info({ url, uiOrigin: opts.uiOrigin }, 'codec server started');
    });
  program.parseAsync(process.argv).catch((err: Error) => {
    logger.fatal({ error: err.message }, 'codec server failed to start');
    process.exit(1);
  });
}
