// The VirtualService kind (networking.istio.io): routing rules for HTTP, TLS and TCP, field for field as Istio's proto.
import { z } from 'zod';
import { suggest } from '../suggest.js';
import {
  destination,
  exportTo,
  httpStatus,
  integerPercent,
  nonNegativeInt32,
  percentMessage,
  weight,
} from './common.js';
import { duration, host, type KindSchema, labels, oneOf, params, port, regex, stringMatch } from './kit.js';

// ---------- retryOn ----------

/** Conditions Istio accepts in `retryOn` (Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on); bare HTTP codes come on top. */
export const RETRY_ON_CONDITIONS: readonly string[] = [
  // HTTP (x-envoy-retry-on)
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  // gRPC (x-envoy-retry-grpc-on)
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
];

const HTTP_STATUS = /^[1-5]\d\d$/;

const RETRY_ON_EXPECTED = `a comma-separated list (no spaces) of ${RETRY_ON_CONDITIONS.join(', ')} or HTTP status codes such as 503`;

/** `retryOn`: a comma-separated list; each item is an Envoy/gRPC retry condition or an HTTP status code, as Istio checks it. */
export const retryOn = z.string().superRefine((text, ctx) => {
  if (text === '') return;
  for (const item of text.split(',')) {
    if (RETRY_ON_CONDITIONS.includes(item) || HTTP_STATUS.test(item)) continue;
    const suggestion = suggest(item.trim().replaceAll('_', '-'), RETRY_ON_CONDITIONS);
    const hint =
      item.trim() !== item && (RETRY_ON_CONDITIONS.includes(item.trim()) || HTTP_STATUS.test(item.trim()))
        ? ' (remove the spaces around it)'
        : suggestion === undefined
          ? ''
          : ` (did you mean "${suggestion}"?)`;
    ctx.addIssue({
      code: 'custom',
      message: `"${item}" is not a retry condition${hint}`,
      ...params('WEFT_ERR_POLICY_VALUE', RETRY_ON_EXPECTED),
    });
  }
});

// ---------- pieces ----------

const headerOperations = z.strictObject({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional(),
});

/** `Headers`: header manipulation on the request and on the response. */
export const headers = z.strictObject({
  request: headerOperations.optional(),
  response: headerOperations.optional(),
});

/** `HTTPMatchRequest`: all fields ANDed; the entries of `match[]` are ORed. */
export const httpMatchRequest = z.strictObject({
  name: z.string().optional(),
  uri: stringMatch.optional(),
  scheme: stringMatch.optional(),
  method: stringMatch.optional(),
  authority: stringMatch.optional(),
  headers: z.record(z.string(), stringMatch).optional(),
  port: port.optional(),
  sourceLabels: labels.optional(),
  gateways: z.array(z.string()).optional(),
  queryParams: z.record(z.string(), stringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  withoutHeaders: z.record(z.string(), stringMatch).optional(),
  sourceNamespace: z.string().optional(),
  statPrefix: z.string().optional(),
});

/** `HTTPRouteDestination`: where a share of the requests goes, with its own header rules. */
export const httpRouteDestination = z.strictObject({
  destination,
  weight: weight.optional(),
  headers: headers.optional(),
});

/** `RouteDestination` (TLS and TCP routes). */
export const routeDestination = z.strictObject({
  destination,
  weight: weight.optional(),
});

export const httpRedirect = oneOf(
  z.strictObject({
    uri: z.string().optional(),
    authority: z.string().optional(),
    port: port.optional(),
    derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
    scheme: z.string().optional(),
    redirectCode: httpStatus(300, 399).optional(),
  }),
  ['port', 'derivePort'],
  false,
);

const httpBody = oneOf(
  z.strictObject({
    string: z.string().optional(),
    bytes: z.base64().optional(),
  }),
  ['string', 'bytes'],
  false,
);

export const httpDirectResponse = z.strictObject({
  status: httpStatus(200, 599),
  body: httpBody.optional(),
});

export const delegate = z.strictObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
});

export const regexRewrite = z.strictObject({
  match: regex().optional(),
  rewrite: z.string().optional(),
});

export const httpRewrite = oneOf(
  z.strictObject({
    uri: z.string().optional(),
    authority: z.string().optional(),
    uriRegexRewrite: regexRewrite.optional(),
  }),
  ['uri', 'uriRegexRewrite'],
  false,
);

/** `HTTPRetry`. */
export const httpRetry = z.strictObject({
  attempts: nonNegativeInt32.optional(),
  perTryTimeout: duration(1).optional(),
  retryOn: retryOn.optional(),
  retryRemoteLocalities: z.boolean().optional(),
  retryIgnorePreviousHosts: z.boolean().optional(),
  backoff: duration(1).optional(),
});

export const corsPolicy = z.strictObject({
  /** Deprecated in favour of `allowOrigins`. */
  allowOrigin: z.array(z.string()).optional(),
  allowOrigins: z.array(stringMatch).optional(),
  allowMethods: z.array(z.string()).optional(),
  allowHeaders: z.array(z.string()).optional(),
  exposeHeaders: z.array(z.string()).optional(),
  maxAge: duration().optional(),
  allowCredentials: z.boolean().optional(),
  unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
});

const delay = oneOf(
  z.strictObject({
    /** Deprecated integer percentage; use `percentage`. */
    percent: integerPercent().optional(),
    fixedDelay: duration(1).optional(),
    exponentialDelay: duration(1).optional(),
    percentage: percentMessage.optional(),
  }),
  ['fixedDelay', 'exponentialDelay'],
);

const abort = oneOf(
  z.strictObject({
    httpStatus: httpStatus(200, 599).optional(),
    grpcStatus: z.string().optional(),
    http2Error: z.string().optional(),
    percentage: percentMessage.optional(),
  }),
  ['httpStatus', 'grpcStatus', 'http2Error'],
);

/** `HTTPFaultInjection`: a delay, an abort or both (Istio refuses neither). */
export const httpFaultInjection = z
  .strictObject({
    delay: delay.optional(),
    abort: abort.optional(),
  })
  .superRefine((fault, ctx) => {
    if (fault.delay === undefined && fault.abort === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'a fault injects a delay, an abort or both',
        ...params('WEFT_ERR_POLICY_ONEOF', 'at least one of "delay", "abort"'),
      });
    }
  });

export const httpMirrorPolicy = z.strictObject({
  destination,
  percentage: percentMessage.optional(),
});

/** `HTTPRoute`: one rule of `http[]`; it forwards (`route`), redirects, answers directly, or delegates. */
export const httpRoute = oneOf(
  oneOf(
    oneOf(
      z.strictObject({
        name: z.string().optional(),
        match: z.array(httpMatchRequest).optional(),
        route: z.array(httpRouteDestination).optional(),
        redirect: httpRedirect.optional(),
        directResponse: httpDirectResponse.optional(),
        delegate: delegate.optional(),
        rewrite: httpRewrite.optional(),
        timeout: duration().optional(),
        retries: httpRetry.optional(),
        fault: httpFaultInjection.optional(),
        mirror: destination.optional(),
        mirrors: z.array(httpMirrorPolicy).optional(),
        /** Deprecated integer form of `mirrorPercentage`; the CRD carries it under both spellings. */
        mirrorPercent: integerPercent().optional(),
        mirror_percent: integerPercent().optional(),
        mirrorPercentage: percentMessage.optional(),
        corsPolicy: corsPolicy.optional(),
        headers: headers.optional(),
      }),
      ['route', 'redirect', 'directResponse', 'delegate'],
    ),
    ['redirect', 'rewrite'],
    false,
  ),
  ['mirror', 'mirrors'],
  false,
);

export const tlsMatchAttributes = z.strictObject({
  sniHosts: z.array(z.string()),
  destinationSubnets: z.array(z.string()).optional(),
  port: port.optional(),
  sourceLabels: labels.optional(),
  gateways: z.array(z.string()).optional(),
  sourceNamespace: z.string().optional(),
});

export const tlsRoute = z.strictObject({
  match: z.array(tlsMatchAttributes),
  route: z.array(routeDestination).optional(),
});

export const l4MatchAttributes = z.strictObject({
  destinationSubnets: z.array(z.string()).optional(),
  port: port.optional(),
  sourceSubnet: z.string().optional(),
  sourceLabels: labels.optional(),
  gateways: z.array(z.string()).optional(),
  sourceNamespace: z.string().optional(),
});

export const tcpRoute = z.strictObject({
  match: z.array(l4MatchAttributes).optional(),
  route: z.array(routeDestination).optional(),
});

// ---------- the kind ----------

/** The `spec` of a VirtualService. */
export const virtualServiceSpec = z.strictObject({
  hosts: z.array(host).optional(),
  gateways: z.array(z.string()).optional(),
  http: z.array(httpRoute).optional(),
  tls: z.array(tlsRoute).optional(),
  tcp: z.array(tcpRoute).optional(),
  exportTo: exportTo.optional(),
});

export type VirtualServiceSpec = z.infer<typeof virtualServiceSpec>;
export type HTTPRoute = z.infer<typeof httpRoute>;
export type HTTPMatchRequest = z.infer<typeof httpMatchRequest>;
export type HTTPRouteDestination = z.infer<typeof httpRouteDestination>;
export type HTTPRetry = z.infer<typeof httpRetry>;
export type HTTPFaultInjection = z.infer<typeof httpFaultInjection>;

export const VirtualService: KindSchema = {
  group: 'networking.istio.io',
  kind: 'VirtualService',
  versions: ['v1', 'v1beta1', 'v1alpha3'],
  spec: virtualServiceSpec,
  // Acted on by the route and deadline layers (packages/mesh): match, route, redirect,
  // directResponse, rewrite, timeout, headers; fault and mirror*, by the fault and mirror layers; retries, by the retry layer.
  unimplemented: ['http[].delegate', 'http[].corsPolicy', 'tls', 'tcp', 'gateways', 'exportTo'],
};
