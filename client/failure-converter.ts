/**
 * The failure converter of every client and worker, loaded by path because the worker also bundles it into the
 * workflow sandbox. It moves failure messages and stack traces into an encoded payload, so the payload codec
 * encrypts them like any other payload.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
