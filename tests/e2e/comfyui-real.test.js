// Opt-in, never in CI: the pack's frontend inside a real ComfyUI (COMFYUI_DIR, started --cpu with
// the pack installed as users install it: a clone in custom_nodes/ and the relay wheel in
// ComfyUI's Python, tests/python/pack_install.py), in both node renderers. Checks the sidebar tab, the settings and the
// preview widget. Without COMFYUI_DIR every test is reported as skipped, with the reason.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser } from "./harness.mjs";
import { screenshot, WAIT_MS } from "./pages.mjs";

const comfyDir = process.env.COMFYUI_DIR;
const skip = comfyDir ? false : "set COMFYUI_DIR to a ComfyUI checkout to run the real-ComfyUI frontend test";
const root = new URL("../../", import.meta.url).pathname;

let comfy;
let browser;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startComfyUI() {
  const base = mkdtempSync(join(tmpdir(), "comfyui-"));
  const nodes = join(base, "custom_nodes");
  mkdirSync(nodes);
  const python = process.env.COMFYUI_PYTHON ?? join(comfyDir, ".venv", "bin", "python");
  execFileSync(
    join(root, ".venv", "bin", "python"),
    [join(root, "tests", "python", "pack_install.py"), nodes, python],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  writeFileSync(join(base, "extra_paths.yaml"), `rtc:\n  custom_nodes: ${nodes}\n`);
  const port = await freePort();
  const env = { ...process.env, RTC_RELAY_STATE_DIR: join(base, "relay-state") };
  // Only the wheel may provide the relay.
  for (const name of ["DAYDREAM_API_KEY", "RTC_RELAY_BIN", "CARGO_TARGET_DIR"]) delete env[name];
  const child = spawn(
    python,
    [
      "main.py",
      "--cpu",
      "--listen",
      "127.0.0.1",
      "--port",
      String(port),
      "--extra-model-paths-config",
      join(base, "extra_paths.yaml"),
      "--base-directory",
      base,
    ],
    { cwd: comfyDir, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout.on("data", (chunk) => {
    log += chunk;
  });
  child.stderr.on("data", (chunk) => {
    log += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ComfyUI exited:\n${log.slice(-4000)}`);
    const ok = await fetch(`${url}/rtc/api/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`ComfyUI or the relay did not come up:\n${log.slice(-4000)}`);
    // Readiness has no event to wait on from outside the process: poll the health route.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  };
}

before(async () => {
  if (skip) return;
  comfy = await startComfyUI();
  // A fresh user directory opens the template browser over everything; mark it as seen.
  const seen = await fetch(`${comfy.url}/settings/Comfy.TutorialCompleted`, { method: "POST", body: "true" });
  assert.equal(seen.status, 200);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await comfy?.stop();
});

async function openComfy(vueNodes) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  // Only errors raised in this pack's code count: ComfyUI's own frontend may log its own (1.27.10
  // throws while registering its core canvas settings).
  page.on("pageerror", (err) => {
    if (/\/extensions\/rtc-node\/|\/rtc\/api\//.test(err.stack ?? "")) errors.push(err);
  });
  await page.goto(comfy.url);
  await page.waitForFunction(() => window.app?.extensionManager?.getSidebarTabs, null, { timeout: 120_000 });
  await page.evaluate(
    (enabled) => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", enabled),
    vueNodes,
  );
  return { page, errors };
}

for (const vueNodes of [false, true]) {
  const mode = vueNodes ? "Vue nodes" : "classic canvas";

  test(`sidebar tab and settings are registered (${mode})`, { skip }, async () => {
    const { page, errors } = await openComfy(vueNodes);
    const tabs = await page.evaluate(() => window.app.extensionManager.getSidebarTabs().map((t) => t.id));
    assert.ok(tabs.includes("rtc-node.stream"), `sidebar tabs: ${tabs}`);
    assert.equal(
      await page.evaluate(() => window.app.extensionManager.setting.get("RTCNode.Stream.Name")),
      "comfyui-live",
    );
    await page.evaluate(() =>
      window.app.extensionManager.command?.execute?.("Workspace.ToggleSidebarTab.rtc-node.stream"),
    );
    await page.locator(".rtc-sidebar").waitFor({ timeout: WAIT_MS });
    await page.locator('.rtc-sidebar .rtc-badge[data-state="idle"]').waitFor({ timeout: WAIT_MS });
    if (!vueNodes) await screenshot(page, "comfyui-sidebar.png");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test(`the preview node gets the same-origin preview (${mode})`, { skip }, async (t) => {
    const { page, errors } = await openComfy(vueNodes);
    await page.evaluate(() => {
      window.app.graph.clear();
      const node = window.LiteGraph.createNode("RTCStreamUIPreview");
      node.pos = [100, 100];
      window.app.graph.add(node);
    });
    const previewUrl = new URL("/rtc/ui/preview.html", comfy.url).href;
    if (vueNodes) {
      // ComfyUI 1.27's Vue nodes render only their own widget types, so no iframe; the node's
      // button opens the same page instead.
      const node = page.locator("[data-node-id]", { hasText: "Open preview in a new tab" });
      await node.waitFor({ timeout: WAIT_MS });
      const frames = await page.locator("iframe[data-rtc-preview]").count();
      t.diagnostic(`preview iframe rendered in Vue nodes: ${frames > 0}`);
      const [opened] = await Promise.all([
        page.context().waitForEvent("page"),
        node.locator("button").last().click(),
      ]);
      await opened.waitForLoadState();
      assert.equal(opened.url(), previewUrl);
      await opened.locator('[data-action="connect"]').waitFor({ timeout: WAIT_MS });
      await opened.close();
    } else {
      const frame = page.locator("iframe[data-rtc-preview]");
      await frame.waitFor({ timeout: WAIT_MS });
      assert.equal(await frame.getAttribute("src"), previewUrl);
      await page
        .frameLocator("iframe[data-rtc-preview]")
        .locator('[data-action="connect"]')
        .waitFor({ timeout: WAIT_MS });
      await screenshot(page, "comfyui-preview-node.png");
    }
    const serialized = await page.evaluate(() => JSON.stringify(window.app.graph.serialize()));
    assert.ok(!serialized.includes("preview.html"), "the widget is not saved with the workflow");
    // The linkable stream_id socket; the stream selector's choice is saved in the properties.
    const inputs = await page.evaluate(
      () => window.app.graph.serialize().nodes.find((n) => n.type === "RTCStreamUIPreview").inputs,
    );
    assert.deepEqual(
      inputs.map((i) => i.name),
      ["stream_id"],
    );
    if (!vueNodes) {
      // A saved choice comes back when the workflow loads, and the preview shows that stream.
      await page.evaluate(async () => {
        const data = window.app.graph.serialize();
        const node = data.nodes.find((n) => n.type === "RTCStreamUIPreview");
        node.properties.stream = "str_saved";
        await window.app.loadGraphData(data);
      });
      await page.waitForFunction(
        () =>
          document.querySelector("iframe[data-rtc-preview]")?.src.endsWith("preview.html?stream=str_saved"),
        null,
        { timeout: WAIT_MS },
      );
    }
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test("seed controls of new nodes start fixed; a saved randomize is kept", { skip }, async () => {
  const { page, errors } = await openComfy(false);
  const controls = await page.evaluate(() => {
    window.app.graph.clear();
    const control = (node) => node.widgets.find((w) => w.name === "control_after_generate").value;
    const config = window.LiteGraph.createNode("RTCStreamPipelineConfig");
    const update = window.LiteGraph.createNode("UpdateRTCStream");
    window.app.graph.add(config);
    window.app.graph.add(update);
    const saved = update.serialize();
    saved.widgets_values = [true, 7, "randomize"];
    const loaded = window.LiteGraph.createNode("UpdateRTCStream");
    loaded.configure(saved);
    return {
      config: control(config),
      update: control(update),
      loaded: control(loaded),
      loadedWidgets: loaded.widgets.map((w) => [w.name, w.value]),
    };
  });
  assert.equal(controls.config, "fixed");
  assert.equal(controls.update, "fixed");
  assert.equal(controls.loaded, "randomize");
  assert.deepEqual(controls.loadedWidgets, [
    ["enabled", true],
    ["seed", 7],
    ["control_after_generate", "randomize"],
  ]);
  assert.deepEqual(errors, []);
  await page.close();
});

test("ControlNet nodes offer only their model family's ControlNets", { skip }, async () => {
  const { page, errors } = await openComfy(false);
  const catalog = await (await fetch(`${comfy.url}/rtc/catalog`)).json();
  const familyOf = (model) => catalog.families[catalog.models[model].family].controlnets;
  // The wiring applies the catalog asynchronously: each step waits until the choices match.
  const choicesBecome = (expected) =>
    page.waitForFunction(
      (want) =>
        JSON.stringify(window.rtcTest.cn.widgets.find((w) => w.name === "model_id").options.values) ===
        JSON.stringify(want),
      expected,
      { timeout: WAIT_MS },
    );
  await page.evaluate(() => {
    window.app.graph.clear();
    const config = window.LiteGraph.createNode("RTCStreamPipelineConfig");
    config.pos = [500, 100];
    window.app.graph.add(config);
    const cn = window.LiteGraph.createNode("RTCStreamControlNet");
    cn.pos = [100, 100];
    window.app.graph.add(cn);
    window.rtcTest = { config, cn };
  });
  await choicesBecome(Object.keys(catalog.controlnets));
  await page.evaluate(() => {
    const { config, cn } = window.rtcTest;
    cn.connect(
      0,
      config,
      config.inputs.findIndex((i) => i.name === "controlnet_1"),
    );
  });
  await choicesBecome(familyOf("stabilityai/sd-turbo"));
  await page.evaluate(() => {
    const model = window.rtcTest.config.widgets.find((w) => w.name === "model_id");
    model.value = "stabilityai/sdxl-turbo";
    model.callback?.(model.value);
  });
  const sdxl = familyOf("stabilityai/sdxl-turbo");
  await choicesBecome(sdxl);
  const after = await page.evaluate(() =>
    Object.fromEntries(window.rtcTest.cn.widgets.map((w) => [w.name, w.value])),
  );
  assert.equal(after.model_id, sdxl[0]);
  assert.equal(after.preprocessor, catalog.controlnets[sdxl[0]].preprocessors[0]);
  assert.equal(after.conditioning_scale, catalog.controlnets[sdxl[0]].conditioning_scale);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the backend is switched from the sidebar's settings through the proxy", { skip }, async () => {
  const { page, errors } = await openComfy(false);
  const credentials = async () => (await fetch(`${comfy.url}/rtc/api/v1/credentials`)).json();
  await page.evaluate(() =>
    window.app.extensionManager.command?.execute?.("Workspace.ToggleSidebarTab.rtc-node.stream"),
  );
  await page.locator('.rtc-sidebar [data-tab="settings"]').click();
  const select = page.locator('.rtc-sidebar select[name="rtc-backend"]');
  await select.selectOption("daydream");
  await page
    .locator(".rtc-sidebar .rtc-form-message", { hasText: "needs an API key" })
    .waitFor({ timeout: WAIT_MS });
  assert.equal((await credentials()).backend, "local");
  await select.selectOption("local");
  await page
    .locator('.rtc-sidebar [data-field="active-backend"]', { hasText: "Local" })
    .waitFor({ timeout: WAIT_MS });
  const chosen = await credentials();
  assert.deepEqual([chosen.backend, chosen.backend_source], ["local", "setting"]);
  await select.selectOption("auto");
  await page.locator('.rtc-sidebar select[name="rtc-backend"]:not([disabled])').waitFor();
  assert.equal((await credentials()).backend_source, "key");
  assert.deepEqual(errors, []);
  await page.close();
});
