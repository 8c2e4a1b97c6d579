// The Express integration: middleware that runs each inbound call through the server pipeline.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { debuglog } from 'node:util';
import {
  errorAnswer,
  type Inbound,
  type InboundCall,
  onResponseClose,
  requestOf,
  writeAnswer,
} from '../server/inbound.js';

const debug = debuglog('weft');

export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

const noop = (): void => {};

interface ExpressCall extends InboundCall {
  res: ServerResponse;
  next: (error?: unknown) => void;
}

/**
 * Express 5 middleware; mount it first (`app.use(mesh.express())`) so the mesh sees every
 * call. A call the pipeline lets through continues to the app; one it refuses is answered
 * with the error's status and a JSON body naming its code. `req.weft` holds the call's context.
 */
export function meshExpress(inbound: Inbound): ExpressMiddleware {
  const handler = inbound.pipeline((c) => {
    const call = c as ExpressCall;
    call.res.on('close', onResponseClose);
    const next = call.next;
    call.next = noop;
    next();
  });
  return (req, res, next) => {
    const call = inbound.newCall(req) as ExpressCall;
    call.res = res;
    call.next = next;
    req.weft = call;
    handler(requestOf(req), call).then(
      (answer) => {
        if (!call.forwarded) writeAnswer(res, answer);
      },
      (error: unknown) => {
        if (!call.forwarded) writeAnswer(res, errorAnswer(error));
        else debug('inbound layer failed after the application answered: %o', error);
      },
    );
  };
}
