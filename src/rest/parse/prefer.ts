import { ApiError } from '../../errors.js';

/**
 * The `Prefer` header (RFC 7240) with PostgREST's preferences. Unknown or malformed ones are
 * ignored unless `handling=strict`, which makes them a PGRST122 error, as in PostgREST.
 */
export interface Preferences {
  readonly return?: 'minimal' | 'headers-only' | 'representation';
  readonly count?: 'exact' | 'planned' | 'estimated';
  readonly resolution?: 'merge-duplicates' | 'ignore-duplicates';
  readonly missing?: 'default' | 'null';
  readonly tx?: 'commit' | 'rollback';
  readonly handling?: 'strict' | 'lenient';
  readonly maxAffected?: number;
  readonly timezone?: string;
  readonly params?: 'single-object';
  /** The preferences honoured, for the Preference-Applied response header. */
  readonly applied: readonly string[];
}

const CHOICES: Record<string, readonly string[]> = {
  return: ['minimal', 'headers-only', 'representation'],
  count: ['exact', 'planned', 'estimated'],
  resolution: ['merge-duplicates', 'ignore-duplicates'],
  missing: ['default', 'null'],
  tx: ['commit', 'rollback'],
  handling: ['strict', 'lenient'],
  params: ['single-object'],
};

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const found: Record<string, string> = {};
  const invalid: string[] = [];
  const applied: string[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    const choices = CHOICES[name];
    const valid =
      choices !== undefined
        ? choices.includes(value)
        : name === 'max-affected'
          ? /^\d{1,9}$/.test(value)
          : name === 'timezone'
            ? /^[A-Za-z0-9_+\-/:]{1,64}$/.test(value)
            : false;
    if (!valid || name in found) {
      invalid.push(item);
      continue;
    }
    found[name] = value;
    applied.push(`${name}=${value}`);
  }
  if (found.handling === 'strict' && invalid.length > 0) {
    throw new ApiError('PGRST122', {
      message: `Invalid preferences given with handling=strict`,
      details: `Invalid preferences: ${invalid.join(', ')}`,
    });
  }
  return {
    return: found.return as Preferences['return'],
    count: found.count as Preferences['count'],
    resolution: found.resolution as Preferences['resolution'],
    missing: found.missing as Preferences['missing'],
    tx: found.tx as Preferences['tx'],
    handling: found.handling as Preferences['handling'],
    maxAffected: found['max-affected'] === undefined ? undefined : Number(found['max-affected']),
    timezone: found.timezone,
    params: found.params as Preferences['params'],
    applied,
  };
}
