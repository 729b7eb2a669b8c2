/**
 * The one catalog of coded errors. Every error a client or an operator can see has a code here,
 * with its HTTP status and a one-line meaning (the README's error table is checked against it).
 */
export const errorCatalog = {
  VALIDATION_FAILED: { status: 400, meaning: 'The request body or parameters are not of the expected form.' },
  ADMIN_AUTH_REQUIRED: { status: 401, meaning: 'An admin route was called without a valid admin bearer token.' },
  PLAYBACK_TOKEN_MISSING: { status: 401, meaning: 'A media request carried no playback token.' },
  PLAYBACK_TOKEN_INVALID: { status: 401, meaning: 'The playback token is malformed, forged or expired.' },
  PLAYBACK_TOKEN_WRONG_CONTENT: { status: 403, meaning: 'The playback token is valid but for other content.' },
  NOT_FOUND: { status: 404, meaning: 'No route or file at that path.' },
  MEDIA_PATH_INVALID: { status: 400, meaning: 'A media path names a file that cannot exist (only letters, digits, ".", "_" and "-" in each part).' },
  CONTENT_UNAVAILABLE: { status: 404, meaning: 'No content with that id can be played now: it does not exist, or it is not ready or live.' },
  TITLE_NOT_FOUND: { status: 404, meaning: 'No title with that id.' },
  CONTENT_NOT_READY: { status: 409, meaning: 'The content exists but cannot be played yet (or failed).' },
  UPLOAD_NOT_EXPECTED: { status: 409, meaning: 'The title is not awaiting an upload (nor failed, when a new source may replace the old).' },
  TITLE_NOT_RETRYABLE: { status: 409, meaning: 'Only a failed title whose source is still held can be retried.' },
  DIRECT_UPLOAD_UNAVAILABLE: { status: 409, meaning: 'Uploads straight to the bucket need storage.kind = s3; upload through Weir instead.' },
  SOURCE_NOT_IN_BUCKET: { status: 409, meaning: 'Nothing has been uploaded to the title\'s bucket URL yet.' },
  UPLOAD_PARTS_REFUSED: { status: 409, meaning: 'The bucket would not join the parts named: no multipart upload with that id for the title, a part missing or with another ETag, or a part (but the last) under 5 MiB.' },
  OWNED_BY_ANOTHER_NODE: { status: 409, meaning: 'Several nodes share the catalog and another live node runs this title or stream; send the change to that node.' },
  BODY_TOO_LARGE: { status: 413, meaning: 'The request body is larger than the route accepts.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The request body is not of the content type the route takes (JSON routes need content-type: application/json).' },
  REQUEST_TIMEOUT: { status: 408, meaning: 'The request body did not arrive in time.' },
  RATE_LIMITED: { status: 429, meaning: 'Too many requests from this address; retry after the time in Retry-After.' },
  UPLOAD_TOO_LARGE: { status: 413, meaning: 'The upload is larger than the configured limit.' },
  UPLOAD_INCOMPLETE: { status: 400, meaning: 'The upload ended before the declared length arrived.' },
  SOURCE_EMPTY: { status: 422, meaning: 'The uploaded source has zero bytes.' },
  SOURCE_UNREADABLE: { status: 422, meaning: 'The source is not a media file, or it is truncated or corrupt.' },
  SOURCE_NO_VIDEO: { status: 422, meaning: 'The source has no video stream.' },
  ENCODE_FAILED: { status: 500, meaning: 'Encoding failed after its retries.' },
  PACKAGE_FAILED: { status: 500, meaning: 'Packaging the encoded renditions failed.' },
  KEYING_FAILED: { status: 502, meaning: 'The content key could not be obtained (key server) or applied.' },
  PUBLISH_FAILED: { status: 500, meaning: 'Publishing the packaged title failed.' },
  STREAM_NOT_FOUND: { status: 404, meaning: 'No live stream with that id.' },
  PUBLISH_KEY_UNKNOWN: { status: 403, meaning: 'A publisher (RTMP or SRT) named an unknown or reset stream key.' },
  PUBLISH_APP_UNKNOWN: { status: 404, meaning: 'An RTMP publisher named an application other than live (publish to /live/<stream key>).' },
  PUBLISH_CONFLICT: { status: 409, meaning: 'A publisher named a stream key that another publisher is sending on.' },
  PUBLISH_UNAVAILABLE: { status: 503, meaning: 'The stream cannot take a publisher this instant (keys being prepared, a broadcast being finished, the server stopping).' },
  LIVE_REQUEST_INVALID: { status: 400, meaning: 'A live playlist or part request names a position the stream cannot reach (LL-HLS rules).' },
  LIVE_NOT_AVAILABLE: { status: 503, meaning: 'The requested live part or playlist did not appear in time.' },
  LIVE_MEDIA_UNSUPPORTED: { status: 422, meaning: 'The publisher sent media Weir cannot package (only H.264 and AAC).' },
  VIEWER_AUTH_REQUIRED: { status: 401, meaning: 'This needs a signed-in viewer: send "Authorization: Bearer <access token>" from POST /v1/auth/login.' },
  VIEWER_TOKEN_INVALID: { status: 401, meaning: 'The viewer access token is malformed, forged or expired; refresh it or sign in again.' },
  LOGIN_FAILED: { status: 401, meaning: 'The email address or password is not right.' },
  LOGIN_THROTTLED: { status: 429, meaning: 'Too many failed sign-ins for this account or from this address; retry after the time in Retry-After.' },
  REFRESH_TOKEN_INVALID: { status: 401, meaning: 'The refresh token is unknown, expired, revoked, or was already used (which revokes its whole sign-in).' },
  SIGNUP_DISABLED: { status: 403, meaning: 'Viewers cannot sign themselves up on this server; an admin creates accounts.' },
  EMAIL_TAKEN: { status: 409, meaning: 'A viewer with that email address (in any letter case) already exists.' },
  WEBHOOK_NOT_FOUND: { status: 404, meaning: 'No webhook endpoint with that id.' },
  WEBHOOK_URL_REFUSED: { status: 422, meaning: 'The webhook URL names an address webhooks may not reach (private, loopback, link-local, reserved) or carries credentials.' },
  WEBHOOK_DISABLED: { status: 409, meaning: 'The webhook endpoint is turned off.' },
  VIEWER_NOT_FOUND: { status: 404, meaning: 'No viewer with that id.' },
  PLAN_NOT_FOUND: { status: 404, meaning: 'No plan with that id.' },
  PLAN_IN_USE: { status: 409, meaning: 'Viewers are subscribed to the plan; move them to another before deleting it.' },
  DEVICE_NOT_FOUND: { status: 404, meaning: 'The viewer has no device with that id.' },
  DEVICE_LIMIT_REACHED: { status: 403, meaning: 'The viewer\'s plan allows no more devices; the answer lists the registered ones, one of which must be removed.' },
  NOT_ENTITLED: { status: 403, meaning: 'The viewer\'s plan (or rentals) does not include this content; the answer names the plans that do.' },
  CONTENT_NOT_YET_AVAILABLE: { status: 403, meaning: 'The content\'s availability window has not opened; the answer gives the date.' },
  CONTENT_NO_LONGER_AVAILABLE: { status: 403, meaning: 'The content\'s availability window has closed; the answer gives the date.' },
  GEO_BLOCKED: { status: 451, meaning: 'The content is not offered in the viewer\'s country.' },
  RATING_BLOCKED: { status: 403, meaning: 'The content\'s rating is above the viewer\'s limit.' },
  STREAM_LIMIT_REACHED: { status: 409, meaning: 'The viewer already watches on as many screens as the plan allows; the answer lists those sessions so one can be stopped.' },
  PLAYBACK_SESSION_NOT_FOUND: { status: 404, meaning: 'No playback session with that id (for this viewer).' },
  PLAYBACK_SESSION_ENDED: { status: 403, meaning: 'The playback session was stopped or expired (no heartbeat for two intervals); start a new one.' },
  RENDITION_NOT_ALLOWED: { status: 403, meaning: 'The rendition is above what this playback session may play (plan or device resolution cap).' },
  LICENSE_SYSTEM_UNSUPPORTED: { status: 404, meaning: 'No license server is configured for that DRM system, or the content is not protected with it.' },
  LICENSE_UPSTREAM_FAILED: { status: 502, meaning: 'The upstream license server could not be reached or answered with an error.' },
  SERIES_NOT_FOUND: { status: 404, meaning: 'No series with that id (or none of its episodes may be watched by this viewer here and now).' },
  SERIES_HAS_EPISODES: { status: 409, meaning: 'The series still has episodes; move or remove them first.' },
  EPISODE_TAKEN: { status: 409, meaning: 'Another title already is that episode of that season of the series.' },
  ARTWORK_UNREADABLE: { status: 422, meaning: 'The uploaded artwork is not an image Weir can read (JPEG, PNG or WebP).' },
  COLLECTION_NOT_FOUND: { status: 404, meaning: 'No collection with that id.' },
  SHUTTING_DOWN: { status: 503, meaning: 'The server is stopping and takes no new work.' },
  INTERNAL: { status: 500, meaning: 'An unexpected server error; the log has the details.' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof errorCatalog;

/** The shape of an error as stored in a title and as sent to clients. */
export type CodedError = { code: ErrorCode; message: string };

export class WeirError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'WeirError';
    this.code = code;
    this.status = errorCatalog[code].status;
    this.details = details;
  }

  toJSON(): CodedError & { details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isWeirError(value: unknown): value is WeirError {
  return value instanceof WeirError;
}

// An absolute file-system path: two or more segments after a slash that does not follow a word.
const serverPath = /(?<![\w.:/])(?:\/[\w.@+-]+){2,}\/?/g;

/** Clients and title errors never see where the server keeps files: paths become "<file>". */
export function hideServerPaths(text: string): string {
  return text.replace(serverPath, '<file>');
}

/** Turns anything thrown into a coded error, keeping coded ones as they are. */
export function toCodedError(value: unknown, fallback: ErrorCode): CodedError {
  if (isWeirError(value)) return { code: value.code, message: hideServerPaths(value.message) };
  const message = value instanceof Error ? value.message : String(value);
  return { code: fallback, message: hideServerPaths(message) };
}
