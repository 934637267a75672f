// Runs Azurite's Blob service (`azurite-blob`, the package's own entry point) with its arguments, in a process of
// its own. Two additions, neither touching how Azurite serves Storage requests:
// - Azurite requires the Application Insights SDK when it loads, even with --disableTelemetry (which the stack
//   always passes): about 3,000 modules, half of Azurite's start. An inert stand-in is loaded instead, which also
//   makes sure nothing is ever sent.
// - It stops (SIGTERM, so Azurite saves its state) when the process that started it is gone.
import Module, { createRequire } from "node:module";
import { setInterval } from "node:timers";

const require = createRequire(import.meta.url);
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === "applicationinsights") return {};
  return load.call(this, request, parent, isMain);
};

const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.kill(process.pid, "SIGTERM");
}, 1000).unref();

require("azurite/dist/src/blob/main.js");
