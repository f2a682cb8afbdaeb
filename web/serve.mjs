// A small static file server for the page (any web server works: the page is static files).
// usage: node web/serve.mjs [--port 8080] [--mount /models=../shared/models]
// Serves web/ at /, and each --mount URL prefix from a local directory (the browser tests serve
// ../shared/models this way, standing in for the Hugging Face Hub).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.txt': 'text/plain; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/plain; charset=utf-8', '.zip': 'application/zip', '': 'text/plain; charset=utf-8', // LICENSE
};

export function serve({ port = 8080, mounts = {} } = {}) {
  const roots = [...Object.entries(mounts), ['/', resolve(fileURLToPath(new URL('.', import.meta.url)))]];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    for (const [prefix, dir] of roots) {
      if (!path.startsWith(prefix)) continue;
      const root = resolve(dir);
      let file = normalize(join(root, path.slice(prefix.length)));
      if (file !== root && !file.startsWith(root + sep)) break; // no escaping the root
      try {
        if (statSync(file).isDirectory()) file = join(file, 'index.html');
        const size = statSync(file).size;
        res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'content-length': size, 'cache-control': 'no-cache' });
        createReadStream(file).pipe(res);
        return;
      } catch {
        break;
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const mounts = {};
  let port = 8080;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--mount') {
      const [prefix, dir] = args[++i].split('=');
      mounts[prefix.endsWith('/') ? prefix : prefix + '/'] = dir;
    }
  }
  const server = await serve({ port, mounts });
  console.log(`edgetune page at http://localhost:${server.address().port}/`);
}
