// node: net.createServer and http.get with callbacks (the demo's
// nodeserver.js, with its bugs fixed). Bytes are split into lines by hand;
// each request takes a slot in a queue, and answers leave from its head, so
// they go out in request order even when fetches finish out of order.
'use strict';
const net = require('net');
const http = require('http');

const MAX_LINE = 65536;
const TOO_LONG = Buffer.from('error: line too long\n');
const ECHO = Buffer.from('echo: ');
const NL = Buffer.from('\n');

function fail(msg) {
  process.stderr.write(`node: ${msg}\n`);
  process.exit(2);
}
function intEnv(key, dflt) {
  const v = process.env[key];
  if (!v) return dflt;
  if (!/^-?\d+$/.test(v)) fail(`${key}=${JSON.stringify(v)}: not a number`);
  return parseInt(v, 10);
}
const port = intEnv('PORT', 7000);
const mode = process.env.MODE || 'echo';
const upstream = (process.env.UPSTREAM_URL || 'http://upstream:8080').replace(/\/$/, '');
const timeout = intEnv('UPSTREAM_TIMEOUT_MS', 5000);
const client = process.env.UPSTREAM_CLIENT || 'pooled';
if (mode !== 'echo' && mode !== 'fetch') fail(`MODE=${JSON.stringify(mode)}: want echo or fetch`);
if (client !== 'pooled' && client !== 'per-request') fail(`UPSTREAM_CLIENT=${JSON.stringify(client)}: want per-request or pooled`);
if (!/^https?:\/\//.test(upstream)) fail(`UPSTREAM_URL=${JSON.stringify(upstream)}: want an http:// URL`);

const MAX_BODY = 1 << 20;
const POOL_SIZE = 1024;
// UPSTREAM_CLIENT: per-request is an agent with keep-alive off (node 18's
// default; node 19 and later keep alive by default), a connection per fetch
// as the demo had; pooled keeps up to POOL_SIZE
// idle connections. http.get never follows redirects.
const agent = client === 'pooled'
  ? new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: POOL_SIZE })
  : new http.Agent({ keepAlive: false, maxSockets: Infinity });

// encode percent-encodes raw bytes: encodeURIComponent would mangle invalid UTF-8.
function encode(buf) {
  let s = '';
  for (const b of buf) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9_.~-]/.test(c) ? c : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return s;
}

function upstreamError(detail) {
  return Buffer.from(`error: upstream: ${String(detail).replace(/[\r\n]/g, ' ')}\n`);
}

function fetch(payload, done) {
  let finished = false;
  // The timeout is for the whole call, body included (http.get's own
  // `timeout` only watches for an idle socket).
  const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeout}ms`)), timeout);
  const finish = (answer) => { if (!finished) { finished = true; clearTimeout(timer); done(answer); } };
  const req = http.get(`${upstream}/translate?text=${encode(payload)}`, { agent }, (res) => {
    const chunks = [];
    let size = 0;
    res.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        finish(upstreamError(`body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    res.on('error', (e) => finish(upstreamError(e.message)));
    res.on('end', () => {
      if (res.statusCode < 200 || res.statusCode > 299) return finish(upstreamError(`status ${res.statusCode}`));
      let body = Buffer.concat(chunks);
      let end = body.length;
      while (end > 0 && (body[end - 1] === 10 || body[end - 1] === 13)) end--;
      body = body.subarray(0, end);
      if (body.includes(10)) return finish(upstreamError('body holds a line break'));
      finish(Buffer.concat([ECHO, body, NL]));
    });
  });
  req.on('error', (e) => finish(upstreamError(e.message)));
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let buffered = Buffer.alloc(0);
  const queue = []; // slots {answer} in request order
  let closing = false; // input ended or was too long

  function flush() {
    const out = [];
    while (queue.length > 0 && queue[0].answer) out.push(queue.shift().answer);
    if (out.length > 0) socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    if (closing && queue.length === 0) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref(); // drop what it still sends
    }
  }

  function request(line) {
    let payload = line;
    if (payload.length > 0 && payload[payload.length - 1] === 13) payload = payload.subarray(0, payload.length - 1);
    if (mode === 'echo') {
      queue.push({ answer: Buffer.concat([ECHO, payload, NL]) });
      return;
    }
    const slot = { answer: null };
    queue.push(slot);
    fetch(Buffer.from(payload), (answer) => { slot.answer = answer; flush(); });
  }

  function tooLong() {
    queue.push({ answer: TOO_LONG });
    closing = true;
    buffered = Buffer.alloc(0);
    flush();
  }

  socket.on('data', (chunk) => {
    if (closing) return;
    let data = buffered.length > 0 ? Buffer.concat([buffered, chunk]) : chunk;
    let start = 0;
    let nl;
    while ((nl = data.indexOf(10, start)) !== -1) {
      if (nl - start > MAX_LINE) return tooLong();
      request(data.subarray(start, nl));
      start = nl + 1;
    }
    if (data.length - start > MAX_LINE) return tooLong();
    buffered = Buffer.from(data.subarray(start)); // a copy: the chunk is not ours to keep
    flush();
  });
  socket.on('end', () => { closing = true; flush(); });
  socket.on('error', () => socket.destroy()); // a reset affects only this socket
});

server.listen({ port, backlog: 1024 }, () => {
  const using = mode === 'fetch' ? `, upstream client ${client}` : '';
  console.log(`node: mode ${mode}${using}, listening on port ${port}`);
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
