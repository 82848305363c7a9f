/*
 * Stripe's request encoding, as the double reads it: application/x-www-form-urlencoded with
 * bracket notation for nesting (`capabilities[card_payments][requested]=true`) and indices for
 * arrays (`expand[0]=data.object`), every value a string. The SDK encodes with `qs` that way.
 */

export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

/** `a[b][0][c]` → ['a', 'b', '0', 'c']. */
function keyPath(key: string): string[] {
  const head = key.match(/^[^[]+/)?.[0];
  if (head === undefined) throw new Error(`malformed parameter name ${JSON.stringify(key)}`);
  const rest = [...key.slice(head.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] as string);
  return [head, ...rest];
}

/** Objects whose keys are exactly 0..n-1 (or `[]` appends) become arrays. */
function arrays(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const converted: FormObject = {};
  for (const k of keys) converted[k] = arrays(value[k] as FormValue);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => converted[k] as FormValue);
  return converted;
}

/** Parses a form-encoded body or query string into Stripe's nested parameters. */
export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  const appended = new Map<FormObject, number>();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = decode(eq < 0 ? '' : pair.slice(eq + 1));
    const path = keyPath(key);
    let node: FormObject = root;
    path.forEach((segment, i) => {
      let name = segment;
      if (name === '') {
        // `a[]=x`: the next index of this array.
        const n = appended.get(node) ?? 0;
        appended.set(node, n + 1);
        name = String(n);
      }
      if (i === path.length - 1) {
        node[name] = value;
        return;
      }
      const next = node[name];
      if (next === undefined || typeof next === 'string' || Array.isArray(next)) node[name] = {};
      node = node[name] as FormObject;
    });
  }
  return arrays(root) as FormObject;
}
