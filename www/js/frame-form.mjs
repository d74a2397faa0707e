// Frame settings form state. Values from the relay update the inputs only while the user is
// not editing them: a field with unsaved input keeps what the user typed until it is saved
// or discarded (the original sidebar overwrote the inputs every second).

export const FRAME_FIELDS = Object.freeze({
  frame_rate: { label: "FPS", min: 1, max: 120, even: false },
  width: { label: "Width", min: 64, max: 4096, even: true },
  height: { label: "Height", min: 64, max: 4096, even: true },
});

/** Checks one raw input; returns `{value}` or `{error}`. */
export function parseField(name, raw) {
  const spec = FRAME_FIELDS[name];
  if (!spec) return { error: `unknown field ${name}` };
  const text = String(raw ?? "").trim();
  if (!/^\d+$/.test(text)) return { error: `${spec.label} must be a whole number` };
  const value = Number(text);
  if (value < spec.min || value > spec.max)
    return { error: `${spec.label} must be between ${spec.min} and ${spec.max}` };
  if (spec.even && value % 2 !== 0) return { error: `${spec.label} must be even (video encoders need it)` };
  return { value };
}

export class FrameForm {
  /** Last values the relay reported. */
  #server = {};
  /** What the user typed and has not saved, by field. */
  #drafts = new Map();

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
      const parsed = parseField(name, raw);
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
