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
}

/** The preferences a response may echo in Preference-Applied, in the order PostgREST lists them. */
export type PreferenceName =
  | 'resolution'
  | 'missing'
  | 'return'
  | 'params'
  | 'count'
  | 'tx'
  | 'handling'
  | 'timezone'
  | 'max-affected';
const APPLIED_ORDER: readonly PreferenceName[] = [
  'resolution',
  'missing',
  'return',
  'params',
  'count',
  'tx',
  'handling',
  'timezone',
  'max-affected',
];

/**
 * The Preference-Applied value for a response that honours `echo`. `tx` only counts when the
 * server lets Prefer: tx override its default; max-affected only under handling=strict.
 */
export function preferenceApplied(
  prefer: Preferences,
  echo: readonly PreferenceName[],
  txAllowed: boolean,
): string | undefined {
  const values: string[] = [];
  for (const name of APPLIED_ORDER) {
    if (!echo.includes(name)) continue;
    if (name === 'tx' && !txAllowed) continue;
    if (name === 'max-affected' && prefer.handling !== 'strict') continue;
    const value = name === 'max-affected' ? prefer.maxAffected : prefer[name];
    if (value !== undefined) values.push(`${name}=${value}`);
  }
  return values.length > 0 ? values.join(', ') : undefined;
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
  };
}
