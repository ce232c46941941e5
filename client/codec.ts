/**
 * Payload encryption for everything this system stores in Temporal: workflow inputs (the identity token),
 * activity results (the credential's wrapping token), query results, failures, summaries and details.
 *
 * Each payload is serialized and sealed with AES-256-GCM under the current key. The key id travels in the
 * payload's metadata, so keys can be rotated: the first key in JIT_CODEC_KEYS encrypts, and every listed key
 * still decrypts. Search attributes are never encrypted by Temporal, so they must not hold secrets.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts and decrypts payloads with AES-256-GCM. */
export class EncryptionCodec implements PayloadCodec {
  /**
   * @param keys key id to 32-byte key; the codec decrypts with any of them.
   * @param currentKeyId the key that encrypts.
   */
  constructor(private readonly keys: ReadonlyMap<string, Buffer>, private readonly currentKeyId: string) {
    if (!keys.has(currentKeyId)) throw new Error(`the current codec key ${currentKeyId} is not among the keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.currentKeyId)!;
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(this.currentKeyId) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
      const key = this.keys.get(keyId);
      if (!key) throw new Error(`payload encrypted with unknown codec key "${keyId}"; add it to JIT_CODEC_KEYS to read it`);

      const data = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/**
 * Parses JIT_CODEC_KEYS: comma-separated `id:base64key` entries, each key 32 bytes, the first one current.
 * Throws with the entry and the fix when one is malformed; never includes a key in the message.
 */
export function codecFromKeys(spec: string): EncryptionCodec {
  const keys = new Map<string, Buffer>();
  let current: string | undefined;
  for (const entry of spec.split(',').map((part) => part.trim()).filter(Boolean)) {
    const separator = entry.indexOf(':');
    const id = entry.slice(0, separator);
    if (separator <= 0 || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw new Error('JIT_CODEC_KEYS entries must be ID:BASE64KEY, such as k1:<44 base64 characters>; one entry has no valid id');
    }
    const key = Buffer.from(entry.slice(separator + 1), 'base64');
    if (key.length !== 32) throw new Error(`JIT_CODEC_KEYS key "${id}" must decode to 32 bytes, got ${key.length}; create one with: openssl rand -base64 32`);
    keys.set(id, key);
    current ??= id;
  }
  if (!current) throw new Error('JIT_CODEC_KEYS is empty; set it to ID:BASE64KEY, such as k1:$(openssl rand -base64 32)');
  return new EncryptionCodec(keys, current);
}

/**
 * Returns the data converter every client and worker of this system uses: payloads encrypted by the codec, and failure
 * messages and stack traces moved into encrypted payloads too, so that an error naming a value stays private.
 */
export function jitDataConverter(codecKeys: string | undefined = process.env.JIT_CODEC_KEYS): DataConverter {
  if (!codecKeys) {
    throw new Error('JIT_CODEC_KEYS is not set; every client and worker needs the payload encryption keys (see the README)');
  }
  return {
    payloadCodecs: [codecFromKeys(codecKeys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
