import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { restTarget } from '../../src/rest/parse/target.js';

/** What the REST plugin read from a target before restTarget: the URL parser's reading. */
function byUrlParser(target: string) {
  const url = new URL(target, 'http://loconomy.invalid');
  const path = decodeURIComponent(url.pathname.replace(/^\/rest\/v1\//, '')).replace(/\/+$/, '');
  return { path, search: [...url.searchParams] };
}

describe('restTarget', () => {
  // Plain targets take the raw text; the others go through new URL(): both must read alike.
  const targets = [
    '/rest/v1/listings',
    '/rest/v1/listings/',
    '/rest/v1/listings//',
    '/rest/v1/rpc/search_listings?q=plumber',
    '/rest/v1/listings?id=eq.5&select=*',
    '/rest/v1/listings?select=*,provider:user_profiles(*),category:categories(*)&status=eq.active&limit=20',
    '/rest/v1/listings?title=like.*a+b*&note=%20x%2B&or=(a.eq.1,b.eq.2)',
    '/rest/v1/listings?title=eq.o\'brien&tags=cs.{"a","b"}&x=<>`|\\^',
    '/rest/v1/listings?a=1#fragment',
    '/rest/v1/listings?title=eq.café',
    '/rest/v1/listings?title=eq.a b',
    '/rest/v1/listings?',
    '/rest/v1/listings?=&&a&b=',
    '/rest/v1/list%20ings?a=%zz',
    '/rest/v1/%6Cistings',
    '/rest/v1/rpc%2Fsearch_listings',
    '/rest/v1/./listings',
    '/rest/v1/../v1/listings',
    '/rest/v1/%2e%2E/listings',
    '/rest/v1/a.b',
    '/rest/v1\\listings',
    '/rest/v1/läden',
    '/rest/v1/',
    '/rest/v1',
    '/elsewhere/listings',
  ];
  for (const target of targets) {
    test(`reads ${JSON.stringify(target)} as the URL parser does`, () => {
      const { path, search } = restTarget(target, '/rest/v1/');
      assert.deepEqual({ path, search: [...search] }, byUrlParser(target));
    });
  }

  test('a malformed escape in the path is still refused as before', () => {
    assert.throws(() => restTarget('/rest/v1/a%zz', '/rest/v1/'), URIError);
    assert.throws(() => byUrlParser('/rest/v1/a%zz'), URIError);
  });
});
