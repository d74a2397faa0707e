// New seed widgets of the pack's nodes start at `fixed`. ComfyUI's frontend gives every seed
// a `control_after_generate` companion set to `randomize`, and a schema cannot choose another
// default. On Pipeline Config or Update that would change the config on every queue, so each
// run would PATCH the live stream. A saved workflow's value is applied after a node is
// created, so a user's own `randomize` is kept.
//
// `.mjs` so ComfyUI does not load it as an extension of its own; main.js imports it.

export const CONTROL_WIDGET = "control_after_generate";

/**
 * Sets the seed controls of a new node of the pack to `fixed`; other nodes are left alone.
 * @param {{comfyClass?: string, widgets?: {name: string, value: unknown}[]}} node
 * @param {ReadonlySet<string>} packNodes
 */
export function fixSeedControls(node, packNodes) {
  if (!packNodes.has(node.comfyClass ?? "")) return;
  for (const widget of node.widgets ?? []) {
    if (widget.name === CONTROL_WIDGET) widget.value = "fixed";
  }
}
