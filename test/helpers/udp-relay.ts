import { createSocket, type RemoteInfo } from 'node:dgram';

/**
 * A UDP relay between an SRT caller and the listener, to make the network bad on purpose:
 * random loss, duplication and reordering (both directions), and blackholes that drop everything.
 */
export type UdpRelay = {
  port: number;
  loss: number;
  duplicate: number;
  /** Chance that a datagram is held back and sent after the next one (or 5 ms later, if none comes). */
  reorder: number;
  blackhole: boolean;
  /** Targeted drops: return true to drop this datagram ('up' is caller → listener). */
  drop: (direction: 'up' | 'down', message: Buffer) => boolean;
  forwarded: number;
  dropped: number;
  reordered: number;
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
  const held = new Map<string, { send: () => void; timer: NodeJS.Timeout }>();
  const release = (direction: string) => {
    const entry = held.get(direction);
    if (!entry) return;
    held.delete(direction);
    clearTimeout(entry.timer);
    entry.send();
  };
  const relay: UdpRelay = {
    port: 0,
    loss: 0,
    duplicate: 0,
    reorder: 0,
    blackhole: false,
    drop: () => false,
    forwarded: 0,
    dropped: 0,
    reordered: 0,
    close: () =>
      new Promise((resolve) => {
        for (const entry of held.values()) clearTimeout(entry.timer);
        front.close(() => back.close(() => resolve()));
      }),
  };
  const pass = (direction: 'up' | 'down', message: Buffer, send: () => void) => {
    if (relay.blackhole || relay.drop(direction, message) || random() < relay.loss) {
      relay.dropped++;
      return;
    }
    relay.forwarded++;
    const duplicated = random() < relay.duplicate;
    const once = () => {
      send();
      if (duplicated) send();
    };
    if (!held.has(direction) && random() < relay.reorder) {
      relay.reordered++;
      held.set(direction, { send: once, timer: setTimeout(() => release(direction), 5) });
      return;
    }
    once();
    release(direction); // a held datagram goes out after this later one
  };
  front.on('message', (message, remote) => {
    caller = remote;
    pass('up', message, () => back.send(message, target.port, target.host));
  });
  back.on('message', (message) => {
    const to = caller;
    if (to) pass('down', message, () => front.send(message, to.port, to.address));
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  relay.port = front.address().port;
  return relay;
}
