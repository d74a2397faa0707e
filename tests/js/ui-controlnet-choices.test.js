// ControlNet choices in the node editor, on LiteGraph-shaped nodes and links.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  allowedControlnets,
  preprocessorChoices,
  recommendation,
  syncControlnetNode,
  syncGraph,
  targetModelIds,
  wireNode,
} from "../../comfy_extension/web/controlnet-choices.mjs";

// The shape of the pack's GET /rtc/catalog (tests/python/test_schemas.py checks the real one).
const CATALOG = {
  models: {
    "stabilityai/sd-turbo": { family: "SD2.1", controlnets: ["sd21-canny", "sd21-depth"] },
    "stabilityai/sdxl-turbo": { family: "SDXL", controlnets: ["sdxl-canny", "sdxl-depth"] },
    "Lykon/dreamshaper-8": { family: "SD1.5", controlnets: ["sd15-canny"] },
    "prompthero/openjourney-v4": { family: "SD1.5", controlnets: ["sd15-canny"] },
  },
  controlnets: {
    "sd21-canny": { label: "SD2.1 Canny", preprocessors: ["canny"], conditioning_scale: 0.2 },
    "sd21-depth": {
      label: "SD2.1 Depth",
      preprocessors: ["depth_tensorrt", "depth"],
      conditioning_scale: 0.5,
    },
    "sdxl-canny": { label: "SDXL Canny", preprocessors: ["canny"], conditioning_scale: 0.2 },
    "sdxl-depth": {
      label: "SDXL Depth",
      preprocessors: ["depth_tensorrt", "depth"],
      conditioning_scale: 0.7,
    },
    "sd15-canny": { label: "SD1.5 Canny", preprocessors: ["canny"], conditioning_scale: 0.3 },
  },
};
const ALL = Object.keys(CATALOG.controlnets);

function combo(name, value, values) {
  return { name, value, options: { values: [...values] }, callback: undefined };
}

function controlnetNode(id, model = "sd21-canny") {
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
  assert.deepEqual(allowedControlnets(CATALOG, ["stabilityai/sdxl-turbo"]), ["sdxl-canny", "sdxl-depth"]);
  assert.deepEqual(allowedControlnets(CATALOG, []), ALL);
  assert.deepEqual(allowedControlnets(CATALOG, ["some/unknown-model"]), ALL);
  // One ControlNet feeding two configs must suit both.
  assert.deepEqual(allowedControlnets(CATALOG, ["Lykon/dreamshaper-8", "prompthero/openjourney-v4"]), [
    "sd15-canny",
  ]);
  assert.deepEqual(allowedControlnets(CATALOG, ["stabilityai/sd-turbo", "stabilityai/sdxl-turbo"]), []);
});

test("recommended preprocessor and scale per ControlNet", () => {
  assert.deepEqual(recommendation(CATALOG, "sdxl-depth"), {
    preprocessor: "depth_tensorrt",
    conditioning_scale: 0.7,
  });
  assert.equal(recommendation(CATALOG, "nope"), null);
  assert.deepEqual(preprocessorChoices(CATALOG, "sd21-depth"), ["auto", "depth_tensorrt", "depth"]);
  assert.deepEqual(preprocessorChoices(CATALOG, "nope"), ["auto", "canny", "depth", "depth_tensorrt"]);
});

test("the model of the linked Pipeline Config narrows the choices; a wrong one is replaced", () => {
  const cn = controlnetNode(1, "sd21-canny");
  const config = pipelineNode(2, "stabilityai/sdxl-turbo");
  const graph = graphOf(cn, config);
  graph.connect(cn, config);
  assert.deepEqual(targetModelIds(graph, cn), ["stabilityai/sdxl-turbo"]);

  // Loading a workflow: the list narrows, the saved value stays for the server to judge.
  assert.equal(syncControlnetNode(CATALOG, graph, cn), false);
  assert.deepEqual(values(cn, "model_id"), ["sdxl-canny", "sdxl-depth"]);
  assert.equal(value(cn, "model_id"), "sd21-canny");

  // A user change: the family's first ControlNet with its recommended settings.
  assert.equal(syncControlnetNode(CATALOG, graph, cn, { replace: true }), true);
  assert.equal(value(cn, "model_id"), "sdxl-canny");
  assert.equal(value(cn, "preprocessor"), "canny");
  assert.equal(value(cn, "conditioning_scale"), 0.2);
  assert.deepEqual(values(cn, "preprocessor"), ["auto", "canny"]);
});

test("a model_id fed by a link filters nothing", () => {
  const cn = controlnetNode(1);
  const config = pipelineNode(2, "stabilityai/sdxl-turbo");
  config.widgets = [];
  const graph = graphOf(cn, config);
  graph.connect(cn, config);
  syncControlnetNode(CATALOG, graph, cn, { replace: true });
  assert.deepEqual(values(cn, "model_id"), ALL);
  assert.equal(value(cn, "model_id"), "sd21-canny");
});

test("wired nodes react to the user: picking a ControlNet, linking it, changing the model", async () => {
  const cn = controlnetNode(1, "sd21-canny");
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
  cn.widgets[0].value = "sd21-depth";
  cn.widgets[0].callback("sd21-depth");
  await loadCatalog();
  assert.equal(userCallbacks, 1);
  assert.equal(value(cn, "preprocessor"), "depth_tensorrt");
  assert.equal(value(cn, "conditioning_scale"), 0.5);

  // Linking it to a Pipeline Config narrows the list to its family; the choice fits, so it stays.
  graph.connect(cn, config);
  cn.onConnectionsChange(2, 0, true);
  await loadCatalog();
  assert.deepEqual(values(cn, "model_id"), ["sd21-canny", "sd21-depth"]);
  assert.equal(value(cn, "model_id"), "sd21-depth");

  // Changing the model upstream replaces a ControlNet of the old family.
  config.widgets[0].value = "Lykon/dreamshaper-8";
  config.widgets[0].callback("Lykon/dreamshaper-8");
  await loadCatalog();
  assert.deepEqual(values(cn, "model_id"), ["sd15-canny"]);
  assert.equal(value(cn, "model_id"), "sd15-canny");
  assert.equal(value(cn, "conditioning_scale"), 0.3);
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
  assert.deepEqual(values(cn, "model_id"), ["sdxl-canny", "sdxl-depth"]);
});
