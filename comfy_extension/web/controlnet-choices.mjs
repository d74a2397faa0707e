// ControlNet choices in the node editor: a ControlNet node offers only the ControlNets of the
// model family of the Pipeline Config it feeds, and picking one fills in its recommended
// preprocessor and conditioning scale. The catalog is the pack's `GET /rtc/catalog`, the same
// data the Python validation uses, so the editor and the server never disagree.
//
// `.mjs` so ComfyUI does not load it as an extension of its own; main.js imports it. The
// functions take LiteGraph-shaped objects (nodes with `widgets`, `outputs[].links`, a graph
// with `getNodeById` and links) and touch no DOM, so they run under `node --test` too.

export const CONTROLNET_NODE = "RTCStreamControlNet";
export const PIPELINE_NODE = "RTCStreamPipelineConfig";

/**
 * The pack's catalog.json, as far as this module reads it.
 * @typedef {{
 *   families: Record<string, {controlnets: string[]}>,
 *   models: Record<string, {family: string}>,
 *   controlnets: Record<string, {label: string, preprocessors: string[], conditioning_scale: number}>,
 * }} Catalog
 */

/** The ControlNets of a model's family; null for a model the catalog does not know. */
export function familyControlnets(catalog, modelId) {
  const model = catalog.models[modelId];
  return model ? (catalog.families[model.family]?.controlnets ?? []) : null;
}

/**
 * The ControlNets every one of `modelIds` accepts; every known ControlNet when no model is known
 * (the node is not connected, or its model comes from a link).
 * @param {Catalog} catalog
 * @param {Iterable<string>} modelIds
 */
export function allowedControlnets(catalog, modelIds) {
  let allowed = Object.keys(catalog.controlnets);
  for (const id of modelIds) {
    const family = familyControlnets(catalog, id);
    if (family) allowed = allowed.filter((cn) => family.includes(cn));
  }
  return allowed;
}

/** `auto` and the preprocessors that work with a ControlNet (all known ones if it is unknown). */
export function preprocessorChoices(catalog, controlnetId) {
  const spec = catalog.controlnets[controlnetId];
  if (spec) return ["auto", ...spec.preprocessors];
  const all = new Set(Object.values(catalog.controlnets).flatMap((c) => c.preprocessors));
  return ["auto", ...[...all].sort()];
}

/** The recommended preprocessor and scale of a ControlNet, or null if it is unknown. */
export function recommendation(catalog, controlnetId) {
  const spec = catalog.controlnets[controlnetId];
  if (!spec) return null;
  return { preprocessor: spec.preprocessors[0], conditioning_scale: spec.conditioning_scale };
}

function nodeClass(node) {
  return node?.comfyClass ?? node?.type;
}

function widget(node, name) {
  return node?.widgets?.find((w) => w.name === name);
}

function linkById(graph, id) {
  if (typeof graph.getLink === "function") return graph.getLink(id);
  if (graph.links instanceof Map) return graph.links.get(id);
  return graph.links?.[id];
}

/** The model ids of the Pipeline Configs a ControlNet node's output is linked to. */
export function targetModelIds(graph, node) {
  const ids = [];
  for (const linkId of node.outputs?.[0]?.links ?? []) {
    const link = linkById(graph, linkId);
    const target = link ? graph.getNodeById(link.target_id) : null;
    if (nodeClass(target) !== PIPELINE_NODE) continue;
    // A model_id turned into an input has no value here; it then filters nothing.
    const model = widget(target, "model_id")?.value;
    if (typeof model === "string") ids.push(model);
  }
  return ids;
}

/** The ControlNet nodes a Pipeline Config node takes its ControlNets from. */
export function sourceControlnetNodes(graph, pipelineNode) {
  const found = [];
  for (const input of pipelineNode.inputs ?? []) {
    if (input.link === null || input.link === undefined) continue;
    const link = linkById(graph, input.link);
    const source = link ? graph.getNodeById(link.origin_id) : null;
    if (nodeClass(source) === CONTROLNET_NODE) found.push(source);
  }
  return found;
}

/** Sets the recommended preprocessor and scale of the node's ControlNet. */
export function applyRecommendation(catalog, node) {
  const chosen = widget(node, "model_id")?.value;
  const preprocessor = widget(node, "preprocessor");
  if (preprocessor) preprocessor.options.values = preprocessorChoices(catalog, chosen);
  const advice = recommendation(catalog, chosen);
  if (!advice) return;
  if (preprocessor) preprocessor.value = advice.preprocessor;
  const scale = widget(node, "conditioning_scale");
  if (scale) scale.value = advice.conditioning_scale;
}

/**
 * Narrows a ControlNet node's choices to the family it feeds. With `replace` (the user changed
 * the model or a link) a ControlNet of the wrong family is replaced by the family's first,
 * with its recommended settings; without it (a workflow being loaded) the saved value stays,
 * and the server's validation names the mismatch if it is run.
 * @returns {boolean} whether the chosen ControlNet was replaced
 */
export function syncControlnetNode(catalog, graph, node, { replace = false } = {}) {
  const model = widget(node, "model_id");
  if (!model) return false;
  const choices = allowedControlnets(catalog, targetModelIds(graph, node));
  model.options.values = choices;
  let replaced = false;
  if (replace && choices.length > 0 && !choices.includes(model.value)) {
    model.value = choices[0];
    applyRecommendation(catalog, node);
    replaced = true;
  } else {
    const preprocessor = widget(node, "preprocessor");
    if (preprocessor) preprocessor.options.values = preprocessorChoices(catalog, model.value);
  }
  node.setDirtyCanvas?.(true, true);
  return replaced;
}

/** Calls `after` once a widget's value was changed by the user, keeping its own callback. */
function onWidgetChange(node, name, after) {
  const target = widget(node, name);
  if (!target) return;
  const original = target.callback;
  target.callback = function changed(...args) {
    const result = original?.apply(this, args);
    after();
    return result;
  };
}

/** Calls `after` whenever a link to or from the node is made or removed. */
function onConnectionsChange(node, after) {
  const original = node.onConnectionsChange;
  node.onConnectionsChange = function changed(...args) {
    const result = original?.apply(this, args);
    after(...args);
    return result;
  };
}

/**
 * Wires a node created in the editor; other node types are left alone. The catalog is loaded
 * on demand, so nodes made before it arrived are synced once it does; without one (the pack
 * route unreachable) nothing is filtered.
 * @param {() => Promise<Catalog|null>} loadCatalog
 * @param {object} node
 * @param {() => object} graphOf the graph the node lives in
 */
export function wireNode(loadCatalog, node, graphOf) {
  const withCatalog = (work) =>
    loadCatalog().then((loaded) => {
      if (loaded) work(loaded);
    });
  const kind = nodeClass(node);
  if (kind === CONTROLNET_NODE) {
    onWidgetChange(node, "model_id", () => withCatalog((c) => applyRecommendation(c, node)));
    onConnectionsChange(node, (_type, _slot, connected) =>
      withCatalog((c) => syncControlnetNode(c, graphOf(), node, { replace: connected })),
    );
    withCatalog((c) => syncControlnetNode(c, graphOf(), node));
  } else if (kind === PIPELINE_NODE) {
    onWidgetChange(node, "model_id", () =>
      withCatalog((c) => {
        const graph = graphOf();
        for (const source of sourceControlnetNodes(graph, node))
          syncControlnetNode(c, graph, source, { replace: true });
      }),
    );
  }
}

/** Syncs every ControlNet node of a graph, e.g. after a workflow was loaded. */
export function syncGraph(catalog, graph) {
  for (const node of graph?.nodes ?? graph?._nodes ?? []) {
    if (nodeClass(node) === CONTROLNET_NODE) syncControlnetNode(catalog, graph, node);
  }
}
