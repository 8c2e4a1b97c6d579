// What every discovery source is: something that starts, writes complete endpoint sets into its sink, and stops.
import type { DiscoverySink } from './registry.js';

export interface DiscoverySource {
  /** `file /etc/weft/endpoints.yaml`, `dns`, `etcd 127.0.0.1:2379`: for status and messages. */
  readonly name: string;
  /** Reads what the source has and starts following it; resolves once the first read is in the sink (or failed). */
  start(sink: DiscoverySink): Promise<void>;
  close(): Promise<void>;
}
