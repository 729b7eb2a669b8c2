import { createSocket, type RemoteInfo } from 'node:dgram';

/**
 * A UDP relay between an SRT caller and the listener, to make the network bad on purpose:
 * random loss and duplication (both directions), and blackholes that drop everything.
 */
export type UdpRelay = {
  port: number;
  loss: number;
  duplicate: number;
  blackhole: boolean;
  forwarded: number;
  dropped: number;
  close(): Promise<void>;
};

export async function startUdpRelay(target: { host: string; port: number }, seed = 1): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let caller: RemoteInfo | null = null;
  // A deterministic generator: the same run loses the same packets.
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
  const relay: UdpRelay = {
    port: 0,
    loss: 0,
    duplicate: 0,
    blackhole: false,
    forwarded: 0,
    dropped: 0,
    close: () => new Promise((resolve) => front.close(() => back.close(() => resolve()))),
  };
  const pass = (send: () => void) => {
    if (relay.blackhole || random() < relay.loss) {
      relay.dropped++;
      return;
    }
    relay.forwarded++;
    send();
    if (random() < relay.duplicate) send();
  };
  front.on('message', (message, remote) => {
    caller = remote;
    pass(() => back.send(message, target.port, target.host));
  });
  back.on('message', (message) => {
    const to = caller;
    if (to) pass(() => front.send(message, to.port, to.address));
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  relay.port = front.address().port;
  return relay;
}
