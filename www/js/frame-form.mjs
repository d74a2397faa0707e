// Frame settings form state. Values from the relay update the inputs only while the user is
// not editing them: a field with unsaved input keeps what the user typed until it is saved
// or discarded (the original sidebar overwrote the inputs every second). The limits are the
// catalog's `frame` section (`GET /v1/catalog`), the same ones the relay enforces.

/** The fields of `PUT /v1/config`, with their labels. */
export const FRAME_FIELDS = Object.freeze({
  frame_rate: "FPS",
  width: "Width",
  height: "Height",
});

/**
 * The form's limits from a catalog: `{min, max, step}` by field.
 * @param {{frame: Record<string, {min: number, max: number, step?: number}>}} catalog
 */
export function frameLimits(catalog) {
  const limits = {};
  for (const name of Object.keys(FRAME_FIELDS)) {
    const spec = catalog.frame[name];
    limits[name] = { min: spec.min, max: spec.max, step: spec.step ?? 1 };
  }
  return limits;
}

/**
 * Checks one raw input; returns `{value}` or `{error}`. Without limits (the catalog has not
 * arrived) only the form of the number is checked; the relay checks the rest.
 */
export function parseField(name, raw, limits = null) {
  const label = FRAME_FIELDS[name];
  if (!label) return { error: `unknown field ${name}` };
  const text = String(raw ?? "").trim();
  if (!/^\d+$/.test(text)) return { error: `${label} must be a whole number` };
  const value = Number(text);
  const spec = limits?.[name];
  if (!spec) return { value };
  if (value < spec.min || value > spec.max)
    return { error: `${label} must be between ${spec.min} and ${spec.max}` };
  if (value % spec.step !== 0)
    return {
      error:
        spec.step === 2
          ? `${label} must be even (video encoders need it)`
          : `${label} must be a multiple of ${spec.step}`,
    };
  return { value };
}

export class FrameForm {
  /** Last values the relay reported. */
  #server = {};
  /** What the user typed and has not saved, by field. */
  #drafts = new Map();
  /** From {@link frameLimits}; null until the catalog is known. */
  limits = null;

  /** Takes values from the relay; returns the fields whose displayed value changed. */
  applyServer(values) {
    const changed = [];
    for (const name of Object.keys(FRAME_FIELDS)) {
      if (values?.[name] === undefined || values[name] === this.#server[name]) continue;
      this.#server[name] = values[name];
      if (!this.#drafts.has(name)) changed.push(name);
    }
    return changed;
  }

  /** Records user input. Typing back the relay's value clears the draft. */
  edit(name, raw) {
    if (!(name in FRAME_FIELDS)) throw new Error(`unknown field ${name}`);
    if (String(raw).trim() === String(this.#server[name] ?? "")) this.#drafts.delete(name);
    else this.#drafts.set(name, String(raw));
  }

  isDirty(name) {
    return this.#drafts.has(name);
  }

  get dirty() {
    return this.#drafts.size > 0;
  }

  /** What the input for `name` should show. */
  display(name) {
    return this.#drafts.get(name) ?? (this.#server[name] === undefined ? "" : String(this.#server[name]));
  }

  /** Validates the drafts; `values` holds only the changed fields, ready for `PUT /v1/config`. */
  validate() {
    const values = {};
    const errors = {};
    for (const [name, raw] of this.#drafts) {
      const parsed = parseField(name, raw, this.limits);
      if (parsed.error) errors[name] = parsed.error;
      else values[name] = parsed.value;
    }
    return { ok: Object.keys(errors).length === 0, values, errors };
  }

  /** After a successful save: the relay's answer becomes the new baseline. */
  saved(values) {
    this.#drafts.clear();
    this.applyServer(values);
  }

  discard() {
    this.#drafts.clear();
  }
}
