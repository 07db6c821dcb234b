const fs = require("fs");
console.log("environ:", JSON.stringify(process.env));
for (const p of ["/etc/shadow", "/etc/passwd", "/proc/self/environ", "/tmp/atlas-sandbox-canary"]) {
  try {
    console.log("ESCAPED:", p, fs.readFileSync(p, "utf8").slice(0, 200));
  } catch (e) {
    console.log("blocked", p, e.code);
  }
}
