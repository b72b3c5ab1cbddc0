// Upstream of the live-connection tests (tests/live_test.go) and of the
// live-connections benchmark: a WebSocket server (the ws package) at /ws
// and a Server-Sent Events stream (Node's http) at /sse. Both send
// "tick <n>" every ?every=<ms> (default 100; 0: never) and the WebSocket
// echoes what it receives. Usage: node server.js [port]; it prints
// "listening <port>" once it accepts connections.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const every = (req) => {
  const v = new URL(req.url, 'http://x').searchParams.get('every');
  return v === null ? 100 : Number(v);
};

const server = http.createServer((req, res) => {
  if (!req.url.startsWith('/sse')) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write(': open\n\n');
  let n = 0;
  const ms = every(req);
  const timer = ms > 0 ? setInterval(() => res.write(`data: tick ${n++}\n\n`), ms) : null;
  req.on('close', () => timer && clearInterval(timer));
});

const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws, req) => {
  let n = 0;
  const ms = every(req);
  const timer = ms > 0 ? setInterval(() => ws.send(`tick ${n++}`), ms) : null;
  ws.on('message', (data) => ws.send(data.toString()));
  ws.on('close', () => timer && clearInterval(timer));
  ws.on('error', () => {});
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
