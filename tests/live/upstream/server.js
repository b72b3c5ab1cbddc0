// Upstream of the live-connection tests (tests/live_test.go) and of the
// live-connections benchmark: a WebSocket server (the ws package) at /ws
// and a Server-Sent Events stream (Node's http) at /sse. Both send
// "tick <n>" every ?every=<ms> (default 100; 0: never) and the WebSocket
// echoes what it receives. For the first-messages tests
// (tests/ws_first_messages_test.go): a graphql-ws server at /graphql
// (connection_init's payload is its connectionParams) and a Socket.IO
// server at /socket.io/ (its auth); GET /received answers, as JSON, every
// message the /ws and /graphql servers received and every Socket.IO auth,
// so a test can tell what reached the upstream. Usage: node server.js
// [port]; it prints "listening <port>" once it accepts connections.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');
const { buildSchema } = require('graphql');
const { Server: SocketIO } = require('socket.io');

// What the upstream apps received, in order.
const received = [];

const every = (req) => {
  const v = new URL(req.url, 'http://x').searchParams.get('every');
  return v === null ? 100 : Number(v);
};

const server = http.createServer((req, res) => {
  if (req.url === '/received') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(received));
    return;
  }
  if (req.url.startsWith('/socket.io/')) {
    return; // Socket.IO's own listener answers
  }
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

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws, req) => {
  let n = 0;
  const ms = every(req);
  const timer = ms > 0 ? setInterval(() => ws.send(`tick ${n++}`), ms) : null;
  ws.on('message', (data) => {
    received.push(`ws: ${data}`);
    ws.send(data.toString());
  });
  ws.on('close', () => timer && clearInterval(timer));
  ws.on('error', () => {});
});

// graphql-ws: connection_init is acknowledged; its payload is recorded.
const graphqlWS = new WebSocketServer({ noServer: true });
graphqlWS.on('connection', (ws) => {
  ws.on('message', (data) => received.push(`graphql: ${data}`));
  ws.on('error', () => {});
});
useServer({
  schema: buildSchema('type Query { hello: String }'),
  roots: { query: { hello: () => 'world' } },
  onConnect: (ctx) => {
    received.push(`graphql connectionParams: ${JSON.stringify(ctx.connectionParams)}`);
    return true;
  },
}, graphqlWS);

server.on('upgrade', (req, socket, head) => {
  const path = new URL(req.url, 'http://x').pathname;
  const wssOf = path === '/ws' ? wss : path.endsWith('/graphql') ? graphqlWS : undefined;
  if (!wssOf) {
    return; // /socket.io/: Socket.IO's own listener
  }
  wssOf.handleUpgrade(req, socket, head, (ws) => wssOf.emit('connection', ws, req));
});

// Socket.IO v4: the auth of the connect packet is recorded.
const io = new SocketIO(server, { destroyUpgrade: false, transports: ['websocket'] });
io.use((socket, next) => {
  received.push(`socket.io auth: ${JSON.stringify(socket.handshake.auth)}`);
  next();
});
io.on('connection', (socket) => {
  socket.on('echo', (msg, ack) => ack && ack(msg));
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
