// Load settings from a JSON configuration file, falling back to defaults.
const fs = require("fs");

const DEFAULTS = { host: "127.0.0.1", port: 8080, debug: false };

function loadConfig(path) {
  const raw = fs.readFileSync(path, "utf8");
  const settings = JSON.parse(raw);
  return { ...DEFAULTS, ...settings };
}

module.exports = { loadConfig };
