// @weft/core: the dependency-free bottom of weft.

export { CallContext, type PeerIdentity, ServerCallContext } from './context.js';
export { ENDPOINT_HEALTH, type Endpoint, type EndpointHealth, type EndpointSnapshot } from './endpoint.js';
export type { ConfigProblem, WeftErrorCode, WeftErrorOptions } from './errors.js';
export { causedBy, configError, ERROR_CODES, formatProblem, isWeftError, WeftError } from './errors.js';
export type { Handler, Layer } from './handler.js';
export { compose } from './handler.js';
export type { HeaderValue, RequestBody, ResponseBody, WeftHeaders, WeftRequest, WeftResponse } from './model.js';
export { copyHeaders } from './model.js';
