// Real-browser tests of runway's web console: Debian's Chromium, driven by
// Playwright over CDP, against a real `runway serve` with an embedded
// runner; axe-core checks every main screen. Screenshots of the main
// screens go to $SCREENSHOTS (the README shows them).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const BIN = process.env.RUNWAY_BIN ?? join(root, "target", "debug", "runway");
const SHOTS = process.env.SCREENSHOTS ?? join(root, "docs", "screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

let server, base, token, browser, data, agentId, envId;

/** Calls the REST API with the admin token. */
async function api(method, path, body, bearer = token) {
  const response = await fetch(`${base}/api/v1/cloud${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

before(async () => {
  data = mkdtempSync(join(tmpdir(), "runway-console-"));
  mkdirSync(SHOTS, { recursive: true });
  server = spawn(BIN, ["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", data,
    "--exec", join(root, "examples", "agents", "status-report.sh")], {
    // Runs take 3 s, so a transcript is still being written when its page opens.
    env: { ...process.env, AGENT_SECONDS: "3", RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  base = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/REST on (http:\/\/[^/\s]+)/);
      if (match) resolve(match[1]);
    });
    server.on("exit", (code) => reject(new Error(`runway serve exited with ${code}`)));
  });
  token = readFileSync(join(data, "admin-token"), "utf8").trim();
  agentId = (await api("POST", "/agents", { name: "reporter", model: "claude-sonnet-4-5" })).json.id;
  envId = (await api("POST", "/environments", { name: "default" })).json.id;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (data) rmSync(data, { recursive: true, force: true });
});

/** A fresh browser context (its own cookies); axe is injected, so CSP is bypassed for it. */
async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
  return context.newPage();
}

async function signIn(page, secret = token) {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("API token").fill(secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
}

/** No serious or critical axe-core violation on the page as it is. */
async function accessible(page, name) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`), [],
    `${name}: axe-core violations`);
}

async function shoot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test("the console: sign in, create a deployment, live runs and transcript, pause, sign out", async () => {
  const page = await newPage();

  // Pages refuse until signed in; a wrong token is refused in the API's words.
  await page.goto(`${base}/deployments`);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await accessible(page, "sign-in");
  await shoot(page, "sign-in");
  await page.getByLabel("API token").fill("rw_not_a_token");
  await page.getByRole("button", { name: "Sign in" }).click();
  const refused = await api("GET", "/deployments", undefined, "rw_not_a_token");
  assert.equal(refused.status, 401);
  assert.equal((await page.locator("#f-token-error").textContent()).trim(), refused.json.error.message);

  // By keyboard: the token field, then Enter; back to the page asked for.
  await page.getByLabel("API token").focus();
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.waitForURL(`${base}/deployments`);
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, "Strict");
  assert.ok(!cookies[0].value.includes(token), "the cookie is not the token");
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read the session");

  // A new deployment through the form: a bad cron first, and the field says what the API says.
  await page.goto(`${base}/deployments/new`);
  await page.getByLabel("Name").fill("nightly-report");
  await page.getByLabel(/^Agent/).selectOption(agentId);
  await page.getByLabel("Environment").selectOption(envId);
  await page.getByLabel("First message of every run").fill("Write the nightly report");
  await page.getByLabel("Cron expression").fill("61 9 * * *");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Create deployment" }).click();
  const viaApi = await api("POST", "/deployments", {
    name: "nightly-report", agent: agentId, environment_id: envId,
    initial_events: [{ type: "user.message", content: "Write the nightly report" }],
    schedule: { type: "cron", expression: "61 9 * * *", timezone: "Europe/Berlin" },
  });
  assert.equal(viaApi.status, 400);
  assert.equal(viaApi.json.error.param, "schedule.expression");
  const fieldError = page.locator("#f-schedule-expression-error");
  assert.equal((await fieldError.textContent()).trim(), viaApi.json.error.message);
  assert.equal(await page.getByLabel("Cron expression").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Name").inputValue(), "nightly-report", "the form keeps what was typed");
  await accessible(page, "new deployment (with an error)");
  await shoot(page, "new-deployment-error");

  await page.getByLabel("Cron expression").fill("0 9 * * 1-5");
  await page.getByRole("button", { name: "Create deployment" }).click();
  await page.waitForURL(/\/deployments\/dep_[0-9a-f]{32}$/);
  const depId = page.url().split("/").pop();
  await page.getByText("At 09:00 AM, Monday through Friday").first().waitFor();
  assert.equal(await page.locator("ol.upcoming li").count(), 5, "the next five fire times");
  assert.match(await page.locator("ol.upcoming li").first().textContent(), /CES?T \(UTC\+0[12]:00\)/);

  // The runs page follows new runs live: one triggered through the API appears within 2 s.
  const runsPage = await newPage();
  await signIn(runsPage);
  await runsPage.goto(`${base}/runs`);
  await runsPage.waitForLoadState("networkidle").catch(() => {});
  const triggered = await api("POST", `/deployments/${depId}/run`);
  assert.equal(triggered.status, 200);
  const row = runsPage.locator(`#run-${triggered.json.id}`);
  await row.waitFor({ timeout: 2000 });
  await row.locator(".badge", { hasText: "completed" }).waitFor({ timeout: 10000 });

  // A run from the UI: its transcript arrives while the page is open.
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await page.waitForURL(/\/runs\/drun_[0-9a-f]{32}$/);
  const written = page.locator("#transcript .e-agent-message", { hasText: "status report written" });
  assert.equal(await written.count(), 0, "the report is not written yet when the page opens");
  await written.waitFor({ timeout: 15000 });
  await page.locator("#timeline .badge", { hasText: "completed" }).waitFor({ timeout: 10000 });
  await accessible(page, "run");
  await shoot(page, "run");

  // Pause from the UI: the API then refuses a trigger, and the UI says paused.
  await page.goto(`${base}/deployments/${depId}`);
  await page.getByRole("button", { name: "Pause" }).click();
  await page.waitForURL(`${base}/deployments/${depId}`);
  const refusedRun = await api("POST", `/deployments/${depId}/run`);
  assert.equal(refusedRun.status, 409);
  await page.reload();
  assert.equal((await page.locator(".summary .badge").first().textContent()).trim(), "paused");
  // A paused deployment offers Unpause, not a Run it would refuse.
  assert.equal(await page.getByRole("button", { name: "Run", exact: true }).count(), 0);
  await page.getByRole("button", { name: "Unpause" }).waitFor();
  // What every run starts from: its agent, environment and first message.
  await page.locator(".summary dd", { hasText: agentId }).waitFor();
  await page.locator(".summary dd", { hasText: envId }).waitFor();
  await accessible(page, "deployment");
  await shoot(page, "deployment");

  for (const [path, name] of [["/", "overview"], ["/deployments", "deployments"], ["/runs", "runs"],
    ["/agents", "agents"], ["/environments", "environments"]]) {
    await page.goto(`${base}${path}`);
    await accessible(page, name);
    await shoot(page, name);
  }

  // Sign out: the pages refuse again.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/sign-in`);
  await page.goto(`${base}/deployments/${depId}`);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await runsPage.context().close();
  await page.context().close();
});

test("a revoked token sends the user back to sign in", async () => {
  const created = await api("POST", "/tokens", { name: "console-user", scope: "read" });
  assert.equal(created.status, 200, JSON.stringify(created.json));
  const page = await newPage();
  await signIn(page, created.json.secret);
  await page.goto(`${base}/deployments`);
  assert.equal(new URL(page.url()).pathname, "/deployments");
  assert.equal((await api("POST", `/tokens/${created.json.id}/revoke`)).status, 200);
  await page.goto(`${base}/deployments`);
  assert.equal(new URL(page.url()).pathname, "/sign-in");
  await page.getByText("Your sign-in ended").waitFor();
  await page.context().close();
});

test("a live page whose sign-in ends goes to sign in, and back after it", async () => {
  const created = await api("POST", "/tokens", { name: "live-viewer", scope: "read" });
  assert.equal(created.status, 200, JSON.stringify(created.json));
  const page = await newPage();
  await signIn(page, created.json.secret);
  await page.goto(`${base}/runs?status=completed`);
  await page.locator("#runs[data-live]").waitFor();
  // A read sign-in says so (tests/e2e/console_read_only.rs: and shows no
  // control that changes anything).
  await page.getByText("Read-only token").waitFor();
  assert.equal((await api("POST", `/tokens/${created.json.id}/revoke`)).status, 200);
  // The live stream ends (its token re-checked every second); its reconnect
  // is sent to sign in, and so is the page, remembering where it was.
  await page.waitForURL((url) => url.pathname === "/sign-in", { timeout: 15000 });
  await page.getByText("Your sign-in ended").waitFor();
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/runs?status=completed`);
  await page.context().close();
});

test("at 390 px wide the main screens fit and stay usable", async () => {
  const page = await newPage(390);
  await signIn(page);
  for (const [path, name] of [["/", "overview-390"], ["/deployments", "deployments-390"], ["/runs", "runs-390"]]) {
    await page.goto(`${base}${path}`);
    // The page itself never scrolls sideways (wide tables scroll in their own box).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} overflows by ${overflow}px`);
    await accessible(page, name);
    await shoot(page, name);
  }
  await page.context().close();
});
