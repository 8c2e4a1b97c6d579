// The text of `weft --help` and of each command's `--help`: every flag, the exit codes, an example.

const PATHS = `PATH is a policy file (.yaml, .yml or .json, several documents allowed), a
directory of them (not recursive), or a glob in quotes ('policy/**/*.yaml').
Later paths replace earlier ones' resources of the same kind, namespace and name.`;

const EXIT = `Exit status:
  0  no errors (warnings alone are clean)
  1  errors were found
  2  weft could not run: a bad flag, no PATH, or a PATH that cannot be read`;

const COMMON_FLAGS = `  -o, --output FORMAT           text (the default): each problem with its
                                file:line:col and the source line, then a
                                summary; json: { "problems": [...], "errors": N,
                                "warnings": M, "files": [...] } on stdout
  -n, --namespace NS            namespace of resources that give none
                                (default "default")
      --cluster-domain DOMAIN   the cluster's DNS domain, to qualify short host
                                names (default "cluster.local")`;

export const MAIN_HELP = `weft: check Istio and weft policy files before a service loads them, and run its CA

Usage:
  weft <command> [flags] PATH...
  weft <command> --help
  weft --help | --version

Commands:
  validate   check each resource on its own: YAML syntax, kind, fields and values
  analyze    validate, then check the resources against each other: subsets,
             hosts, unreachable routes, conflicting rules, selectors
  ca         the certificate authority: init, issue, inspect, serve
             ("weft ca --help")
  describe   one service as a running mesh sees it, from its admin endpoint

Flags:
  -h, --help      show this help
      --version   print weft's version

${PATHS}

Colour is used when stdout is a terminal and NO_COLOR is not set.

${EXIT}

Examples:
  weft validate policy/
  weft analyze --known-host ratings --output json 'policy/**/*.yaml'
`;

export const VALIDATE_HELP = `weft validate: check policy files offline, each resource on its own

Usage:
  weft validate [flags] PATH...

Reads every document of every PATH and reports every problem at once: YAML
syntax, apiVersion and kind, metadata, each field of the spec (unknown, missing,
of the wrong type, a bad value), route weights, and (as warnings) fields weft
accepts but does not act on yet. Nothing is contacted.

Flags:
${COMMON_FLAGS}
                                (validate accepts it so the same flags work for
                                both commands; only analyze uses it)
  -h, --help                    show this help

${PATHS}

${EXIT}

Example:
  $ weft validate reviews.yaml
  error WEFT_ERR_POLICY_FIELD_UNKNOWN  reviews.yaml:8:14  DestinationRule default/reviews  spec.trafficPolicy.connectionPool.tcp.maxConnection
    unknown field "maxConnection"; did you mean "maxConnections"?
    expected: one of "maxConnections", "connectTimeout", "tcpKeepalive", "maxConnectionDuration", "idleTimeout"
    8 |       tcp: { maxConnection: 100 }
      |              ^

  1 error, 0 warnings in 1 file
`;

export const ANALYZE_HELP = `weft analyze: validate policy files, then check the resources against each other

Usage:
  weft analyze [flags] PATH...

Reports what weft validate reports, then runs the analysis, as istioctl analyze
does, on the resources that loaded: routes to subsets no DestinationRule
defines, routes that can never match, two DestinationRules or VirtualServices
for one host, and (when told what exists) destinations to unknown hosts and
selectors that match no workload.

Flags:
${COMMON_FLAGS}
      --known-host HOST         a host a discovery source knows (repeatable; short
                                names are qualified with --namespace and
                                --cluster-domain). With at least one,
                                destinations to hosts neither given nor in a
                                ServiceEntry are reported; without any, hosts
                                are not checked
      --workload K=V,K=V        the labels of a known workload (repeatable).
                                With at least one, selectors that match none
                                are reported; without any, selectors are not
                                checked
  -h, --help                    show this help

${PATHS}

${EXIT}

Example:
  $ weft analyze --known-host reviews --workload app=reviews,version=v1 policy/
  error WEFT_ANALYZE_SUBSET_UNKNOWN  policy/reviews.yaml:8:37  VirtualService default/reviews  spec.http[0].route[0].destination.subset
    no DestinationRule for reviews.default.svc.cluster.local defines subset "v3"
    expected: one of "v1", "v2"
    8 |     - destination: { host: reviews, subset: v3 }
      |                                     ^

  1 error, 0 warnings in 2 files
`;
