# workerd's own configuration for the bundled Worker (what `wrangler dev` generates for you):
#   npm run build && ../../node_modules/.bin/workerd serve config.capnp
# serves it on http://127.0.0.1:8787; `--socket-addr http=127.0.0.1:<port>` overrides the address
# (the test does that, with a free port).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ]
);

const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "dist/worker.js") ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"]
);
