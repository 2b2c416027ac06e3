// RC2 (RFC 2268) block cipher with CBC mode and PKCS#7 padding. Needed only to
// read legacy PKCS#12 files (pbeWithSHAAnd40BitRC2-CBC, the certificate bags
// of older macOS Keychain exports and `openssl pkcs12 -export -legacy`): RC2
// lives in OpenSSL 3's legacy provider, which Node does not load. Pure: no I/O.

/** RFC 2268 section 2: the "random" permutation based on the digits of pi. */
const PITABLE = Uint8Array.from(Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2' +
  '179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82' +
  '54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
  '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7' +
  '08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec' +
  'c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
  '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9' +
  '0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
));

const BLOCK = 8;

/** RFC 2268 section 2: the 64 16-bit round keys from a key of 1..128 bytes and an effective key length in bits (1..1024). */
export function rc2ExpandKey(key: Uint8Array, effectiveBits: number): Uint16Array {
  const t = key.length;
  if (t < 1 || t > 128) throw new RangeError('RC2 key must be 1..128 bytes');
  if (!Number.isInteger(effectiveBits) || effectiveBits < 1 || effectiveBits > 1024) throw new RangeError('RC2 effective key bits must be 1..1024');
  const l = new Uint8Array(128);
  l.set(key);
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1]! + l[i - t]!) & 0xff]!;
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff % (1 << (8 + effectiveBits - 8 * t8));
  l[128 - t8] = PITABLE[l[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1]! ^ l[i + t8]!]!;
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l[2 * i]! | (l[2 * i + 1]! << 8);
  return k;
}

const S = [1, 2, 3, 5] as const;

function encryptBlock(k: Uint16Array, inp: Uint8Array, inOff: number, out: Uint8Array, outOff: number): void {
  const r = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) r[i] = inp[inOff + 2 * i]! | (inp[inOff + 2 * i + 1]! << 8);
  let j = 0;
  const mix = (): void => {
    for (let i = 0; i < 4; i++) {
      const a = r[(i + 3) & 3]!, b = r[(i + 2) & 3]!, c = r[(i + 1) & 3]!;
      const v = (r[i]! + k[j++]! + (a & b) + (~a & c)) & 0xffff;
      r[i] = ((v << S[i]!) | (v >>> (16 - S[i]!))) & 0xffff;
    }
  };
  const mash = (): void => {
    for (let i = 0; i < 4; i++) r[i] = (r[i]! + k[r[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let n = 0; n < 5; n++) mix();
  mash();
  for (let n = 0; n < 6; n++) mix();
  mash();
  for (let n = 0; n < 5; n++) mix();
  for (let i = 0; i < 4; i++) {
    out[outOff + 2 * i] = r[i]! & 0xff;
    out[outOff + 2 * i + 1] = r[i]! >>> 8;
  }
}

function decryptBlock(k: Uint16Array, inp: Uint8Array, inOff: number, out: Uint8Array, outOff: number): void {
  const r = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) r[i] = inp[inOff + 2 * i]! | (inp[inOff + 2 * i + 1]! << 8);
  let j = 63;
  const rmix = (): void => {
    for (let i = 3; i >= 0; i--) {
      const v = r[i]!;
      const rot = ((v >>> S[i]!) | (v << (16 - S[i]!))) & 0xffff;
      const a = r[(i + 3) & 3]!, b = r[(i + 2) & 3]!, c = r[(i + 1) & 3]!;
      r[i] = (rot - k[j--]! - (a & b) - (~a & c & 0xffff)) & 0xffff;
    }
  };
  const rmash = (): void => {
    for (let i = 3; i >= 0; i--) r[i] = (r[i]! - k[r[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let n = 0; n < 5; n++) rmix();
  rmash();
  for (let n = 0; n < 6; n++) rmix();
  rmash();
  for (let n = 0; n < 5; n++) rmix();
  for (let i = 0; i < 4; i++) {
    out[outOff + 2 * i] = r[i]! & 0xff;
    out[outOff + 2 * i + 1] = r[i]! >>> 8;
  }
}

/** One 8-byte block, ECB (for the RFC 2268 test vectors). */
export function rc2EncryptBlock(key: Uint8Array, effectiveBits: number, block: Uint8Array): Uint8Array {
  if (block.length !== BLOCK) throw new RangeError('RC2 block is 8 bytes');
  const out = new Uint8Array(BLOCK);
  encryptBlock(rc2ExpandKey(key, effectiveBits), block, 0, out, 0);
  return out;
}

export function rc2DecryptBlock(key: Uint8Array, effectiveBits: number, block: Uint8Array): Uint8Array {
  if (block.length !== BLOCK) throw new RangeError('RC2 block is 8 bytes');
  const out = new Uint8Array(BLOCK);
  decryptBlock(rc2ExpandKey(key, effectiveBits), block, 0, out, 0);
  return out;
}

/** CBC with PKCS#7 padding. */
export function rc2CbcEncrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (iv.length !== BLOCK) throw new RangeError('RC2 IV is 8 bytes');
  const k = rc2ExpandKey(key, effectiveBits);
  const pad = BLOCK - (data.length % BLOCK);
  const out = new Uint8Array(data.length + pad);
  out.set(data);
  out.fill(pad, data.length);
  const prev = Uint8Array.from(iv);
  for (let off = 0; off < out.length; off += BLOCK) {
    for (let i = 0; i < BLOCK; i++) out[off + i]! ^= prev[i]!;
    encryptBlock(k, out, off, out, off);
    prev.set(out.subarray(off, off + BLOCK));
  }
  return out;
}

/** CBC with PKCS#7 padding; throws on a length or padding error (a wrong key, usually). */
export function rc2CbcDecrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (iv.length !== BLOCK) throw new RangeError('RC2 IV is 8 bytes');
  if (data.length === 0 || data.length % BLOCK !== 0) throw new RangeError('RC2 ciphertext is not a whole number of blocks');
  const k = rc2ExpandKey(key, effectiveBits);
  const out = new Uint8Array(data.length);
  let prev = iv;
  for (let off = 0; off < data.length; off += BLOCK) {
    decryptBlock(k, data, off, out, off);
    for (let i = 0; i < BLOCK; i++) out[off + i]! ^= prev[i]!;
    prev = data.subarray(off, off + BLOCK);
  }
  const pad = out[out.length - 1]!;
  if (pad < 1 || pad > BLOCK) throw new RangeError('bad padding');
  for (let i = out.length - pad; i < out.length; i++) if (out[i] !== pad) throw new RangeError('bad padding');
  return out.subarray(0, out.length - pad);
}
