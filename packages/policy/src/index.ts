// @weft/policy: weft's policy loader.
export {
  issueToProblems,
  knownKeysAt,
  OPTION_CODES,
  POLICY_CODES,
  type ProblemCodes,
  type ProblemContext,
  pathText,
  show,
} from './problems.js';
export { parseDurationMs } from './schema/kit.js';
export { codeDocument, type ParseError, parseText, type SourceDocument } from './source/parse.js';
export { suggest } from './suggest.js';
