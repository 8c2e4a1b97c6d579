// Starts Bookinfo on loopback: each service instance with its own mesh, leaves first so their addresses can go into their callers' discovery.
import { createMesh, type Mesh, type MeshOptions, type StaticEndpoint } from '@weft/mesh';
import { detailsApp } from './services/details.js';
import { productpageApp } from './services/productpage.js';
import { ratingsApp } from './services/ratings.js';
import { type ReviewsVersion, reviewsApp } from './services/reviews.js';

export interface BookinfoOptions {
  /** Address every service binds; default `127.0.0.1`. Ports are always picked by the system. */
  host?: string;
  /** Namespace of every service; default `default`. */
  namespace?: string;
  /**
   * Mutual TLS between the services: on by default, on the embedded CA (`~/.weft/ca`, or
   * `$WEFT_CA_DIR`); `false` turns it off. Each service runs as Istio's Bookinfo service
   * account, `bookinfo-<service>`, so Istio's Bookinfo security YAML applies as written.
   */
  security?: MeshOptions['security'];
  /** Policy every service loads (Istio YAML files, directories, objects), as one shared config. */
  policy?: MeshOptions['policy'];
}

/** One running service instance: a workload with its own mesh, as a pod with its sidecar. */
export interface BookinfoInstance {
  service: string;
  version: string;
  mesh: Mesh;
  /** `http://host:port` */
  url: string;
  /** `host:port`, as it appears in its callers' discovery. */
  address: string;
}

export interface Bookinfo {
  /** The book page, where traffic enters: `http://host:port/productpage`. */
  productpageUrl: string;
  /** Every instance in the order started: ratings, details, reviews v1–v3, productpage. */
  instances: readonly BookinfoInstance[];
  /** The instance of `service` at `version`; throws if there is none. */
  instance(service: string, version?: string): BookinfoInstance;
  /** Closes the instances in reverse order (callers before the services they call), each mesh draining its server. */
  close(): Promise<void>;
}

/** Time productpage allows each call to details and reviews, as Bookinfo's productpage does. */
const PRODUCTPAGE_TIMEOUT_MS = 3_000;

const REVIEWS_VERSIONS: readonly ReviewsVersion[] = ['v1', 'v2', 'v3'];

interface Deployment {
  service: string;
  version: string;
  discovery?: Record<string, StaticEndpoint[]>;
  timeoutMs?: number;
  /** The application, given its mesh: an Express app or a Fastify instance. */
  app(mesh: Mesh): unknown;
}

/** Istio's Bookinfo service accounts: what the security samples' principals name. */
const serviceAccountOf = (service: string): string => `bookinfo-${service}`;

function endpointOf(instance: BookinfoInstance): StaticEndpoint {
  // The account label lets a caller check, over mTLS, that the endpoint is the service it means (secure naming).
  return {
    address: instance.address,
    labels: { version: instance.version, 'weft.io/service-account': serviceAccountOf(instance.service) },
  };
}

export async function startBookinfo(options: BookinfoOptions = {}): Promise<Bookinfo> {
  const host = options.host ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const security = options.security ?? true;
  const started: BookinfoInstance[] = [];

  async function deploy(d: Deployment): Promise<BookinfoInstance> {
    const mesh = await createMesh({
      service: d.service,
      namespace,
      version: d.version,
      discovery: { static: d.discovery ?? {} },
      ...(d.timeoutMs === undefined ? {} : { timeoutMs: d.timeoutMs }),
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      security:
        security === false
          ? false
          : { ...(security === true ? {} : security), serviceAccount: serviceAccountOf(d.service) },
    });
    try {
      const server = await mesh.listen(await d.app(mesh), { host, port: 0 });
      const instance = {
        service: d.service,
        version: d.version,
        mesh,
        url: server.url,
        address: new URL(server.url).host,
      };
      started.push(instance);
      return instance;
    } catch (error) {
      await mesh.close();
      throw error;
    }
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const instance of [...started].reverse()) await instance.mesh.close();
    })();
    return closing;
  };

  try {
    const ratings = await deploy({ service: 'ratings', version: 'v1', app: ratingsApp });
    const details = await deploy({ service: 'details', version: 'v1', app: detailsApp });
    const reviews: BookinfoInstance[] = [];
    for (const version of REVIEWS_VERSIONS) {
      reviews.push(
        await deploy({
          service: 'reviews',
          version,
          // Every version can reach ratings, as in a cluster; only v2 and v3 call it.
          discovery: { ratings: [endpointOf(ratings)] },
          app: (mesh) => reviewsApp(mesh, version),
        }),
      );
    }
    const productpage = await deploy({
      service: 'productpage',
      version: 'v1',
      timeoutMs: PRODUCTPAGE_TIMEOUT_MS,
      discovery: { details: [endpointOf(details)], reviews: reviews.map(endpointOf) },
      app: productpageApp,
    });
    return {
      productpageUrl: `${productpage.url}/productpage`,
      instances: Object.freeze([...started]),
      instance(service, version = 'v1') {
        const found = started.find((i) => i.service === service && i.version === version);
        if (found === undefined) throw new Error(`Bookinfo has no ${service} ${version}`);
        return found;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
