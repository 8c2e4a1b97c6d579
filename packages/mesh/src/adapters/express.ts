// The Express integration: middleware that runs each inbound call through the server pipeline (and the same for a plain Node request listener).
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

/** Marks the middleware meshExpress makes, so `mesh.listen` can tell whether an app mounts it. */
const MESH_MIDDLEWARE = Symbol.for('weft.meshExpress');

/**
 * Whether `app` is an Express app (it has a router) that does not mount mesh.express(): its calls
 * would then bypass the server pipeline (authorization, authentication, inbound metrics, tracing).
 * `false` when it mounts it, or when the app is no Express app or hides its router.
 */
export function expressAppWithoutMesh(app: unknown): boolean {
  const stack = (app as { router?: { stack?: { handle?: unknown }[] } } | null)?.router?.stack;
  if (!Array.isArray(stack)) return false;
  return !stack.some((layer) => (layer.handle as Record<symbol, unknown> | undefined)?.[MESH_MIDDLEWARE] === true);
}

/**
 * A plain Node request listener (`(req, res) => …`, no Express, no Fastify) run through the server
 * pipeline, as `mesh.listen` serves one: the listener is the application the pipeline lets calls
 * through to.
 */
export function meshListener(
  inbound: Inbound,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    inbound.run(req, res, () => listener(req, res), answerOnResponse);
  };
}

export function meshExpress(inbound: Inbound, appCheck?: ExpressAppCheck): ExpressMiddleware {
  const checked = new WeakMap<object, unknown>();
  const middleware: ExpressMiddleware = (req, res, next) => {
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
  Object.defineProperty(middleware, MESH_MIDDLEWARE, { value: true });
  return middleware;
}
