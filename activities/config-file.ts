/**
 * Reading the JSON configuration files (catalog, policy settings, issuers) with one set of error messages:
 * each names the kind of file, its path, and the field and fix when the content is invalid.
 */
import { readFileSync } from 'node:fs';

import type { z } from 'zod';

/** A validated file and its raw text, which callers hash into a version. */
export interface ConfigFile<T> {
  data: T;
  text: string;
}

/**
 * Reads `path` as JSON and validates it with `schema`. `label` names the kind of file in messages, such as
 * "entitlement catalog"; `hint` is appended when the file cannot be read.
 */
export function readConfigFile<S extends z.ZodType>(path: string, schema: S, label: string, hint?: string): ConfigFile<z.output<S>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${label} ${path}: ${(err as Error).message}${hint ? `; ${hint}` : ''}`);
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${label} ${path} is not valid JSON: ${(err as Error).message}`);
  }

  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new Error(`${label} ${path} is invalid: ${problems.join('; ')}`);
  }
  return { data: result.data, text };
}
