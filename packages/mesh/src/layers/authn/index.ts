// The request authentication layer: JWTs validated by a workload's RequestAuthentication rules (jose), their claims given to authorization.
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { type Handler, type Layer, type ServerCallContext, WeftError, type WeftRequest } from '@weft/core';
import type { JWTRule, PolicyResource, PolicySnapshot, RequestAuthenticationSpec } from '@weft/policy';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';

/** Envoy's body for a token that failed verification; the reason goes to the log only. */
export const UNAUTHENTICATED_MESSAGE = 'Jwt verification fails';

export interface AuthnWorkload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly rootNamespace: string;
}

export interface RequestAuthenticationOptions {
  current: () => PolicySnapshot;
  workload: AuthnWorkload;
  /** Told of each refused token, with why (for the log and the counters). */
  onRefused: (reason: string, issuer: string | undefined) => void;
}

interface CompiledRule {
  readonly rule: JWTRule;
  readonly keys: JWTVerifyGetKey;
  /** Where the token may be: headers (with prefix), query parameters, cookies. */
  readonly fromHeaders: readonly { name: string; prefix: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
}

/** Istio's default token locations: `Authorization: Bearer …` and the `access_token` query parameter. */
const DEFAULT_HEADERS = [{ name: 'authorization', prefix: 'Bearer ' }];
const DEFAULT_PARAMS = ['access_token'];

function appliesTo(resource: PolicyResource, workload: AuthnWorkload): boolean {
  if (resource.namespace !== workload.namespace && resource.namespace !== workload.rootNamespace) return false;
  const selector = (resource.spec as RequestAuthenticationSpec).selector?.matchLabels;
  if (selector === undefined)
    return resource.namespace === workload.namespace || resource.namespace === workload.rootNamespace;
  for (const [key, value] of Object.entries(selector)) if (workload.labels[key] !== value) return false;
  return true;
}

/** The key set of a rule: inline `jwks`, a `file://` JWKS read once per policy, or a URL fetched and cached by jose. */
function keySet(rule: JWTRule): JWTVerifyGetKey {
  if (rule.jwks !== undefined) return createLocalJWKSet(JSON.parse(rule.jwks));
  const uri = rule.jwksUri ?? rule.jwks_uri;
  if (uri === undefined) throw new WeftError('WEFT_ERR_UNAUTHENTICATED', `no key set for issuer ${rule.issuer}`);
  if (uri.startsWith('file://')) {
    let loaded: Promise<JWTVerifyGetKey> | undefined;
    return async (header, token) => {
      loaded ??= readFile(new URL(uri), 'utf8').then((text) => createLocalJWKSet(JSON.parse(text)));
      return (await loaded)(header, token);
    };
  }
  return createRemoteJWKSet(new URL(uri));
}

function compile(rules: readonly JWTRule[]): CompiledRule[] {
  return rules.map((rule) => ({
    rule,
    keys: keySet(rule),
    fromHeaders:
      rule.fromHeaders?.map((h) => ({ name: h.name.toLowerCase(), prefix: h.prefix ?? '' })) ??
      (rule.fromParams === undefined && rule.fromCookies === undefined ? DEFAULT_HEADERS : []),
    fromParams:
      rule.fromParams ?? (rule.fromHeaders === undefined && rule.fromCookies === undefined ? DEFAULT_PARAMS : []),
    fromCookies: rule.fromCookies ?? [],
  }));
}

function headerText(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The token of `request` for `rule`, and the header it came from (to strip it), if any. */
function findToken(request: WeftRequest, rule: CompiledRule): { token: string; header?: string } | undefined {
  const headers = request.headers as IncomingHttpHeaders;
  for (const h of rule.fromHeaders) {
    const value = headerText(headers, h.name);
    if (value?.startsWith(h.prefix)) return { token: value.slice(h.prefix.length).trim(), header: h.name };
  }
  const q = request.path.indexOf('?');
  if (q !== -1 && rule.fromParams.length > 0) {
    const params = new URLSearchParams(request.path.slice(q + 1));
    for (const p of rule.fromParams) {
      const value = params.get(p);
      if (value !== null) return { token: value };
    }
  }
  if (rule.fromCookies.length > 0) {
    const cookie = headerText(headers, 'cookie');
    if (cookie !== undefined) {
      for (const part of cookie.split(';')) {
        const eq = part.indexOf('=');
        if (eq !== -1 && rule.fromCookies.includes(part.slice(0, eq).trim()))
          return { token: part.slice(eq + 1).trim() };
      }
    }
  }
  return undefined;
}

/**
 * Istio's RequestAuthentication, in process. A request with no token passes with no request
 * principal (an AuthorizationPolicy on `requestPrincipals` makes one mandatory). A token is
 * matched to the rule of its issuer and verified with jose against the rule's key set, issuer and
 * audiences, and its time claims; a bad one is answered 401 `Jwt verification fails`
 * (`WEFT_ERR_UNAUTHENTICATED`). A good one gives `ctx.jwt` (`iss/sub` and the claims), is removed
 * from the request unless `forwardOriginalToken`, and may be copied to headers
 * (`outputPayloadToHeader`, `outputClaimToHeaders`).
 */
export function requestAuthentication(options: RequestAuthenticationOptions): Layer<ServerCallContext> {
  let snapshot: PolicySnapshot | undefined;
  let rules: CompiledRule[] = [];
  const rulesNow = (): CompiledRule[] => {
    const current = options.current();
    if (current !== snapshot) {
      snapshot = current;
      const applying = current.ofKind('RequestAuthentication').filter((r) => appliesTo(r, options.workload));
      rules = compile(applying.flatMap((r) => (r.spec as RequestAuthenticationSpec).jwtRules ?? []));
    }
    return rules;
  };
  const refuse = (reason: string, issuer: string | undefined): Promise<never> => {
    options.onRefused(reason, issuer);
    return Promise.reject(new WeftError('WEFT_ERR_UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE));
  };
  return {
    role: 'request-authentication',
    wrap(next: Handler<ServerCallContext>): Handler<ServerCallContext> {
      return (request, ctx) => {
        const all = rulesNow();
        if (all.length === 0) return next(request, ctx);
        let found: { token: string; header?: string } | undefined;
        for (const rule of all) {
          found = findToken(request, rule);
          if (found !== undefined) break;
        }
        if (found === undefined) return next(request, ctx);
        const { token, header } = found;
        let issuer: string | undefined;
        try {
          issuer = decodeJwt(token).iss;
        } catch {
          return refuse('the token is not a JWT', undefined);
        }
        const rule = all.find((r) => r.rule.issuer === issuer);
        if (rule === undefined) return refuse(`no jwtRule for issuer ${issuer ?? '(none)'}`, issuer);
        const audiences = rule.rule.audiences;
        return jwtVerify(token, rule.keys, {
          issuer: rule.rule.issuer,
          ...(audiences === undefined || audiences.length === 0 ? {} : { audience: audiences }),
        }).then(
          ({ payload }) => {
            ctx.jwt = {
              principal: `${payload.iss}/${payload.sub ?? ''}`,
              claims: payload as Readonly<Record<string, unknown>>,
            };
            const headers = request.headers as Record<string, unknown>;
            if (header !== undefined && rule.rule.forwardOriginalToken !== true) delete headers[header];
            const out = rule.rule.outputPayloadToHeader;
            if (out !== undefined)
              headers[out.toLowerCase()] = Buffer.from(JSON.stringify(payload)).toString('base64url');
            for (const c of rule.rule.outputClaimToHeaders ?? []) {
              const value = c.claim === undefined ? undefined : (payload as JWTPayload)[c.claim];
              if (
                c.header !== undefined &&
                (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
              ) {
                headers[c.header.toLowerCase()] = String(value);
              }
            }
            return next(request, ctx);
          },
          (error: unknown) =>
            refuse(`the token from ${issuer} failed verification: ${(error as Error).message}`, issuer),
        );
      };
    },
  };
}
