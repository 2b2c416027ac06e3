import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NoteError, formatCheckpoint, generateNoteKey, openCheckpoint, openNote, parseCheckpoint, parseSignerKey, parseVerifierKey,
  signCheckpoint, signNote,
} from './note.ts';

// golang.org/x/mod/sumdb/note example (package documentation and note_test.go):
// a published signer key, verifier key, text and signature.
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = GO_TEXT + '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

test('reproduces and verifies the published Go sumdb/note example byte for byte', () => {
  const signer = parseSignerKey(GO_SKEY);
  assert.equal(signer.keyId, 0xc74f20a3);
  assert.equal(signNote(GO_TEXT, [signer]), GO_NOTE);
  const v = parseVerifierKey(GO_VKEY);
  assert.deepEqual(openNote(GO_NOTE, [v]), { text: GO_TEXT, verifiedBy: ['PeterNeumann'] });
  assert.throws(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [v]), NoteError);
});

test('verifier key strings: any mangling is refused', () => {
  for (let i = 0; i < GO_VKEY.length; i++) {
    const c = GO_VKEY.charCodeAt(i);
    const bad = GO_VKEY.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + GO_VKEY.slice(i + 1);
    if (bad === GO_VKEY) continue;
    assert.throws(() => parseVerifierKey(bad), NoteError, bad);
  }
  assert.throws(() => parseVerifierKey(GO_VKEY.slice(0, -4)), NoteError);
});

test('unknown keys are ignored, a known key with a bad signature rejects, none known rejects', () => {
  const a = generateNoteKey('rampart.example/audit');
  const b = generateNoteKey('other.example/log');
  const text = 'hello\n';
  const both = signNote(text, [parseSignerKey(a.signerKey), parseSignerKey(b.signerKey)]);
  assert.equal(openNote(both, [parseVerifierKey(a.verifierKey)]).text, text);
  assert.throws(() => openNote(both, [parseVerifierKey(GO_VKEY)]), /not signed by a trusted key/);
  // Same name, different key: ignored (id differs), so "not signed by a trusted key".
  const c = generateNoteKey('rampart.example/audit');
  assert.throws(() => openNote(both, [parseVerifierKey(c.verifierKey)]), /not signed by a trusted key/);
  // Corrupt the signature bytes of the known key.
  const lines = both.split('\n');
  const sigLine = lines[2] as string;
  const blob = Buffer.from(sigLine.split(' ')[2] as string, 'base64');
  blob[10] = (blob[10] as number) ^ 1;
  lines[2] = `\u2014 rampart.example/audit ${blob.toString('base64')}`;
  assert.throws(() => openNote(lines.join('\n'), [parseVerifierKey(a.verifierKey)]), /invalid signature/);
});

test('malformed notes are refused', () => {
  const v = parseVerifierKey(GO_VKEY);
  for (const bad of [GO_NOTE.slice(0, -1), GO_TEXT, GO_NOTE.replace('\u2014', '-'), GO_NOTE.replace('x08go', 'x08g!'), 'a\u0001\n\n' + GO_NOTE.split('\n\n')[1]]) {
    assert.throws(() => openNote(bad, [v]), NoteError);
  }
  assert.throws(() => signNote('no newline', [parseSignerKey(GO_SKEY)]), NoteError);
  assert.throws(() => signNote('lone \ud800\n', [parseSignerKey(GO_SKEY)]), NoteError);
  assert.throws(() => generateNoteKey('has space'), NoteError);
  assert.throws(() => generateNoteKey('has+plus'), NoteError);
});

test('checkpoints: format, sign, open', () => {
  const k = generateNoteKey('rampart.example/audit');
  const root = Buffer.alloc(32, 7);
  const cp = { origin: 'rampart.example/audit', size: 12345, rootHash: root };
  const body = formatCheckpoint(cp);
  assert.equal(body, `rampart.example/audit\n12345\n${root.toString('base64')}\n`);
  const note = signCheckpoint(cp, parseSignerKey(k.signerKey));
  assert.match(note, /^rampart\.example\/audit\n12345\n[A-Za-z0-9+/=]{44}\n\n\u2014 rampart\.example\/audit [A-Za-z0-9+/=]+\n$/);
  const got = openCheckpoint(note, parseVerifierKey(k.verifierKey), 'rampart.example/audit');
  assert.equal(got.size, 12345);
  assert.deepEqual(Buffer.from(got.rootHash), root);
  assert.throws(() => openCheckpoint(note, parseVerifierKey(k.verifierKey), 'other'), /another log/);
  assert.throws(() => openCheckpoint(note.replace('12345', '12346'), parseVerifierKey(k.verifierKey)), /invalid signature/);
  for (const bad of ['o\n01\n' + root.toString('base64') + '\n', 'o\n1\nAAAA\n', 'o\n-1\n' + root.toString('base64') + '\n', 'o\n1\n']) {
    assert.throws(() => parseCheckpoint(bad), NoteError, bad);
  }
  assert.deepEqual(parseCheckpoint(`o\n1\n${root.toString('base64')}\next a\n`).extensions, ['ext a']);
});
