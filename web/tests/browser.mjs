// Drives index.html in headless Chromium and prints one JSON object with what it saw.
//
//   node web/tests/browser.mjs train --out DIR [--no-webgpu] [--steps N] [--distance D]
//                                    [--lose-device]
//   node web/tests/browser.mjs demo  --out DIR --value V --distance D --seed S [--evaluate]
//                                    [--lose-device]
//   node web/tests/browser.mjs demo  --out DIR --task copy --values A,B,C --distance D --seed S
//   … demo [--timeline FILE]: also opens FILE (written by `dmn stream --trace`) in the page's
//                               timeline panel, served as /stream-timeline.json
//   … demo [--weights FILE]: the demo's model loads FILE (written by `dmn export`, with
//                               FILE.sha256 beside it), served as /weights.safetensors
//   … demo [--load-state FILE]: the question starts from the memory snapshot FILE (written by
//                               `dmn stream --save-state`), served as /memory.state
//
// Serves the repository root on 127.0.0.1 (an ephemeral port), starts Debian's Chromium itself
// (playwright's own launch adds flags that break WebGPU here) and connects over CDP. `train`
// waits until N steps ran and reports the losses seen; `demo` waits for the shipped model's
// answer. Both save a screenshot in DIR. Exits non-zero with a message on any failure.
// `--lose-device` then destroys the page's WebGPU devices (captured as the page requests them)
// and waits for training to go on without them.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(new URL("../..", import.meta.url).pathname);
const [mode, ...rest] = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : fallback;
};
const flag = (name) => rest.includes(`--${name}`);
const out = resolve(arg("out", join(root, "target", "browser-test")));
mkdirSync(out, { recursive: true });

const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm",
  ".json": "application/json", ".jsonl": "text/plain", ".bpk": "application/octet-stream" };

const timelineFile = arg("timeline") ? resolve(arg("timeline")) : null;
const weightsFile = arg("weights") ? resolve(arg("weights")) : null;
const stateFile = arg("load-state") ? resolve(arg("load-state")) : null;
// Files from outside the repository, served under fixed names.
const served = new Map();
if (timelineFile) served.set("/stream-timeline.json", timelineFile);
if (stateFile) served.set("/memory.state", stateFile);
if (weightsFile) {
  served.set("/weights.safetensors", weightsFile);
  served.set("/weights.safetensors.sha256", `${weightsFile}.sha256`);
}

function serve() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const extra = served.has(path);
    const file = extra ? served.get(path) : join(root, path === "/" ? "index.html" : path);
    try {
      if (!(extra || file.startsWith(root)) || !statSync(file).isFile()) throw new Error("not a file");
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
      res.end(readFileSync(file));
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

function startChromium(webgpu) {
  const profile = mkdtempSync(join(tmpdir(), "dmn-chromium-"));
  const args = ["--headless=new", "--no-sandbox", "--disable-gpu-sandbox",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", `--user-data-dir=${profile}`,
    "--remote-debugging-port=0", "--window-size=1280,800"];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  const proc = spawn(process.env.DMN_CHROMIUM ?? "/usr/bin/chromium", args,
    { stdio: ["ignore", "ignore", "pipe"] });
  const url = new Promise((ok, fail) => {
    let text = "";
    proc.stderr.on("data", (d) => {
      text += d;
      const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) ok(m[1]);
    });
    proc.on("exit", (code) => fail(new Error(`chromium exited (${code}): ${text.slice(-500)}`)));
  });
  const stderr = [];
  proc.stderr.on("data", (d) => stderr.push(String(d)));
  return { proc, url, profile, stderr };
}

// Starts Chromium and connects; a start whose DevTools connection stalls (seen now and then on a
// loaded two-core machine) is killed and retried.
async function openBrowser(webgpu) {
  for (let attempt = 1; ; attempt++) {
    const browser = startChromium(webgpu);
    try {
      const cdp = await chromium.connectOverCDP(await browser.url, { timeout: 30000 });
      return { browser, cdp };
    } catch (e) {
      await closeBrowser(browser);
      if (attempt === 3) throw e;
      console.error(`chromium start ${attempt} failed (${String(e).split("\n")[0]}); retrying`);
    }
  }
}

async function closeBrowser(browser) {
  const exited = new Promise((ok) => browser.proc.once("exit", ok));
  browser.proc.kill("SIGKILL");
  await exited;
  try {
    rmSync(browser.profile, { recursive: true, force: true, maxRetries: 5 });
  } catch {
    // a profile left in the temporary directory is harmless
  }
}

const body = (page, name) =>
  page.evaluate((n) => document.body.getAttribute(`data-dmn-${n}`), name);

// Waits until `<body>` carries `data-dmn-<name>` or an error; false on timeout.
const settled = (page, name, seconds, polling) =>
  page
    .waitForFunction((attr) => document.body.getAttribute(attr) ??
      (document.body.getAttribute("data-dmn-error") || null), `data-dmn-${name}`,
      { timeout: seconds * 1000, polling })
    .then(() => true, () => false);

async function main() {
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}/`;
  const webgpu = !flag("no-webgpu");
  const { browser, cdp } = await openBrowser(webgpu);
  const result = { mode, webgpu };
  try {
    const context = cdp.contexts()[0] ?? (await cdp.newContext());
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
    const logs = [];
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
    const fail = async (why) => {
      await page.screenshot({ path: join(out, `${mode}-failed.png`) }).catch(() => {});
      throw new Error(`${why}\nerror attribute: ${await body(page, "error")}\n` +
        `page log:\n${logs.slice(-30).join("\n")}`);
    };
    // Keep every WebGPU device the page requests, so the test can take them away.
    await page.addInitScript(() => {
      window.__dmnGpuDevices = [];
      if (!window.GPUAdapter) return;
      const request = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await request.apply(this, args);
        window.__dmnGpuDevices.push(device);
        return device;
      };
    });
    const started = Date.now();
    if (mode === "train") {
      const want = Number(arg("steps", "20"));
      const distance = arg("distance");
      await page.goto(distance ? `${base}?distance=${distance}` : base);
      const losses = [];
      let lastStep = 0;
      const deadline = started + Number(arg("timeout", "600")) * 1000;
      while (lastStep < want) {
        if (Date.now() > deadline) await fail(`only ${lastStep} of ${want} steps ran in time`);
        const error = await body(page, "error");
        if (error) await fail(`the page reported an error: ${error}`);
        const step = Number(await body(page, "step") ?? 0);
        if (step > lastStep) {
          lastStep = step;
          losses.push(Number(await body(page, "loss")));
          if (losses.length === 1) result.first_step_ms = Date.now() - started;
        }
        await page.waitForTimeout(50);
      }
      result.seconds = (Date.now() - started) / 1000;
      result.steps = lastStep;
      result.losses = losses;
      result.steps_per_s = (losses.length - 1) / ((Date.now() - started - result.first_step_ms) / 1000);
      result.message = await page.evaluate(() => document.getElementById("dmn-message").textContent);
      result.trained_on = await body(page, "backend");
      if (flag("lose-device")) {
        // A lost device: training must say so and go on, on the CPU backend, from step 1.
        const run = Number(await body(page, "run"));
        result.devices_destroyed = await page.evaluate(() => {
          window.__dmnGpuDevices.forEach((d) => d.destroy());
          return window.__dmnGpuDevices.length;
        });
        const deadline = Date.now() + Number(arg("timeout", "600")) * 1000;
        for (;;) {
          if (Date.now() > deadline) await fail("training did not go on after the device was lost");
          const error = await body(page, "error");
          if (error) await fail(`the page reported an error after the device was lost: ${error}`);
          // The restarted run (data-dmn-run moves on) has taken two steps.
          const backend = await body(page, "backend");
          const step = Number(await body(page, "step") ?? 0);
          if (Number(await body(page, "run")) > run && step >= 2) {
            result.after_loss = { backend, step, loss: Number(await body(page, "loss")) };
            break;
          }
          await page.waitForTimeout(100);
        }
        result.message = await page.evaluate(() => document.getElementById("dmn-message").textContent);
      }
    } else if (mode === "demo") {
      const evaluate = flag("evaluate") ? "&evaluate=1" : "";
      const task = arg("task", "needle");
      const asked = task === "copy" ? `values=${arg("values")}` : `value=${arg("value")}`;
      const timeline = timelineFile ? "&timeline=stream-timeline.json" : "";
      const weights = weightsFile ? "&weights=weights.safetensors" : "";
      const state = stateFile ? "&state=memory.state" : "";
      const q = `mode=demo&task=${task}&${asked}&distance=${arg("distance")}&seed=${arg("seed", "0")}${evaluate}${timeline}${weights}${state}`;
      await page.goto(`${base}?${q}`);
      if (!(await settled(page, "answer", Number(arg("timeout", "300")), 100))) {
        await fail("no answer in time");
      }
      const error = await body(page, "error");
      if (error) await fail(`the page reported an error: ${error}`);
      // Comma-separated values, one per query; -1 where the answer is not a value.
      result.answer = await body(page, "answer");
      result.answered_on = await body(page, "backend");
      result.weights = await body(page, "weights");
      result.state_position = Number(await body(page, "state-position"));
      if (flag("lose-device")) {
        // A lost device, then Ask again (the button at the left, drawn on the canvas): the page
        // must say so and answer on the CPU backend.
        await page.evaluate(() => document.body.removeAttribute("data-dmn-answer"));
        result.devices_destroyed = await page.evaluate(() => {
          window.__dmnGpuDevices.forEach((d) => d.destroy());
          return window.__dmnGpuDevices.length;
        });
        await page.mouse.click(27, 184);
        if (!(await settled(page, "answer", Number(arg("timeout", "300")), 100))) {
          await fail("no answer after the device was lost");
        }
        const error = await body(page, "error");
        if (error) await fail(`the page reported an error after the device was lost: ${error}`);
        result.after_loss = { backend: await body(page, "backend"), answer: await body(page, "answer") };
        result.message = await page.evaluate(() => document.getElementById("dmn-message").textContent);
      }
      if (evaluate) {
        if (!(await settled(page, "evaluation", Number(arg("timeout", "900")), 500))) {
          await fail("no evaluation in time");
        }
        result.evaluation = await body(page, "evaluation");
      }
      if (timelineFile) {
        if (!(await settled(page, "timeline-tokens", 60, 100))) await fail("the timeline did not open");
        result.timeline_tokens = Number(await body(page, "timeline-tokens"));
        result.timeline_answers = Number(await body(page, "timeline-answers"));
      }
      result.seconds = (Date.now() - started) / 1000;
      await page.waitForTimeout(500); // one more frame with the traces drawn
    } else {
      throw new Error(`unknown mode ${mode}: use train or demo`);
    }
    if (flag("verbose")) result.log = logs.concat(browser.stderr.join("").split("\n"));
    result.backend = await body(page, "backend");
    for (const t of ["module", "backend", "first-frame"]) {
      result[`${t.replace("-", "_")}_ms`] = Number(await body(page, `${t}-ms`));
    }
    const task = mode === "demo" ? `-${arg("task", "needle")}` : "";
    result.screenshot = join(out, `${mode}${task}${webgpu ? "" : "-cpu"}.png`);
    // A training step holds the page's thread for seconds on a software adapter: the picture
    // waits for the next frame, which can take longer than Playwright's default 30 s.
    await page.screenshot({ path: result.screenshot, timeout: 180000 });
  } finally {
    await cdp.close().catch(() => {});
    await closeBrowser(browser);
    server.close();
  }
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(String(e.stack ?? e));
  process.exit(1);
});
