/**
 * Policy decision benchmark: decisions per second and latency percentiles for a bundle of 100 Cedar policies.
 * The baseline, measured in the same run, is the same bundle decided without the parsed-policy cache, as a
 * plain `isAuthorized` call does. The 16-policy example bundle is shown for scale.
 *
 *   npm run bench:policy [-- --decisions N]
 *
 * Each decision is one full evaluation as the worker makes it: entitlement lookup, time context and the Cedar
 * `request` and `autoApprove` calls. Figures depend on the machine; compare ratios, not absolute numbers.
 */
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { loadCatalog } from '../activities/catalog';
import { loadPolicyBundle } from '../activities/cedar';
import { evaluate, type PolicySources } from '../activities/policy';
import { loadPolicySettings } from '../activities/policy-settings';
import { ApproverDirectory } from '../activities/directory';
import type { VerifiedIdentity } from '../workflows/definitions';
import { parseAccessRequest } from '../workflows/request';

const ROOT = join(__dirname, '..');
const decisionsArg = process.argv.indexOf('--decisions');
const DECISIONS = decisionsArg > 0 ? Number(process.argv[decisionsArg + 1]) : 2_000;

/** Copies the example policies and adds permit/forbid pairs for other entitlements up to `total` policies. */
function bundleWith(total: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'jit-bench-'));
  cpSync(join(ROOT, 'config', 'policies'), dir, { recursive: true });
  const base = Object.keys(loadPolicyBundle(dir).policies).length;
  const lines: string[] = [];
  for (let index = 0; index < total - base; index += 1) {
    const entitlement = `synthetic-${Math.floor(index / 2)}`;
    lines.push(
      index % 2 === 0
        ? `@id("synthetic-permit-${index}")\npermit (principal is Jit::Workload, action == Jit::Action::"request", resource == Jit::Entitlement::"${entitlement}") when { principal.kind == "ci" && principal.hasTag("team") && principal.getTag("team") == "team-${index}" };`
        : `@id("synthetic-forbid-${index}")\nforbid (principal, action == Jit::Action::"request", resource == Jit::Entitlement::"${entitlement}") unless { context.sourceIp.isInRange(ip("10.${index % 250}.0.0/16")) && context.durationSeconds <= 1800 };`,
    );
  }
  writeFileSync(join(dir, 'synthetic.cedar'), `${lines.join('\n\n')}\n`);
  return dir;
}

function measure(label: string, sources: PolicySources, preparsed = true): { perSecond: number; p50: number; p99: number } {
  const identity: VerifiedIdentity = {
    principal: 'ci:acme/orders-deploy',
    issuer: 'https://ci.example.test',
    subject: 'acme/orders-deploy',
    claims: { repository: 'acme/orders', release_approved: true, team: 'orders' },
    groups: [],
  };
  const request = parseAccessRequest({
    identityToken: 'e30.e30.',
    entitlement: 'orders-db-readwrite',
    environment: 'production',
    sourceIp: '10.20.4.7',
    durationSeconds: 600,
    reason: 'apply the schema migration of release 4.2.0',
    ticket: 'CHG-1042',
  });
  const at = new Date('2026-12-01T10:00:00Z');

  const decide = () => evaluate(sources, request, identity, 'request', at, { preparsed });
  for (let index = 0; index < 50; index += 1) decide();
  const latencies: number[] = [];
  const started = performance.now();
  for (let index = 0; index < DECISIONS; index += 1) {
    const begin = performance.now();
    const decision = decide();
    latencies.push(performance.now() - begin);
    if (!decision.allow) throw new Error(`${label}: the benchmark request was denied: ${decision.reasons.join('; ')}`);
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
  return { perSecond: DECISIONS / seconds, p50: percentile(0.5), p99: percentile(0.99) };
}

function main(): void {
  const catalog = loadCatalog(join(ROOT, 'config', 'entitlements.json'));
  const settings = loadPolicySettings(join(ROOT, 'config', 'policy-settings.json'));
  const directory = ApproverDirectory.fromFile(join(ROOT, 'config', 'approvers.json'));
  const exampleBundle = loadPolicyBundle(join(ROOT, 'config', 'policies'));
  const largeBundle = loadPolicyBundle(bundleWith(100));

  console.log(`policy decision benchmark: ${DECISIONS} decisions per bundle, Node ${process.version}, ${process.platform}/${process.arch}`);
  const large = Object.keys(largeBundle.policies).length;
  const rows = [
    { label: `${large} policies, parsed on every call (baseline)`, ...measure('baseline', { catalog, settings, directory, bundle: largeBundle }, false) },
    { label: `${large} policies, preparsed`, ...measure('large', { catalog, settings, directory, bundle: largeBundle }) },
    { label: `${Object.keys(exampleBundle.policies).length} example policies, preparsed`, ...measure('example', { catalog, settings, directory, bundle: exampleBundle }) },
  ];
  for (const row of rows) {
    console.log(`${row.label.padEnd(46)} ${row.perSecond.toFixed(0).padStart(7)} decisions/s   p50 ${row.p50.toFixed(3)} ms   p99 ${row.p99.toFixed(3)} ms`);
  }
  console.log(`throughput ratio, ${large} preparsed / baseline: ${(rows[1]!.perSecond / rows[0]!.perSecond).toFixed(1)}`);
}

main();
