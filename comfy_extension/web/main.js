// Entry module of the RTC Node frontend extension. ComfyUI imports every .js file in this
// folder; the wasm glue in pkg/ has no side effects, everything else starts here.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "rtc-node.main",
  async setup() {
    const wasm = await import("./pkg/rtc_client.js");
    await wasm.default({ module_or_path: new URL("./pkg/rtc_client_bg.wasm", import.meta.url) });
    console.info(`[rtc-node] wasm agent ${wasm.version()} loaded`);
  },
});
