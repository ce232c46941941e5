/**
 * `jit`: request, approve, deny, inspect, release and list access requests from a terminal.
 * Every command prints a human-readable summary, or the full status as JSON with `--json`.
 */
import { readFileSync } from 'node:fs';

import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';

import {
  ACCESS_REQUEST_WORKFLOW,
  DEFAULT_TASK_QUEUE,
  releaseSignal,
  revokeSignal,
  statusQuery,
} from '../workflows/definitions';
import { identitySchema } from '../workflows/request';
import { jitDataConverter } from './codec';
import { formatStatus } from './format';
import { addPolicyCommands } from './policy-commands';
import { startAccessRequest, unwrapCredential, waitForDecision } from './sdk';
import { castVote } from './votes';

interface GlobalOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  json?: boolean;
}

/** Parses `90s`, `15m`, `2h` or a bare number of seconds into seconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`"${value}" is not a duration; use 90s, 15m or 2h`);
  const factor = { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
  return Number(match[1]) * factor;
}

function parseIdentity(value: string): string {
  const result = identitySchema.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(`"${value}": ${result.error.issues[0]!.message}`);
  return value;
}

/** Returns the identity token from --token, --token-file or JIT_IDENTITY_TOKEN, trimmed. */
function readIdentityToken(opts: { token?: string; tokenFile?: string }): string {
  if (opts.tokenFile) {
    try {
      return readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read the identity token file ${opts.tokenFile}: ${(err as Error).message}`);
    }
  }
  if (opts.token) return opts.token.trim();
  throw new Error('an identity token is required: pass --token, --token-file or set JIT_IDENTITY_TOKEN');
}

function collectTask(value: string, previous: Record<string, string>): Record<string, string> {
  const separator = value.indexOf('=');
  if (separator <= 0) throw new InvalidArgumentError(`"${value}" is not KEY=VALUE, such as run=1234`);
  return { ...previous, [value.slice(0, separator)]: value.slice(separator + 1) };
}

async function connect(options: GlobalOptions): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: options.address, connectTimeout: '5s' });
    return new Client({ connection, namespace: options.namespace, dataConverter: jitDataConverter() });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${options.address}: ${(err as Error).message}. ` +
        'Start the local stack with "npm run stack -- start", or set TEMPORAL_ADDRESS.',
    );
  }
}

/** Returns the final phase of a closed request, or undefined when no such request exists. */
async function endedPhase(client: Client, requestId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(requestId).query(statusQuery)).phase;
  } catch {
    return undefined;
  }
}

/** Runs one command with a connected client and closes the connection afterwards. */
async function withClient(command: Command, run: (client: Client, options: GlobalOptions) => Promise<void>) {
  const options = command.optsWithGlobals<GlobalOptions>();
  const client = await connect(options);
  try {
    await run(client, options);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      // Temporal reports a signal to a closed workflow as not found, so tell an ended request from a missing one.
      const ended = err.workflowId ? await endedPhase(client, err.workflowId) : undefined;
      if (ended) throw new Error(`request ${err.workflowId} has already ended (${ended}); nothing to do`);
      throw new Error(`no access request with id ${err.workflowId}; "jit list" shows the current ones`);
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

function print(options: GlobalOptions, json: unknown, text: string): void {
  console.log(options.json ? JSON.stringify(json, null, 2) : text);
}

export function buildCli(): Command {
  const program = new Command('jit')
    .description('Just-in-time access requests on Temporal and Vault')
    .addOption(new Option('--address <host:port>', 'Temporal frontend address').env('TEMPORAL_ADDRESS').default('127.0.0.1:7233'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'))
    .addOption(new Option('--task-queue <name>', 'task queue of the jit-access worker').env('JIT_TASK_QUEUE').default(DEFAULT_TASK_QUEUE))
    .option('--json', 'print machine-readable JSON instead of text');

  program
    .command('request')
    .description('request an entitlement for a task window')
    .requiredOption('-e, --entitlement <name>', 'entitlement name from the catalog')
    .addOption(new Option('--token <jwt>', 'identity token (OIDC JWT) proving who requests').env('JIT_IDENTITY_TOKEN'))
    .option('--token-file <path>', 'read the identity token from this file, such as a projected service account token')
    .option('--source-ip <address>', 'the address the task runs from, for network conditions in policy')
    .requiredOption('--environment <name>', 'environment the task runs in, such as production')
    .requiredOption('-d, --duration <time>', 'task window: seconds, or 90s, 15m, 2h', parseDuration)
    .requiredOption('-r, --reason <text>', 'why access is needed, at least 10 characters')
    .requiredOption('-t, --ticket <id>', 'change or incident ticket, such as CHG-1042')
    .option('--task <key=value>', 'task metadata, repeatable', collectTask, {})
    .option('--wait', 'wait until the request is granted or refused')
    .addOption(new Option('--vault-addr <url>', 'with --wait: unwrap and print the credential from this Vault').env('VAULT_ADDR'))
    .action(async (opts, command: Command) =>
      withClient(command, async (client, options) => {
        const handle = await startAccessRequest(
          client,
          {
            identityToken: readIdentityToken(opts),
            sourceIp: opts.sourceIp,
            entitlement: opts.entitlement,
            environment: opts.environment,
            durationSeconds: opts.duration,
            reason: opts.reason,
            ticket: opts.ticket,
            task: opts.task,
          },
          { taskQueue: options.taskQueue },
        );
        if (!opts.wait) {
          print(options, { requestId: handle.workflowId }, `request ${handle.workflowId} started`);
          return;
        }
        const status = await waitForDecision(handle, {
          onPhase: (current) => {
            if (options.json) return;
            const hint = current.phase === 'pending-approval' ? ` (an approver runs: npx jit approve ${handle.workflowId} --token-file <their token>)` : '';
            console.error(`${handle.workflowId}: ${current.phase}${hint}`);
          },
        });
        const credential =
          status.phase === 'granted' && status.grant && opts.vaultAddr
            ? await unwrapCredential(opts.vaultAddr, status.grant.wrappingToken)
            : undefined;
        print(options, { ...status, credential }, formatStatus(status) + (credential ? `\nusername: ${credential.username}\npassword: ${credential.password}` : ''));
        if (status.phase !== 'granted') process.exitCode = 3;
      }),
    );

  addVoteCommand(program, 'approve');
  addVoteCommand(program, 'deny');
  addPolicyCommands(program);

  program
    .command('status <requestId>')
    .description('show a request: phase, policy decisions, votes, grant and revocation')
    .action(async (requestId: string, _opts, command: Command) =>
      withClient(command, async (client, options) => {
        const status = await client.workflow.getHandle(requestId).query(statusQuery);
        print(options, status, formatStatus(status));
      }),
    );

  program
    .command('release <requestId>')
    .description('end a grant early because the task is done')
    .option('--as <kind:name>', 'who releases it; defaults to the requester', parseIdentity)
    .action(async (requestId: string, opts, command: Command) =>
      withClient(command, async (client, options) => {
        const handle = client.workflow.getHandle(requestId);
        const status = await handle.query(statusQuery);
        await handle.signal(releaseSignal, { by: opts.as ?? status.requester });
        print(options, { requestId, released: true }, `release sent for ${requestId}; revocation follows`);
      }),
    );

  program
    .command('revoke <requestId>')
    .description('operator: end a grant or withdraw a pending request now')
    .requiredOption('--as <kind:name>', 'operator identity', parseIdentity)
    .requiredOption('-r, --reason <text>', 'why it is revoked')
    .action(async (requestId: string, opts, command: Command) =>
      withClient(command, async (client, options) => {
        await client.workflow.getHandle(requestId).signal(revokeSignal, { by: opts.as, reason: opts.reason });
        print(options, { requestId, revoked: true }, `revoke sent for ${requestId}`);
      }),
    );

  program
    .command('list')
    .description('list access requests, newest first')
    .option('--status <phase>', 'only requests in this phase, such as granted or pending-approval')
    .option('--requester <kind:name>', 'only requests from this identity')
    .option('--limit <n>', 'at most this many', (value) => Number.parseInt(value, 10), 50)
    .action(async (opts, command: Command) =>
      withClient(command, async (client, options) => {
        const clauses = [`WorkflowType = '${ACCESS_REQUEST_WORKFLOW}'`];
        if (opts.status) clauses.push(`JitStatus = '${quote(opts.status)}'`);
        if (opts.requester) clauses.push(`JitRequester = '${quote(opts.requester)}'`);
        const rows: Record<string, unknown>[] = [];
        for await (const execution of client.workflow.list({ query: clauses.join(' AND ') })) {
          const attributes = execution.searchAttributes;
          rows.push({
            requestId: execution.workflowId,
            status: attributes.JitStatus?.[0],
            requester: attributes.JitRequester?.[0],
            entitlement: attributes.JitEntitlement?.[0],
            environment: attributes.JitEnvironment?.[0],
            started: execution.startTime.toISOString(),
          });
          if (rows.length >= opts.limit) break;
        }
        const text = rows.length
          ? rows.map((row) => `${row.requestId}  ${row.status}  ${row.requester}  ${row.entitlement}  ${row.environment}  ${row.started}`).join('\n')
          : 'no access requests match';
        print(options, rows, text);
      }),
    );

  return program;
}

/**
 * Adds `approve` or `deny`. A denial must give a reason, and an approval may. The voter is the identity that
 * the token proves, checked by the workflow under the same rules as a Slack click.
 */
function addVoteCommand(program: Command, kind: 'approve' | 'deny'): void {
  const command = program
    .command(`${kind} <requestId>`)
    .description(kind === 'approve' ? 'approve a pending request' : 'deny a pending request')
    .addOption(new Option('--token <jwt>', 'your identity token, from a configured issuer').env('JIT_IDENTITY_TOKEN'))
    .option('--token-file <path>', 'read your identity token from this file');
  if (kind === 'approve') command.option('-r, --reason <text>', 'optional note recorded with the approval');
  else command.requiredOption('-r, --reason <text>', 'why the request is denied, shown to the requester (required)');

  command.action(async (requestId: string, opts, self: Command) =>
    withClient(self, async (client, options) => {
      const answer = await castVote(client, requestId, { decision: kind, identityToken: readIdentityToken(opts), reason: opts.reason, via: 'cli' });
      const noun = kind === 'approve' ? 'approval' : 'denial';
      if (!answer.accepted) {
        print(options, answer, `${noun} not accepted: ${answer.reason}`);
        process.exitCode = 4;
      } else if (!answer.counted) {
        print(options, answer, `${noun} by ${answer.approver} not counted: ${answer.rejectedBecause}`);
        process.exitCode = 4;
      } else {
        const tally = kind === 'approve' ? ` (${answer.approvals} of ${answer.quorum} approvals)` : '';
        print(options, answer, `${noun} by ${answer.approver} counted${tally}`);
      }
    }),
  );
}

/** Escapes a value for a single-quoted visibility query string. */
function quote(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((err: Error) => {
      console.error(`jit: ${err.message}`);
      process.exit(1);
    });
}
