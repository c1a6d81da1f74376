// node-cluster: node's own server (../node/server.js, unchanged) in one
// worker process per core the container may use, with node's cluster
// module: how node is run on a multi-core machine without a proxy in front.
// On Linux the primary accepts every connection and hands it to a worker in
// turn (cluster.SCHED_RR, the default); the workers' answers do not pass
// through it.
'use strict';
const cluster = require('node:cluster');
const os = require('node:os');

if (!cluster.isPrimary) {
  require('./server.js');
  return;
}

// availableParallelism follows the CPU affinity (the container's cpuset).
const workers = os.availableParallelism();
let stopping = false;
let status = 0; // the server's exit code once every worker is gone
for (let i = 0; i < workers; i++) cluster.fork();
console.log(`node-cluster: ${workers} worker(s), one per core`);

// A worker that dies takes the server with it, as a crash takes a single
// node process: the lab then sees the crash, not a server that quietly lost
// a share of its connections. A worker that refuses its settings (a bad
// MODE, say) ends the server with its exit code.
cluster.on('exit', (worker, code, signal) => {
  if (stopping) {
    if (Object.keys(cluster.workers).length === 0) process.exit(status);
    return;
  }
  process.stderr.write(`node-cluster: worker ${worker.process.pid} ended (${signal || 'exit ' + code}); stopping\n`);
  stopping = true;
  status = code || 1;
  const left = Object.values(cluster.workers);
  if (left.length === 0) process.exit(status);
  for (const w of left) w.process.kill('SIGTERM');
  setTimeout(() => process.exit(status), 1000).unref();
});

process.on('SIGTERM', () => {
  stopping = true;
  const left = Object.values(cluster.workers);
  if (left.length === 0) process.exit(status);
  for (const w of left) w.process.kill('SIGTERM');
  setTimeout(() => process.exit(status), 2000).unref();
});
