// The params a running stream takes without a reload (prompt, strength, guidance, seed,
// passes), as form fields whose ranges and defaults come from the relay's catalog.
import { h } from "./dom.mjs";

// t_index_list entries offered for 1 to 4 passes, spread over the default 50 steps.
const PASS_INDICES = [12, 20, 32, 40];

/**
 * @param {string} defaultPrompt
 */
export function createHotParams(defaultPrompt) {
  const field = (label, input) => h("label", { className: "rtc-field" }, h("span", {}, label), input);
  const prompt = h("input", { type: "text", name: "prompt", value: defaultPrompt, "aria-label": "Prompt" });
  const delta = h("input", { type: "number", name: "delta", step: "0.05", "aria-label": "Strength (delta)" });
  const guidance = h("input", {
    type: "number",
    name: "guidance_scale",
    step: "0.1",
    "aria-label": "Guidance scale",
  });
  const seed = h("input", { type: "number", name: "seed", step: "1", "aria-label": "Seed" });
  const passes = h(
    "select",
    { name: "passes", "aria-label": "Passes (t_index_list)" },
    ...PASS_INDICES.map((_, i) => h("option", { value: String(i + 1) }, String(i + 1))),
  );
  const element = h(
    "div",
    { className: "rtc-studio-params" },
    h("label", { className: "rtc-field rtc-prompt" }, h("span", {}, "Prompt"), prompt),
    field("Strength", delta),
    field("Guidance", guidance),
    field("Seed", seed),
    field("Passes", passes),
  );

  return {
    element,
    /** Ranges and defaults from the catalog's `params`. */
    useCatalog(params) {
      for (const [input, spec] of [
        [delta, params.delta],
        [guidance, params.guidance_scale],
        [seed, params.seed],
      ]) {
        if (!spec) continue;
        if (spec.min !== undefined) input.min = String(spec.min);
        if (spec.max !== undefined) input.max = String(spec.max);
        if (input.value === "") input.value = String(spec.default);
      }
      passes.value ||= String(params.t_index_list?.default?.length ?? 3);
    },
    /** The fields as params; empty ones are left out so the stream keeps its value. */
    values() {
      const out = { prompt: prompt.value.trim() || defaultPrompt };
      for (const [name, input] of [
        ["delta", delta],
        ["guidance_scale", guidance],
        ["seed", seed],
      ]) {
        if (input.value !== "" && Number.isFinite(input.valueAsNumber)) out[name] = input.valueAsNumber;
      }
      out.t_index_list = PASS_INDICES.slice(0, Number(passes.value) || 3);
      return out;
    },
  };
}
