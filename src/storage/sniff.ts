import { fileTypeFromBuffer, supportedMimeTypes } from 'file-type';
import { StorageError } from './errors.js';

/**
 * What an upload is, decided from its bytes (file-type's signatures), not from the header the
 * client sent (decision 0026):
 * - a detected type is the object's type; a declared type that names a different one is a lie
 *   and the upload is refused (415). storage-js's default `text/plain;charset=UTF-8` and
 *   `application/octet-stream` say nothing and are not held against the content;
 * - content with no signature (text, JSON, CSV…) keeps its declared type, unless the declared
 *   type is one file-type would have recognised (an "image/png" that is not a PNG): refused;
 * - the bucket's allowed_mime_types (`image/png`, `image/*`) then apply to that type.
 */

/** How many leading bytes are kept for sniffing: file-type's largest look-ahead for common formats. */
export const SNIFF_BYTES = 64 * 1024;

const UNSPECIFIC = new Set(['text/plain', 'application/octet-stream', '']);

/** Names some clients use for the same type file-type reports. */
const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  'audio/mp3': 'audio/mpeg',
  'application/x-pdf': 'application/pdf',
};

/** `image/png; charset=…` → `image/png` (lower case, canonical name). */
export function baseType(contentType: string | undefined): string {
  const base = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return ALIASES[base] ?? base;
}

export async function sniffType(
  head: Uint8Array,
  declared: string | undefined,
  allowed: readonly string[] | null,
): Promise<string> {
  const claimed = baseType(declared);
  const detected = head.length > 0 ? (await fileTypeFromBuffer(head))?.mime : undefined;
  let type: string;
  if (detected !== undefined) {
    if (!UNSPECIFIC.has(claimed) && claimed !== detected && !related(claimed, detected)) {
      throw new StorageError(
        'InvalidMimeType',
        `The content is ${detected}, not ${claimed} as the Content-Type says: send the type of what you upload`,
      );
    }
    type = detected;
  } else {
    if (supportedMimeTypes.has(claimed)) {
      throw new StorageError(
        'InvalidMimeType',
        `The Content-Type says ${claimed} but the content is not ${claimed}: send the type of what you upload`,
      );
    }
    type = claimed === '' ? 'application/octet-stream' : declaredWithParameters(declared, claimed);
  }
  if (allowed && allowed.length > 0 && !allowed.some((pattern) => matches(pattern, baseType(type)))) {
    throw new StorageError('InvalidMimeType', `mime type ${baseType(type)} is not supported in this bucket`);
  }
  return type;
}

/** A declared text type keeps its charset (text/csv; charset=utf-8). */
function declaredWithParameters(declared: string | undefined, base: string): string {
  const rest = (declared ?? '').split(';').slice(1).join(';').trim();
  return rest && base.startsWith('text/') ? `${base}; ${rest}` : base;
}

/** Container formats file-type reports by their container: a .docx is a zip, an .svg is XML text. */
function related(claimed: string, detected: string): boolean {
  if (detected === 'application/zip') return /(openxmlformats|opendocument|zip|epub|java-archive)/.test(claimed);
  if (detected === 'application/x-cfb') return /(msword|ms-excel|ms-powerpoint|ms-outlook)/.test(claimed);
  if (detected === 'application/xml') return claimed.endsWith('+xml') || claimed === 'text/xml';
  return false;
}

/** `image/*` matches every image type; anything else matches itself. */
export function matches(pattern: string, type: string): boolean {
  const p = baseType(pattern);
  if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
  return p === type;
}
