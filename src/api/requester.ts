import type { Request } from 'express';
import type { Requester } from '../playback/service.js';
import type { ViewerAccounts } from '../viewers/accounts.js';
import { bearerOf, type AdminCheck } from './http.js';

/** Who is asking: the operator (admin token), a signed-in viewer (access token), or nobody. */
export function requesterOf(isAdmin: AdminCheck, accounts: ViewerAccounts): (req: Request) => Requester {
  return (req) => {
    if (isAdmin(req)) return { kind: 'admin' };
    const token = bearerOf(req.header('authorization'));
    if (!token) return { kind: 'anonymous' };
    return { kind: 'viewer', ...accounts.verifyAccess(token) };
  };
}
