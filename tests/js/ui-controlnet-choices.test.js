// ControlNet choices in the node editor, on LiteGraph-shaped nodes and links.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  allowedControlnets,
  familyControlnets,
  preprocessorChoices,
  recommendation,
  syncControlnetNode,
  syncGraph,
  targetModelIds,
  wireNode,
} from "../../comfy_extension/web/controlnet-choices.mjs";

// The real catalog, as the pack's GET /rtc/catalog serves it.
const CATALOG = JSON.parse(
  readFileSync(new URL("../../comfy_extension/catalog.json", import.meta.url), "utf8"),
);
const SD21_CANNY = "thibaud/controlnet-sd21-canny-diffusers";
const SD21_DEPTH = "thibaud/controlnet-sd21-depth-diffusers";
const SDXL = [
  "xinsir/controlnet-depth-sdxl-1.0",
  "xinsir/controlnet-canny-sdxl-1.0",
  "xinsir/controlnet-tile-sdxl-1.0",
  "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0",
];
const SD15 = [
  "lllyasviel/control_v11f1p_sd15_depth",
  "lllyasviel/control_v11f1e_sd15_tile",
  "lllyasviel/control_v11p_sd15_canny",
  "daydreamlive/TemporalNet2-stable-diffusion-v1-5",
];
const ALL = Object.keys(CATALOG.controlnets);

function combo(name, value, values) {
  return { name, value, options: { values: [...values] }, callback: undefined };
}

function controlnetNode(id, model = SD21_CANNY) {
  return {
    id,
    comfyClass: "RTCStreamControlNet",
    outputs: [{ links: [] }],
    widgets: [
      combo("model_id", model, ALL),
      combo("preprocessor", "auto", ["auto", "canny", "depth", "depth_tensorrt"]),
      { name: "conditioning_scale", value: -1, options: {} },
    ],
  };
}

function pipelineNode(id, model) {
  return {
    id,
    comfyClass: "RTCStreamPipelineConfig",
    inputs: [{ name: "controlnet_1", link: null }],
    widgets: [combo("model_id", model, Object.keys(CATALOG.models))],
  };
}

/** A graph with LiteGraph's lookups; links as a Map like the current frontend. */
function graphOf(...nodes) {
  const links = new Map();
  return {
    nodes,
    links,
    getNodeById: (id) => nodes.find((n) => n.id === id) ?? null,
    connect(source, target, slot = 0) {
      const id = links.size + 1;
      links.set(id, { id, origin_id: source.id, target_id: target.id });
      source.outputs[0].links.push(id);
      target.inputs[slot].link = id;
      return id;
    },
  };
}

const value = (node, name) => node.widgets.find((w) => w.name === name).value;
const values = (node, name) => node.widgets.find((w) => w.name === name).options.values;

test("a family's ControlNets only; every one when no model is known", () => {
  assert.deepEqual(familyControlnets(CATALOG, "stabilityai/sd-turbo").length, 6);
  assert.ok(
    familyControlnets(CATALOG, "stabilityai/sd-turbo").includes(
      "daydreamlive/TemporalNet2-stable-diffusion-2-1",
    ),
  );
  assert.equal(familyControlnets(CATALOG, "some/unknown-model"), null);
  assert.deepEqual(allowedControlnets(CATALOG, ["stabilityai/sdxl-turbo"]), SDXL);
  assert.deepEqual(allowedControlnets(CATALOG, []), ALL);
  assert.deepEqual(allowedControlnets(CATALOG, ["some/unknown-model"]), ALL);
  // One ControlNet feeding two configs must suit both.
  assert.deepEqual(allowedControlnets(CATALOG, ["Lykon/dreamshaper-8", "prompthero/openjourney-v4"]), SD15);
  assert.deepEqual(allowedControlnets(CATALOG, ["stabilityai/sd-turbo", "stabilityai/sdxl-turbo"]), []);
});

test("recommended preprocessor and scale per ControlNet", () => {
  assert.deepEqual(recommendation(CATALOG, SDXL[0]), {
    preprocessor: "depth_tensorrt",
    conditioning_scale: 0.7,
  });
  assert.equal(recommendation(CATALOG, "nope"), null);
  assert.deepEqual(preprocessorChoices(CATALOG, SD21_DEPTH), ["auto", "depth_tensorrt", "depth"]);
  const all = preprocessorChoices(CATALOG, "nope");
  assert.equal(all[0], "auto");
  assert.deepEqual(all.slice(1), [...all.slice(1)].sort());
  assert.ok(all.includes("temporal_net_tensorrt") && all.includes("feedback"));
});

test("the model of the linked Pipeline Config narrows the choices; a wrong one is replaced", () => {
  const cn = controlnetNode(1, SD21_CANNY);
  const config = pipelineNode(2, "stabilityai/sdxl-turbo");
  const graph = graphOf(cn, config);
  graph.connect(cn, config);
  assert.deepEqual(targetModelIds(graph, cn), ["stabilityai/sdxl-turbo"]);

  // Loading a workflow: the list narrows, the saved value stays for the server to judge.
  assert.equal(syncControlnetNode(CATALOG, graph, cn), false);
  assert.deepEqual(values(cn, "model_id"), SDXL);
  assert.equal(value(cn, "model_id"), SD21_CANNY);

  // A user change: the family's first ControlNet with its recommended settings.
  assert.equal(syncControlnetNode(CATALOG, graph, cn, { replace: true }), true);
  assert.equal(value(cn, "model_id"), SDXL[0]);
  assert.equal(value(cn, "preprocessor"), "depth_tensorrt");
  assert.equal(value(cn, "conditioning_scale"), 0.7);
  assert.deepEqual(values(cn, "preprocessor"), ["auto", "depth_tensorrt", "depth"]);
});

test("a model_id fed by a link filters nothing", () => {
  const cn = controlnetNode(1);
  const config = pipelineNode(2, "stabilityai/sdxl-turbo");
  config.widgets = [];
  const graph = graphOf(cn, config);
  graph.connect(cn, config);
  syncControlnetNode(CATALOG, graph, cn, { replace: true });
  assert.deepEqual(values(cn, "model_id"), ALL);
  assert.equal(value(cn, "model_id"), SD21_CANNY);
});

test("wired nodes react to the user: picking a ControlNet, linking it, changing the model", async () => {
  const cn = controlnetNode(1, SD21_CANNY);
  const config = pipelineNode(2, "stabilityai/sd-turbo");
  const graph = graphOf(cn, config);
  let userCallbacks = 0;
  cn.widgets[0].callback = () => {
    userCallbacks += 1;
  };
  const loadCatalog = () => Promise.resolve(CATALOG);
  wireNode(loadCatalog, cn, () => graph);
  wireNode(loadCatalog, config, () => graph);
  await loadCatalog();
  assert.deepEqual(values(cn, "model_id"), ALL, "not linked yet: every ControlNet");

  // Picking a ControlNet applies its recommendation and keeps the widget's own callback.
  cn.widgets[0].value = SD21_DEPTH;
  cn.widgets[0].callback(SD21_DEPTH);
  await loadCatalog();
  assert.equal(userCallbacks, 1);
  assert.equal(value(cn, "preprocessor"), "depth_tensorrt");
  assert.equal(value(cn, "conditioning_scale"), 0.5);

  // Linking it to a Pipeline Config narrows the list to its family; the choice fits, so it stays.
  graph.connect(cn, config);
  cn.onConnectionsChange(2, 0, true);
  await loadCatalog();
  assert.deepEqual(values(cn, "model_id"), CATALOG.families.sd21.controlnets);
  assert.equal(value(cn, "model_id"), SD21_DEPTH);

  // Changing the model upstream replaces a ControlNet of the old family.
  config.widgets[0].value = "Lykon/dreamshaper-8";
  config.widgets[0].callback("Lykon/dreamshaper-8");
  await loadCatalog();
  assert.deepEqual(values(cn, "model_id"), SD15);
  assert.equal(value(cn, "model_id"), SD15[0]);
  assert.equal(value(cn, "conditioning_scale"), 1.0);
});

test("other nodes are left alone, and no catalog means no filtering", async () => {
  let asked = 0;
  const other = { id: 9, comfyClass: "KSampler", widgets: [combo("sampler", "euler", ["euler"])] };
  wireNode(
    () => {
      asked += 1;
      return Promise.resolve(CATALOG);
    },
    other,
    () => graphOf(other),
  );
  assert.equal(asked, 0, "the catalog is not even fetched for other nodes");
  assert.equal(other.onConnectionsChange, undefined);

  const cn = controlnetNode(1);
  const config = pipelineNode(2, "stabilityai/sdxl-turbo");
  const graph = graphOf(cn, config);
  graph.connect(cn, config);
  const none = () => Promise.resolve(null);
  wireNode(none, cn, () => graph);
  await none();
  assert.deepEqual(values(cn, "model_id"), ALL);

  syncGraph(CATALOG, graph);
  assert.deepEqual(values(cn, "model_id"), SDXL);
});
