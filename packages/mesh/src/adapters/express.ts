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
/** What the middleware checks of each Express app it runs in (once per app and policy snapshot). */
export interface ExpressAppCheck {
  /** A key that changes when the policy does: the current snapshot. */
  version(): unknown;
  /** Called with the app's case sensitivity when the app or the version is new. */
  check(caseSensitiveRouting: boolean): void;
}

interface ExpressApp {
  enabled(setting: string): boolean;
}

export function meshExpress(inbound: Inbound, appCheck?: ExpressAppCheck): ExpressMiddleware {
  const checked = new WeakMap<object, unknown>();
  return (req, res, next) => {
    const app = (req as { app?: ExpressApp }).app;
    if (appCheck !== undefined && app !== undefined) {
      const version = appCheck.version();
      if (checked.get(app) !== version) {
        checked.set(app, version);
        appCheck.check(app.enabled('case sensitive routing'));
      }
    }
    inbound.run(req, res, next, answerOnResponse);
  };
}
