import { projectKeys, userToken } from '../auth/keys.js';
import { opaqueKeys } from '../auth/opaque-keys.js';
import { resolveJwtSecret } from '../auth/secret.js';
import { loadConfig } from '../config.js';

/*
 * These two print their result on stdout and nothing else, so they neither log nor open the
 * database: `loconomy keys | jq .anon` just works.
 */

export interface KeysOptions {
  opaque?: boolean;
}

/**
 * `loconomy keys`: {"anon": jwt, "service_role": jwt}; with --opaque, Supabase's newer key
 * format instead: {"publishable": "sb_publishable_…", "secret": "sb_secret_…"}.
 */
export async function keys(options: KeysOptions = {}): Promise<void> {
  const secret = await resolveJwtSecret(loadConfig());
  const printed = options.opaque ? opaqueKeys(secret) : await projectKeys(secret);
  process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
}

export interface TokenOptions {
  sub: string;
  role: string;
  ttl: number;
}

/** `loconomy token --sub <clerk_user_id>`: a user JWT on stdout. */
export async function token(options: TokenOptions): Promise<void> {
  const secret = await resolveJwtSecret(loadConfig());
  process.stdout.write(
    `${await userToken(secret, { sub: options.sub, role: options.role, ttlSeconds: options.ttl })}\n`,
  );
}
