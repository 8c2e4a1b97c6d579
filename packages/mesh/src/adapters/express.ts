// The Express integration: middleware that runs each inbound call through the server pipeline.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Inbound, type WriteAnswer, writeAnswer } from '../server/inbound.js';

export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

const answerOnResponse: WriteAnswer = (call, answer) => writeAnswer(call.res as ServerResponse, answer);

/**
 * Express 5 middleware; mount it first (`app.use(mesh.express())`) so the mesh sees every
 * call. A call the pipeline lets through continues to the app; one it refuses is answered
 * with the error's status and a JSON body naming its code. `req.weft` holds the call's context.
 */
export function meshExpress(inbound: Inbound): ExpressMiddleware {
  return (req, res, next) => {
    inbound.run(req, res, next, answerOnResponse);
  };
}
