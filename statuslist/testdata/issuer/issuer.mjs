// A Status List issuer for statuslist's tests: the lists are the OpenWallet
// Foundation's @sd-jwt/jwt-status-list (StatusList, createHeaderAndPayload),
// signed ES256 with Node's crypto and served by Node's http on a free
// loopback port. It prints {"base": "http://127.0.0.1:PORT"} once listening.
//
//   GET  /jwks                                  the signing key (JWKS)
//   GET  /lists/NAME                            the Status List Token (Accept: application/statuslist+jwt, else 406)
//   POST /admin/list?name=&bits=&size=&ttl=&exp= create a list (ttl, exp in seconds from now; 0: claim left out)
//   POST /admin/status?name=&idx=&value=        set an entry (1 revokes, 2 suspends)
//   POST /admin/down?name=&down=1|0             answer 503 for the list, or serve it again
//   POST /admin/token?name=&idx=                a Referenced Token (JWT) pointing at the entry
//   GET  /admin/fetches?name=                   how many times the list was served
import http from 'node:http';
import crypto from 'node:crypto';
import { StatusList, createHeaderAndPayload } from '@sd-jwt/jwt-status-list';

const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'status-issuer-1';
const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
const lists = new Map(); // name -> {list, ttl, exp, down, fetches}
let base = '';

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function sign(header, payload) {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

function statusListToken(name, l) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: base, sub: `${base}/lists/${name}`, iat: now };
  if (l.ttl > 0) payload.ttl = l.ttl;
  if (l.exp > 0) payload.exp = now + l.exp;
  const { header, payload: p } = createHeaderAndPayload(l.list, payload, { alg: 'ES256', typ: 'statuslist+jwt', kid });
  return sign(header, p);
}

function num(q, k, def) {
  const v = q.get(k);
  return v === null || v === '' ? def : Number(v);
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, base);
  const q = u.searchParams;
  const send = (code, body, type = 'application/json') => {
    res.writeHead(code, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  try {
    if (req.method === 'GET' && u.pathname === '/jwks') return send(200, { keys: [jwk] });
    if (req.method === 'GET' && u.pathname.startsWith('/lists/')) {
      const name = u.pathname.slice('/lists/'.length);
      const l = lists.get(name);
      if (!l) return send(404, { error: 'no such list' });
      if (l.down) return send(503, { error: 'down' });
      if (!(req.headers.accept || '').includes('application/statuslist+jwt')) return send(406, { error: 'Accept application/statuslist+jwt' });
      l.fetches++;
      return send(200, statusListToken(name, l), 'application/statuslist+jwt');
    }
    if (req.method === 'POST' && u.pathname === '/admin/list') {
      const name = q.get('name');
      const bits = num(q, 'bits', 1);
      const size = num(q, 'size', 1024);
      lists.set(name, { list: new StatusList(new Array(size).fill(0), bits), ttl: num(q, 'ttl', 0), exp: num(q, 'exp', 0), down: false, fetches: 0 });
      return send(200, { uri: `${base}/lists/${name}` });
    }
    const l = lists.get(q.get('name'));
    if (!l) return send(404, { error: 'no such list' });
    if (req.method === 'POST' && u.pathname === '/admin/status') {
      l.list.setStatus(num(q, 'idx', 0), num(q, 'value', 1));
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && u.pathname === '/admin/down') {
      l.down = q.get('down') === '1';
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && u.pathname === '/admin/token') {
      const now = Math.floor(Date.now() / 1000);
      const token = sign({ alg: 'ES256', typ: 'JWT', kid }, {
        iss: base, sub: 'user-1', iat: now, exp: now + 3600,
        status: { status_list: { idx: num(q, 'idx', 0), uri: `${base}/lists/${q.get('name')}` } },
      });
      return send(200, { token });
    }
    if (req.method === 'GET' && u.pathname === '/admin/fetches') return send(200, { fetches: l.fetches });
    return send(404, { error: 'not found' });
  } catch (e) {
    return send(400, { error: String(e && e.message || e) });
  }
});

server.listen(0, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(JSON.stringify({ base }) + '\n');
});
// The test closes stdin when it is done: exit with it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
