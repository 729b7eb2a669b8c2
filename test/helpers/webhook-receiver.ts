import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedWebhook = { headers: IncomingMessage['headers']; body: string; answered: number };

/**
 * A webhook receiver on loopback: keeps every request it gets and answers each with the status
 * `answer` picks (200 unless told otherwise), so a test can make it fail and then recover. An
 * answer of 0 holds the request open without answering (a receiver that hangs).
 */
export async function startReceiver(answer: (request: ReceivedWebhook, index: number) => number = () => 200) {
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedWebhook = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: 0 };
      request.answered = receiver.answer(request, received.length);
      received.push(request);
      if (request.answered !== 0) res.writeHead(request.answered, { 'content-type': 'text/plain' }).end('ok');
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const receiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    received,
    answer,
    /** Resolves once a received request satisfies the predicate. */
    waitFor(predicate: (request: ReceivedWebhook) => boolean, what: string, timeoutMs = 20_000): Promise<ReceivedWebhook> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find(predicate);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the receiver did not get ${what} within ${timeoutMs} ms (it got ${received.length} requests)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return receiver;
}
