// Startup baseline: raw node:http GET /_ping on the engine's socket, read the body, exit.
import http from 'node:http';

const socketPath = process.env.BENCH_SOCKET || '/var/run/docker.sock';
http
  .get({ socketPath, path: '/_ping' }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => {
      if (res.statusCode !== 200 || body !== 'OK') {
        console.error(`unexpected answer: ${res.statusCode} ${body}`);
        process.exitCode = 1;
      }
    });
  })
  .on('error', (err) => {
    console.error(err);
    process.exitCode = 1;
  });
