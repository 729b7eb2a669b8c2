import type { Request } from 'express';
import type { Requester } from '../playback/service.js';
import type { ViewerAccounts } from '../viewers/accounts.js';
import { bearerOf, type AdminCheck } from './http.js';

// header.payload.signature, each base64url: the shape of a viewer's access token.
const jwtShape = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** Who is asking: the operator (admin token), a signed-in viewer (access token), or nobody. */
export function requesterOf(isAdmin: AdminCheck, accounts: ViewerAccounts): (req: Request) => Requester {
  return (req) => {
    const token = bearerOf(req.header('authorization'));
    if (!token) return { kind: 'anonymous' };
    // Viewers' tokens are checked first: a session start then skips hashing the token for the
    // constant-time admin comparison. A token that fails as a viewer's may still be the admin's.
    if (jwtShape.test(token)) {
      try {
        return { kind: 'viewer', ...accounts.verifyAccess(token) };
      } catch (error) {
        if (isAdmin(req)) return { kind: 'admin' };
        throw error;
      }
    }
    if (isAdmin(req)) return { kind: 'admin' };
    return { kind: 'viewer', ...accounts.verifyAccess(token) };
  };
}
