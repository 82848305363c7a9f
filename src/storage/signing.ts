import { createHmac } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { StorageError } from './errors.js';

/**
 * Signed URLs, as Supabase Storage makes them: an HS256 JWT in `?token=` whose `url` claim is
 * `<bucket>/<name>`, with an expiry. The key is derived from the project JWT secret (HMAC of a
 * fixed label) rather than being the secret itself, so a signed-URL token can never pass as an
 * API key or a user token, and rotating the project secret invalidates every signed URL.
 */

const LABEL = 'loconomy storage signed urls v1';

export function signingKey(jwtSecret: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', jwtSecret).update(LABEL).digest());
}

/** Largest expiresIn accepted: one year, as far as a URL to private bytes should live. */
export const MAX_EXPIRES_IN_S = 365 * 24 * 3600;
/** Signed upload URLs last two hours, as Supabase's do. */
export const UPLOAD_URL_TTL_S = 2 * 3600;

const downloadClaims = z.object({ url: z.string(), typ: z.literal('download'), transform: z.string().optional() });
const uploadClaims = z.object({
  url: z.string(),
  typ: z.literal('upload'),
  owner: z.string().nullable(),
  upsert: z.boolean(),
});

export type DownloadClaims = z.infer<typeof downloadClaims>;
export type UploadClaims = z.infer<typeof uploadClaims>;

export function signDownload(key: Uint8Array, url: string, expiresIn: number, transform?: string): Promise<string> {
  return sign(key, { url, typ: 'download', ...(transform ? { transform } : {}) }, expiresIn);
}

export function signUpload(key: Uint8Array, url: string, owner: string | null, upsert: boolean): Promise<string> {
  return sign(key, { url, typ: 'upload', owner, upsert }, UPLOAD_URL_TTL_S);
}

function sign(key: Uint8Array, claims: Record<string, unknown>, ttl: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(key);
}

export async function verifyDownload(key: Uint8Array, token: unknown, url: string): Promise<DownloadClaims> {
  return verify(key, token, url, downloadClaims);
}

export async function verifyUpload(key: Uint8Array, token: unknown, url: string): Promise<UploadClaims> {
  return verify(key, token, url, uploadClaims);
}

async function verify<T extends { url: string }>(
  key: Uint8Array,
  token: unknown,
  url: string,
  shape: z.ZodType<T>,
): Promise<T> {
  if (typeof token !== 'string' || token === '') throw new StorageError('InvalidJWT', 'The signed URL has no token');
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'] }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new StorageError('InvalidJWT', 'The signed URL has expired');
    throw new StorageError('InvalidJWT', 'The signed URL token is not valid');
  }
  const claims = shape.safeParse(payload);
  if (!claims.success || claims.data.url !== url) {
    throw new StorageError('InvalidJWT', 'The signed URL token is not for this object');
  }
  return claims.data;
}
