/**
 * Policy in Cedar, through `@cedar-policy/cedar-wasm`: loading a policy bundle (a schema and `.cedar` files),
 * validating it, and deciding requests with reasons an engineer can read.
 *
 * Policies follow one convention that makes denials explainable: a `permit` grants an action, and each
 * condition the action also needs is a `forbid ... unless { condition }` with a `@reason` annotation. A denial
 * then names every condition that failed, because each failed condition is a forbid that matched.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

/** A loaded, validated set of policies and the schema they were validated against. */
export interface PolicyBundle {
  /** Policy id to Cedar text. */
  policies: Record<string, string>;
  /** Policy id to its `@reason`, or a description of the policy when it has none. */
  reasons: Record<string, string>;
  /** Policy id to `file:line`, for messages. */
  locations: Record<string, string>;
  schema: string;
  /** `sha256:` and 16 hex digits over every file's name and content. */
  version: string;
  directory: string;
}

/** A Cedar request in entity-uid form; entities carry the attributes policies read. */
export interface CedarRequest {
  principal: { type: string; id: string };
  action: string;
  resource: { type: string; id: string };
  context: Record<string, unknown>;
  entities: cedar.EntityJson[];
}

export interface CedarDecision {
  allow: boolean;
  /** Lines such as `PASS deploy-may-request-orders-write: ...` or `FAIL deploy-from-ci-network: ...`. */
  reasons: string[];
  /** Ids of the policies that determined the decision. */
  determining: string[];
}

/** A bundle that does not parse or validate. The message names the file, line and column, and a hint. */
export class PolicyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyLoadError';
  }
}

const SCHEMA_FILE = 'schema.cedarschema';

/**
 * Loads every `.cedar` file in a directory and validates the policies against the schema, which by default
 * is `schema.cedarschema` in the same directory.
 * Throws PolicyLoadError on the first file that fails, so a broken bundle never replaces a good one.
 */
export function loadPolicyBundle(directory: string, schemaPath = join(directory, SCHEMA_FILE)): PolicyBundle {
  const files = readdirSync(directory).filter((name) => name.endsWith('.cedar')).sort();
  if (files.length === 0) throw new PolicyLoadError(`no .cedar files in ${directory}; policy denies everything without them`);

  let schema: string;
  try {
    schema = readFileSync(schemaPath, 'utf8');
  } catch {
    throw new PolicyLoadError(`missing Cedar schema ${schemaPath}; every policy bundle needs one`);
  }
  const schemaCheck = cedar.checkParseSchema(schema);
  if (schemaCheck.type === 'failure') throw new PolicyLoadError(describeErrors(schemaPath, schema, schemaCheck.errors));

  const hash = createHash('sha256').update(SCHEMA_FILE).update(schema);
  const bundle: PolicyBundle = { policies: {}, reasons: {}, locations: {}, schema, version: '', directory };
  for (const file of files) {
    const path = join(directory, file);
    const text = readFileSync(path, 'utf8');
    hash.update(file).update(text);
    addPolicies(bundle, path, file, text);
  }
  bundle.version = `sha256:${hash.digest('hex').slice(0, 16)}`;
  preparse(bundle);

  const validation = cedar.validate({ schema, policies: { staticPolicies: bundle.policies }, validationSettings: { mode: 'strict' } });
  if (validation.type === 'failure') throw new PolicyLoadError(`policies in ${directory} failed to validate: ${validation.errors.map((err) => err.message).join('; ')}`);
  if (validation.validationErrors.length > 0) {
    const problems = validation.validationErrors.map(
      (entry) => `${bundle.locations[entry.policyId] ?? entry.policyId} (${entry.policyId}): ${entry.error.message}${entry.error.help ? `; hint: ${entry.error.help}` : ''}`,
    );
    throw new PolicyLoadError(`policies do not match the schema ${schemaPath}: ${problems.join('; ')}`);
  }
  return bundle;
}

/**
 * Caches the parsed policies and schema inside the Cedar module under the bundle's version, so a decision
 * skips parsing them again. The version is a content hash, so a reloaded bundle never reuses a stale entry.
 */
function preparse(bundle: PolicyBundle): void {
  const policies = cedar.preparsePolicySet(bundle.version, { staticPolicies: bundle.policies });
  if (policies.type === 'failure') throw new PolicyLoadError(`caching the policies failed: ${policies.errors.map((err) => err.message).join('; ')}`);
  const schema = cedar.preparseSchema(bundle.version, bundle.schema);
  if (schema.type === 'failure') throw new PolicyLoadError(`caching the schema failed: ${schema.errors.map((err) => err.message).join('; ')}`);
}

function addPolicies(bundle: PolicyBundle, path: string, file: string, text: string): void {
  const parsed = cedar.checkParsePolicySet({ staticPolicies: text });
  if (parsed.type === 'failure') throw new PolicyLoadError(describeErrors(path, text, parsed.errors));

  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') throw new PolicyLoadError(describeErrors(path, text, parts.errors));

  let searchFrom = 0;
  parts.policies.forEach((policy, index) => {
    const offset = text.indexOf(policy, searchFrom);
    searchFrom = offset >= 0 ? offset + policy.length : searchFrom;
    const location = `${path}:${offset >= 0 ? lineOf(text, offset) : '?'}`;

    const json = cedar.policyToJson(policy);
    const annotations = json.type === 'success' ? (json.json.annotations ?? {}) : {};
    const id = annotations.id ?? `${file}#${index + 1}`;
    if (bundle.policies[id] !== undefined) {
      throw new PolicyLoadError(`${location}: policy id "${id}" is already used at ${bundle.locations[id]}; give each policy a unique @id`);
    }
    bundle.policies[id] = policy;
    bundle.locations[id] = location;
    bundle.reasons[id] = annotations.reason ?? `${json.type === 'success' ? json.json.effect : 'policy'} at ${location}`;
  });
}

/**
 * Decides one request. Never throws: a request the schema rejects, or a policy that errors while evaluating,
 * denies, and the reasons explain why. `preparsed: false` parses the bundle again for this call, which the
 * benchmark uses as its baseline.
 */
export function decide(bundle: PolicyBundle, request: CedarRequest, options: { preparsed?: boolean } = {}): CedarDecision {
  const call = {
    principal: request.principal,
    action: { type: 'Jit::Action', id: request.action },
    resource: request.resource,
    context: request.context as cedar.Context,
    entities: request.entities,
    validateRequest: true,
  };
  let answer: cedar.AuthorizationAnswer;
  try {
    answer =
      options.preparsed === false
        ? cedar.isAuthorized({ ...call, policies: { staticPolicies: bundle.policies }, schema: bundle.schema })
        : cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: bundle.version, preparsedSchemaName: bundle.version });
  } catch (err) {
    // A fault inside the Cedar module itself denies like any other evaluation error.
    return { allow: false, reasons: [`FAIL request could not be evaluated: ${(err as Error).message}`], determining: [] };
  }
  if (answer.type === 'failure') {
    return {
      allow: false,
      reasons: answer.errors.map((err) => `FAIL request could not be evaluated: ${err.message}`),
      determining: [],
    };
  }

  const { decision, diagnostics } = answer.response;
  const errors = diagnostics.errors.map((entry) => `FAIL ${entry.policyId} could not be evaluated: ${entry.error.message}`);
  if (decision === 'allow' && errors.length === 0) {
    return { allow: true, reasons: diagnostics.reason.map((id) => `PASS ${id}: ${bundle.reasons[id]}`), determining: diagnostics.reason };
  }

  // A forbid that matched is a failed condition; with no reason at all, no permit applied.
  const reasons = diagnostics.reason.map((id) => `FAIL ${id}: ${bundle.reasons[id]}`);
  if (reasons.length === 0 && errors.length === 0) {
    reasons.push(`FAIL no policy permits ${request.principal.type}::"${request.principal.id}" to ${request.action} ${request.resource.id}`);
  }
  return { allow: false, reasons: [...reasons, ...errors], determining: diagnostics.reason };
}

function describeErrors(path: string, text: string, errors: cedar.DetailedError[]): string {
  return errors
    .map((err) => {
      const start = err.sourceLocations?.[0]?.start;
      const where = start === undefined ? path : `${path}:${lineOf(text, start)}:${columnOf(text, start)}`;
      const label = err.sourceLocations?.[0]?.label;
      const hint = err.help ?? label;
      return `${where}: ${err.message}${hint ? `; hint: ${hint}` : ''}`;
    })
    .join('\n');
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

function columnOf(text: string, offset: number): number {
  return offset - text.lastIndexOf('\n', offset - 1);
}
