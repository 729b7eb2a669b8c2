import { z } from 'zod';
import { errorCatalog, type ErrorCode } from '../../errors.js';

export const httpMethods = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;
export type HttpMethod = (typeof httpMethods)[number];

/** Who may call an operation: each adds the errors its check can answer with. */
export const authKinds = ['none', 'admin', 'viewer', 'viewer-optional', 'playback-token'] as const;
export type AuthKind = (typeof authKinds)[number];

/** One documented operation. Request schemas are the very ones the route validates with. */
export type Operation = {
  method: HttpMethod;
  /** OpenAPI form: /v1/titles/{id}. */
  path: string;
  summary: string;
  tag: string;
  auth: AuthKind;
  query?: z.ZodObject;
  /** A JSON body, validated by this schema. */
  body?: z.ZodType;
  /** A body that is not JSON (media, images, license challenges). */
  rawBody?: { contentTypes: string[]; description: string };
  responses: Partial<Record<number, { description: string; schema?: z.ZodType; contentType?: string }>>;
  /** Coded errors beyond those its auth, parameters and body imply. */
  errors?: ErrorCode[];
  /** Not an Express route: the WebSocket upgrade handled beside the app. */
  websocket?: boolean;
};

type JsonSchema = Record<string, unknown>;

const jsonSchemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
};

const authErrors: Record<AuthKind, ErrorCode[]> = {
  none: [],
  admin: ['ADMIN_AUTH_REQUIRED'],
  viewer: ['VIEWER_AUTH_REQUIRED', 'VIEWER_TOKEN_INVALID'],
  'viewer-optional': ['VIEWER_TOKEN_INVALID'],
  'playback-token': ['PLAYBACK_TOKEN_MISSING', 'PLAYBACK_TOKEN_INVALID', 'PLAYBACK_TOKEN_WRONG_CONTENT', 'PLAYBACK_SESSION_ENDED'],
};

const securityOf: Record<AuthKind, unknown[] | undefined> = {
  none: [],
  admin: [{ adminToken: [] }],
  viewer: [{ viewerToken: [] }],
  'viewer-optional': [{}, { viewerToken: [] }],
  'playback-token': [],
};

/** Every coded error an operation can answer with: its own, and those its auth, parameters and body imply. */
export function errorsOf(operation: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>([...authErrors[operation.auth], ...(operation.errors ?? []), 'INTERNAL', 'NOT_FOUND']);
  if (operation.query || operation.body) codes.add('VALIDATION_FAILED');
  if (operation.body || operation.rawBody) for (const code of ['BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'REQUEST_TIMEOUT'] as const) codes.add(code);
  return [...codes];
}

/** The error answers of an operation, one per status, each naming the codes it may carry. */
function errorResponses(operation: Operation): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(operation)) {
    const status = errorCatalog[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: codes.map((code) => `${code}: ${errorCatalog[code].meaning}`).join('\n'),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['error'],
            properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { enum: codes }, message: { type: 'string' } } } },
          },
        },
      },
    };
  }
  return out;
}

function parametersOf(operation: Operation): unknown[] {
  const path = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => ({ name: match[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = Object.entries(operation.query?.shape ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: !(schema as z.ZodType).safeParse(undefined).success,
    schema: jsonSchemaOf(schema as z.ZodType, 'output'),
  }));
  return [...path, ...query];
}

/** The OpenAPI 3.1 document of the given operations. */
export function openApiDocument(operations: readonly Operation[], info: { title: string; version: string; description: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of operations) {
    const responses: Record<string, unknown> = errorResponses(operation);
    for (const [status, answer] of Object.entries(operation.responses)) {
      responses[status] = {
        description: answer!.description,
        ...(answer!.schema ? { content: { [answer!.contentType ?? 'application/json']: { schema: jsonSchemaOf(answer!.schema, 'output') } } } : answer!.contentType ? { content: { [answer!.contentType]: {} } } : {}),
      };
    }
    const requestBody = operation.body
      ? { required: true, content: { 'application/json': { schema: jsonSchemaOf(operation.body, 'input') } } }
      : operation.rawBody
        ? { required: true, description: operation.rawBody.description, content: Object.fromEntries(operation.rawBody.contentTypes.map((type) => [type, {}])) }
        : undefined;
    const parameters = parametersOf(operation);
    (paths[operation.path] ??= {})[operation.method] = {
      operationId: `${operation.method}${operation.path.replace(/\{(\w+)\}/g, 'By-$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: operation.summary,
      tags: [operation.tag],
      ...(securityOf[operation.auth] ? { security: securityOf[operation.auth] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
      ...(operation.websocket ? { 'x-websocket': true } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info,
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (WEIR_ADMIN_TOKEN or data/admin-token).' },
        viewerToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A viewer access token from POST /v1/auth/login.' },
      },
    },
    paths,
  };
}
