/**
 * `jit policy`: tools for policy authors that run without Temporal or Vault. `validate` loads the files the
 * worker loads, `test` runs recorded cases against them, and `explain` shows the decision for one request.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Command, Option } from 'commander';
import { z } from 'zod';

import { loadCatalog } from '../activities/catalog';
import { loadPolicyBundle } from '../activities/cedar';
import { evaluate, type PolicySources } from '../activities/policy';
import { loadPolicySettings } from '../activities/policy-settings';
import { ApproverDirectory } from '../activities/directory';
import type { PolicyDecision, VerifiedIdentity } from '../workflows/definitions';
import { accessRequestSchema, describeIssues } from '../workflows/request';

interface PathOptions {
  catalog: string;
  policies: string;
  schema?: string;
  settings: string;
  approvers: string;
}

/** A request as policy evaluates it after verification: the identity is given, not proven by a token. */
const requestShape = accessRequestSchema.omit({ identityToken: true });

const caseSchema = z
  .object({
    name: z.string().min(1),
    identity: z
      .object({
        principal: z.string().regex(/^[a-z][a-z0-9-]*:.+$/, 'use KIND:NAME'),
        issuer: z.string().default('https://issuer.example.test'),
        claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
        groups: z.array(z.string()).default([]),
      })
      .strict(),
    request: requestShape,
    /** The instant the decision is made at, as ISO 8601; time conditions read it. */
    at: z.iso.datetime({ offset: true }),
    expect: z
      .object({
        allow: z.boolean(),
        /** Each text must appear in one of the decision's reasons. */
        reasons: z.array(z.string()).default([]),
      })
      .strict(),
  })
  .strict();

type PolicyCase = z.output<typeof caseSchema>;

function loadSources(options: PathOptions): PolicySources {
  return {
    catalog: loadCatalog(options.catalog),
    bundle: loadPolicyBundle(options.policies, options.schema),
    settings: loadPolicySettings(options.settings),
    directory: ApproverDirectory.fromFile(options.approvers),
  };
}

function toIdentity(identity: PolicyCase['identity']): VerifiedIdentity {
  return { ...identity, subject: identity.principal.slice(identity.principal.indexOf(':') + 1) };
}

function decideCase(sources: PolicySources, policyCase: PolicyCase): PolicyDecision {
  const request = { ...policyCase.request, identityToken: '' };
  return evaluate(sources, request, toIdentity(policyCase.identity), 'request', new Date(policyCase.at));
}

/** Returns the ways a decision differs from the case's expectation; empty when it matches. */
export function checkCase(sources: PolicySources, policyCase: PolicyCase): { decision: PolicyDecision; mismatches: string[] } {
  const decision = decideCase(sources, policyCase);
  const mismatches: string[] = [];
  if (decision.allow !== policyCase.expect.allow) {
    mismatches.push(`expected ${policyCase.expect.allow ? 'allow' : 'deny'}, got ${decision.allow ? 'allow' : 'deny'}`);
  }
  for (const expected of policyCase.expect.reasons) {
    if (!decision.reasons.some((reason) => reason.includes(expected))) mismatches.push(`no reason contains "${expected}"`);
  }
  return { decision, mismatches };
}

/** Reads every `*.json` case file in a directory; each contains one case or a list of cases. */
export function loadCases(directory: string): PolicyCase[] {
  const files = readdirSync(directory).filter((name) => name.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no .json case files in ${directory}`);
  const cases: PolicyCase[] = [];
  for (const file of files) {
    const path = join(directory, file);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`case file ${path} is not valid JSON: ${(err as Error).message}`);
    }
    const result = z.array(caseSchema).safeParse(Array.isArray(json) ? json : [json]);
    if (!result.success) throw new Error(`case file ${path} is invalid: ${describeIssues(result.error.issues)}`);
    cases.push(...result.data);
  }
  return cases;
}

interface ExplainOptions extends PathOptions {
  principal: string;
  claim: string[];
  group: string[];
  entitlement: string;
  environment: string;
  sourceIp?: string;
  duration: number;
  reason: string;
  ticket: string;
  at?: string;
}

function addPathOptions(command: Command): Command {
  return command
    .addOption(new Option('--catalog <file>', 'entitlement catalog').env('JIT_CATALOG').default('config/entitlements.json'))
    .addOption(new Option('--policies <dir>', 'directory of .cedar files').env('JIT_POLICY_DIR').default('config/policies'))
    .addOption(new Option('--schema <file>', 'Cedar schema; default: schema.cedarschema in the policy directory').env('JIT_POLICY_SCHEMA'))
    .addOption(new Option('--settings <file>', 'policy settings: time zone and change windows').env('JIT_POLICY_SETTINGS').default('config/policy-settings.json'))
    .addOption(new Option('--approvers <file>', 'approver directory: approvers and their groups').env('JIT_APPROVERS').default('config/approvers.json'));
}

/** Adds `jit policy validate|test|explain` to the program. */
export function addPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('validate, test and explain policy, without Temporal or Vault');

  addPathOptions(policy.command('validate'))
    .description('load the catalog, policies and settings as the worker does; exit 1 with file and line on an error')
    .action((opts: PathOptions, command: Command) => {
      const sources = loadSources(opts);
      const json = command.optsWithGlobals<{ json?: boolean }>().json;
      const summary = {
        policies: Object.keys(sources.bundle.policies).length,
        policyVersion: sources.bundle.version,
        entitlements: Object.keys(sources.catalog.entitlements),
        catalogVersion: sources.catalog.version,
      };
      console.log(json ? JSON.stringify(summary, null, 2) : `valid: ${summary.policies} policies (${summary.policyVersion}), entitlements ${summary.entitlements.join(', ')} (${summary.catalogVersion})`);
    });

  addPathOptions(policy.command('test <dir>'))
    .description('run the policy cases in DIR/*.json; exit 1 when a decision differs from its case')
    .action((directory: string, opts: PathOptions, command: Command) => {
      const sources = loadSources(opts);
      const json = command.optsWithGlobals<{ json?: boolean }>().json;
      const results = loadCases(directory).map((policyCase) => ({ name: policyCase.name, ...checkCase(sources, policyCase) }));
      const failed = results.filter((result) => result.mismatches.length > 0);
      if (json) {
        console.log(JSON.stringify(results.map(({ name, mismatches, decision }) => ({ name, passed: mismatches.length === 0, mismatches, reasons: decision.reasons })), null, 2));
      } else {
        for (const result of results) {
          console.log(`${result.mismatches.length === 0 ? 'PASS' : 'FAIL'} ${result.name}`);
          for (const mismatch of result.mismatches) console.log(`     ${mismatch}`);
          if (result.mismatches.length > 0) for (const reason of result.decision.reasons) console.log(`       ${reason}`);
        }
        console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
      }
      if (failed.length > 0) process.exitCode = 1;
    });

  addPathOptions(policy.command('explain'))
    .description('show the decision for one request against the current policy; starts no workflow')
    .requiredOption('--principal <kind:name>', 'the verified identity, such as ci:acme/orders-deploy')
    .option('--claim <key=value>', 'a verified token claim, repeatable', collect, [])
    .option('--group <name>', "a group of a person's token, repeatable", collect, [])
    .requiredOption('-e, --entitlement <name>', 'entitlement name')
    .requiredOption('--environment <name>', 'environment of the task')
    .option('--source-ip <address>', 'address the request comes from')
    .requiredOption('-d, --duration <seconds>', 'window in seconds', (value) => Number.parseInt(value, 10))
    .option('-r, --reason <text>', 'reason', 'explaining a policy decision')
    .requiredOption('-t, --ticket <id>', 'ticket id')
    .option('--at <time>', 'decide as at this ISO 8601 time instead of now')
    .action((opts: ExplainOptions, command: Command) => {
      const sources = loadSources(opts);
      const claims = Object.fromEntries(opts.claim.map((pair) => {
        const separator = pair.indexOf('=');
        if (separator <= 0) throw new Error(`--claim "${pair}" is not KEY=VALUE`);
        return [pair.slice(0, separator), pair.slice(separator + 1)];
      }));
      const parsed = requestShape.safeParse({
        entitlement: opts.entitlement,
        environment: opts.environment,
        sourceIp: opts.sourceIp,
        durationSeconds: opts.duration,
        reason: opts.reason,
        ticket: opts.ticket,
      }, { reportInput: true });
      if (!parsed.success) throw new Error(`invalid request: ${describeIssues(parsed.error.issues)}`);
      const identity: VerifiedIdentity = {
        principal: opts.principal,
        issuer: 'the --principal option (not a verified token)',
        subject: opts.principal,
        claims,
        groups: opts.group,
      };
      const at = opts.at ? new Date(opts.at) : new Date();
      if (Number.isNaN(at.getTime())) throw new Error(`--at "${opts.at}" is not an ISO 8601 time such as 2026-12-01T10:00:00Z`);
      const decision = evaluate(sources, { ...parsed.data, identityToken: '' }, identity, 'request', at);
      const json = command.optsWithGlobals<{ json?: boolean }>().json;
      console.log(json ? JSON.stringify(decision, null, 2) : [`${decision.allow ? 'ALLOW' : 'DENY'} (${decision.policyVersion})`, ...decision.reasons.map((reason) => `  ${reason}`)].join('\n'));
      if (!decision.allow) process.exitCode = 2;
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
