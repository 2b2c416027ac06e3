import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CERT_SIGNATURE_HASHES, DIGEST_OID_BY_NAME, DIGEST_OIDS, ECDSA_OID_BY_HASH, SIGNATURE_OIDS } from './algorithms.ts';
import { encodeOid, oid, parse } from './der.ts';

describe('algorithm tables', () => {
  it('digest tables are inverse of each other and every OID is well-formed', () => {
    for (const [name, o] of Object.entries(DIGEST_OID_BY_NAME)) assert.equal(DIGEST_OIDS[o], name);
    for (const o of [...Object.keys(DIGEST_OIDS), ...Object.keys(SIGNATURE_OIDS)]) assert.equal(oid(parse(encodeOid(o))), o);
  });

  it('ECDSA OIDs bind the hash they are named for; certificates never accept SHA-1', () => {
    for (const [h, o] of Object.entries(ECDSA_OID_BY_HASH)) assert.deepEqual(SIGNATURE_OIDS[o], { key: 'ec', hash: h });
    assert.equal(CERT_SIGNATURE_HASHES.has('sha1'), false);
  });
});
