// An independent receipt verifier: Node's own Ed25519, a canonical JSON written here (RFC 8785
// for the strings, integers, booleans and objects a receipt holds) and a base58 decoder. It reads
// {"receipt": ..., "did": ...} on stdin and prints "ok" or "bad".
import { createPublicKey, verify } from 'node:crypto';

function canon(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  // RFC 8785 sorts member names by their UTF-16 code units: JavaScript's default sort order.
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
}

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58(s) {
  let n = 0n;
  for (const c of s) {
    const d = ALPHABET.indexOf(c);
    if (d < 0) throw new Error('not base58');
    n = n * 58n + BigInt(d);
  }
  const out = [];
  while (n > 0n) { out.unshift(Number(n % 256n)); n /= 256n; }
  for (const c of s) { if (c !== '1') break; out.unshift(0); }
  return Buffer.from(out);
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { receipt, did } = JSON.parse(input);
if (!did.startsWith('did:key:z')) throw new Error('not a did:key');
const raw = base58(did.slice('did:key:z'.length));
if (raw[0] !== 0xed || raw[1] !== 0x01 || raw.length !== 34) throw new Error('not an Ed25519 did:key');
const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(2).toString('base64url') }, format: 'jwk' });
const { receipt_signature: sig, ...unsigned } = receipt;
const ok = verify(null, Buffer.from(canon(unsigned), 'utf8'), key, Buffer.from(sig, 'base64'));
process.stdout.write(ok ? 'ok' : 'bad');
