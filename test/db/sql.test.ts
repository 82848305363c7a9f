import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from '../../src/db/sql.js';

describe('the sql tag', () => {
  test('turns every interpolated value into a numbered parameter', () => {
    const q = sql`select * from t where a = ${1} and b = ${'x'} and c = ${null}`;
    assert.equal(q.text, 'select * from t where a = $1 and b = $2 and c = $3');
    assert.deepEqual(q.values, [1, 'x', null]);
  });

  test('keeps a hostile string a value, never SQL text', () => {
    const evil = "'; drop table users; --";
    const q = sql`select ${evil}`;
    assert.equal(q.text, 'select $1');
    assert.deepEqual(q.values, [evil]);
  });

  test('nests fragments and renumbers their parameters', () => {
    const where = sql`where a = ${1} and b = ${2}`;
    const q = sql`select ${0} from t ${where} limit ${3}`;
    assert.equal(q.text, 'select $1 from t where a = $2 and b = $3 limit $4');
    assert.deepEqual(q.values, [0, 1, 2, 3]);
  });

  test('passes arrays and objects as one parameter each', () => {
    const q = sql`select ${[1, 2]}::int[], ${{ a: 1 }}::jsonb`;
    assert.equal(q.text, 'select $1::int[], $2::jsonb');
    assert.deepEqual(q.values, [[1, 2], { a: 1 }]);
  });

  test('joins values and fragments with a separator', () => {
    const q = sql`insert into t values (${sql.join([1, sql`now()`, 'x'])})`;
    assert.equal(q.text, 'insert into t values ($1, now(), $2)');
    assert.deepEqual(q.values, [1, 'x']);
    const or = sql.join([sql`a = ${1}`, sql`b = ${2}`], sql` or `);
    assert.equal(or.text, 'a = $1 or b = $2');
  });

  test('joins nothing into nothing', () => {
    assert.equal(sql`select 1 ${sql.join([])}`.text, 'select 1 ');
  });

  test('inserts raw compile-time text verbatim and sql.empty as nothing', () => {
    assert.equal(sql`select ${sql.raw('now()')}${sql.empty}`.text, 'select now()');
  });

  test('compiles a fragment once however often it is read', () => {
    const q = sql`select ${1}`;
    assert.equal(q.text, q.text);
    assert.equal(q.values, q.values);
  });
});

describe('sql.ident', () => {
  test('double-quotes a name', () => {
    assert.equal(sql`select * from ${sql.ident('users')}`.text, 'select * from "users"');
  });

  test('joins schema and name with a dot, each quoted', () => {
    assert.equal(sql.ident('auth', 'users').text, '"auth"."users"');
  });

  test('doubles embedded double quotes, so a name cannot close its quotes', () => {
    assert.equal(sql.ident('a"b').text, '"a""b"');
    assert.equal(sql.ident('x"; drop table users; --').text, '"x""; drop table users; --"');
    assert.equal(sql.ident('"').text, '""""');
  });

  test('keeps case, spaces, dots and unicode inside the quotes', () => {
    assert.equal(sql.ident('My Table.v2 ü').text, '"My Table.v2 ü"');
  });

  test('adds no parameters', () => {
    assert.deepEqual(sql`select ${sql.ident('a')}`.values, []);
  });

  test('refuses NUL, which PostgreSQL cannot store and some drivers truncate at', () => {
    assert.throws(() => sql.ident('users\0; drop table x'), /NUL/);
  });

  test('refuses an empty name', () => {
    assert.throws(() => sql.ident(''), /empty/);
    assert.throws(() => sql.ident(), /at least one/);
  });

  test('refuses names PostgreSQL would silently truncate (over 63 bytes)', () => {
    assert.equal(sql.ident('a'.repeat(63)).text, `"${'a'.repeat(63)}"`);
    assert.throws(() => sql.ident('a'.repeat(64)), /63 bytes/);
    assert.throws(() => sql.ident('é'.repeat(32)), /63 bytes/); // 64 bytes in UTF-8
  });

  test('refuses non-strings smuggled past the type checker', () => {
    assert.throws(() => sql.ident(42 as unknown as string), /expects strings/);
  });
});
