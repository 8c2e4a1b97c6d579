// A DNS server on loopback for the discovery tests: answers A, AAAA and SRV from a table the test changes, or fails on demand.
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import * as packet from 'dns-packet';

export type Record =
  | { type: 'A' | 'AAAA'; address: string; ttl: number }
  | { type: 'SRV'; target: string; port: number; priority: number; weight: number; ttl: number };

export interface DnsServer {
  /** `127.0.0.1:port`, for a resolver's setServers. */
  readonly address: string;
  /** Records by name; change it at will. */
  readonly records: Map<string, Record[]>;
  /** When set, every query is answered with this error code (e.g. SERVFAIL) instead. */
  failWith: 'SERVFAIL' | 'REFUSED' | undefined;
  /** Queries answered so far. */
  queries: number;
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<DnsServer> {
  const socket: Socket = createSocket('udp4');
  const server: DnsServer = {
    address: '',
    records: new Map(),
    failWith: undefined,
    queries: 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, remote) => {
    const query = packet.decode(message);
    const question = query.questions?.[0];
    if (question === undefined) return;
    server.queries++;
    const answers: packet.Answer[] = [];
    let rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' = 'NOERROR';
    if (server.failWith !== undefined) rcode = server.failWith;
    else {
      const found = server.records.get(question.name);
      if (found === undefined) rcode = 'NXDOMAIN';
      for (const r of found ?? []) {
        if (r.type !== question.type) continue;
        if (r.type === 'SRV') {
          answers.push({
            type: 'SRV',
            name: question.name,
            ttl: r.ttl,
            data: { target: r.target, port: r.port, priority: r.priority, weight: r.weight },
          });
        } else {
          answers.push({ type: r.type, name: question.name, ttl: r.ttl, data: r.address });
        }
      }
    }
    const response = packet.encode({
      id: query.id,
      type: 'response',
      flags:
        packet.AUTHORITATIVE_ANSWER |
        (rcode === 'NOERROR' ? 0 : rcode === 'NXDOMAIN' ? 3 : rcode === 'SERVFAIL' ? 2 : 5),
      questions: [question],
      answers,
    });
    socket.send(response, remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  Object.assign(server, { address: `127.0.0.1:${(socket.address() as AddressInfo).port}` });
  return server;
}
