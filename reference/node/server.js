// node: net.createServer and http.get with callbacks (the demo's
// nodeserver.js, with its bugs fixed). Bytes are split into lines by hand;
// each request takes a slot in a queue, and answers leave from its head, so
// they go out in request order even when fetches finish out of order.
'use strict';
const crypto = require('crypto');
const net = require('net');
const http = require('http');

const MAX_LINE = 65536;
const TOO_LONG = Buffer.from('error: line too long\n');
const ECHO = Buffer.from('echo: ');
const NL = Buffer.from('\n');
const MAX_WORK = 1000000;
const WORK_ERROR = Buffer.from('error: work: want a decimal number from 0 to 1000000\n');

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
if (!['echo', 'fetch', 'work'].includes(mode)) fail(`MODE=${JSON.stringify(mode)}: want echo, fetch or work`);
if (client !== 'pooled' && client !== 'per-request') fail(`UPSTREAM_CLIENT=${JSON.stringify(client)}: want per-request or pooled`);
if (!/^https?:\/\//.test(upstream)) fail(`UPSTREAM_URL=${JSON.stringify(upstream)}: want an http:// URL`);

// work answers a work line (v1.2): N chained SHA-256 rounds over the
// payload's bytes, computed right here on the event loop, as a callback
// would.
function work(payload) {
  if (!/^[0-9]{1,7}$/.test(payload.toString('latin1')) || Number(payload.toString('latin1')) > MAX_WORK) return WORK_ERROR;
  let h = crypto.createHash('sha256').update(payload).digest();
  for (let i = Number(payload.toString('latin1')); i > 0; i--) h = crypto.createHash('sha256').update(h).digest();
  return Buffer.from(`echo: ${h.toString('hex')}\n`);
}

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

// Backpressure (PROTOCOL.md v1.2): a socket is paused while node holds more
// than MAX_UNSENT bytes it has not yet sent, or while MAX_IN_PROGRESS of its
// fetches are out, and resumed on 'drain' or when a fetch comes back. Lines
// read but not yet started wait in `buffered` meanwhile.
const MAX_UNSENT = 1 << 20;
const MAX_IN_PROGRESS = 64;

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let buffered = Buffer.alloc(0);
  const queue = []; // slots {answer} in request order
  let inProgress = 0; // fetches out
  let ended = false; // the client half-closed
  let closing = false; // no further requests: input ended or was too long
  let closed = false;

  function over() {
    return inProgress >= MAX_IN_PROGRESS || socket.writableLength > MAX_UNSENT;
  }

  function flush() {
    const out = [];
    while (queue.length > 0 && queue[0].answer) out.push(queue.shift().answer);
    if (out.length > 0) socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    if (closing && queue.length === 0 && !closed) {
      closed = true;
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
    if (mode === 'work') {
      queue.push({ answer: work(payload) });
      return;
    }
    const slot = { answer: null };
    queue.push(slot);
    inProgress++;
    fetch(Buffer.from(payload), (answer) => {
      inProgress--;
      slot.answer = answer;
      flush();
      pump();
    });
  }

  function tooLong() {
    queue.push({ answer: TOO_LONG });
    closing = true;
    buffered = Buffer.alloc(0);
    flush();
  }

  // pump starts the buffered requests while the connection is under both
  // bounds, writes what is ready, and pauses or resumes reading to match.
  function pump() {
    if (closing) return;
    let start = 0;
    let nl;
    while (inProgress < MAX_IN_PROGRESS && (nl = buffered.indexOf(10, start)) !== -1) {
      if (nl - start > MAX_LINE) return tooLong();
      request(buffered.subarray(start, nl));
      start = nl + 1;
    }
    if (start > 0) buffered = Buffer.from(buffered.subarray(start));
    const whole = buffered.indexOf(10) !== -1;
    if (!whole && buffered.length > MAX_LINE) return tooLong();
    if (ended && !whole) closing = true; // every request started; a partial line is none
    flush();
    if (closing) return;
    if (over()) socket.pause();
    else if (!ended) socket.resume();
  }

  socket.on('data', (chunk) => {
    if (closing) return; // after too-long, or every request started after the end: dropped
    buffered = buffered.length > 0 ? Buffer.concat([buffered, chunk]) : chunk;
    pump();
    if (buffered === chunk) buffered = Buffer.from(chunk); // the chunk is not ours to keep
  });
  socket.on('drain', pump);
  socket.on('end', () => { ended = true; pump(); });
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
