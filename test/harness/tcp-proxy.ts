import net from 'node:net';

/** A plain TCP forwarder on loopback that a test can cut and heal: a network partition on demand. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /**
   * From now on the link is down: every open connection is reset and new ones are reset as soon as
   * they arrive (the client sees ECONNRESET), while the target itself keeps running.
   */
  cut(): void;
  /** New connections are forwarded again. */
  heal(): void;
  /** Connections currently forwarded. */
  readonly open: number;
  /** Connections refused while cut. */
  readonly refused: number;
  close(): Promise<void>;
}

/**
 * Forwards every connection to `target` byte for byte (TLS passes through untouched, so a client
 * verifying the API server's certificate for 127.0.0.1 still does). Point a kubeconfig's server at
 * `https://127.0.0.1:<port>` to give one client a link of its own to the API server.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let down = false;
  let refused = 0;
  const server = net.createServer((client) => {
    if (down) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const resetAll = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair[0].resetAndDestroy();
      pair[1].destroy();
    }
  };
  return {
    port,
    cut() {
      down = true;
      resetAll();
    },
    heal() {
      down = false;
    },
    get open() {
      return pairs.size;
    },
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        resetAll();
        server.close(() => resolve());
      }),
  };
}
