import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPublicAddress } from '../../src/webhooks/address.js';

// What a webhook may reach (decision 0022): public unicast only, however the address is written.
test('non-public addresses are refused, IPv4 and IPv6, including IPv4 inside IPv6', () => {
  for (const address of [
    '0.0.0.0',
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fe80::1',
    'fd00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    'not-an-ip',
  ])
    assert.equal(isPublicAddress(address), false, address);
});

test('public addresses are allowed', () => {
  for (const address of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])
    assert.equal(isPublicAddress(address), true, address);
});
