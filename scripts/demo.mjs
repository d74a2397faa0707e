// Drives the studio page headless against a fresh relay on the local backend and prints
// what came back. Run through scripts/demo.sh, which builds everything first.
import { parseArgs } from "node:util";
import { launchBrowser, startRelay } from "../tests/e2e/harness.mjs";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "20" }, open: { type: "boolean", default: false } },
});

const relay = await startRelay();
console.log(`relay: ${relay.url} (local backend)`);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${relay.url}/`);
  const badge = page.locator("#wasm-version");
  await badge.and(page.locator("[data-state]")).waitFor();
  console.log(`studio page: wasm agent ${await badge.textContent()}`);
  console.log("not yet built: local WHIP/WHEP media, the wasm publisher/player, live figures");
  if (values.open) {
    console.log(`relay stays up at ${relay.url}/ until Ctrl-C`);
    await new Promise((resolve) => process.once("SIGINT", resolve));
  }
} finally {
  await browser.close();
  await relay.stop();
}
