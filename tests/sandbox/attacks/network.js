const net = require("net");
const port = Number(require("fs").readFileSync(0, "utf8").trim() || "1");
let pending = 2;
const done = () => { if (--pending === 0) process.exit(0); };
for (const host of ["127.0.0.1", "1.1.1.1"]) {
  const s = net.connect({ host, port: host === "127.0.0.1" ? port : 80, timeout: 1000 });
  s.on("connect", () => { console.log("ESCAPED: connected to", host); s.destroy(); done(); });
  s.on("error", (e) => { console.log("blocked", host, e.code); done(); });
  s.on("timeout", () => { console.log("blocked (timeout)", host); s.destroy(); done(); });
}
