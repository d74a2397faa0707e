// Seed controls of the pack's nodes start `fixed`, on LiteGraph-shaped nodes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fixSeedControls } from "../../comfy_extension/web/seed-controls.mjs";

const PACK = new Set(["RTCStreamPipelineConfig", "UpdateRTCStream"]);

function node(comfyClass) {
  return {
    comfyClass,
    widgets: [
      { name: "enabled", value: true },
      { name: "seed", value: 42 },
      { name: "control_after_generate", value: "randomize" },
    ],
  };
}

test("a new node of the pack gets a fixed seed and keeps its other widgets", () => {
  const update = node("UpdateRTCStream");
  fixSeedControls(update, PACK);
  assert.deepEqual(
    update.widgets.map((w) => w.value),
    [true, 42, "fixed"],
  );
});

test("other packs' nodes keep ComfyUI's default", () => {
  const sampler = node("KSampler");
  fixSeedControls(sampler, PACK);
  assert.equal(sampler.widgets[2].value, "randomize");
});

test("a node without widgets is left alone", () => {
  const bare = { comfyClass: "UpdateRTCStream" };
  fixSeedControls(bare, PACK);
  assert.deepEqual(bare, { comfyClass: "UpdateRTCStream" });
});
