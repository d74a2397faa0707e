// Fixed-size sample history and the SVG path that draws it.

/** Keeps the newest `capacity` samples; `null` marks a gap (no figure that second). */
export class SampleWindow {
  #samples = [];
  #capacity;

  constructor(capacity = 60) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError("capacity must be an integer ≥ 2");
    this.#capacity = capacity;
  }

  push(value) {
    this.#samples.push(typeof value === "number" && Number.isFinite(value) ? value : null);
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  values() {
    return [...this.#samples];
  }

  get capacity() {
    return this.#capacity;
  }
}

/**
 * An SVG path through `values`, right-aligned so the newest sample sits at the right edge
 * and a window that is not yet full grows from the right. Gaps break the line.
 * @param {(number|null)[]} values
 * @param {{width: number, height: number, capacity?: number, min?: number, max?: number}} box
 * @returns {string} path data, "" when there is nothing to draw
 */
export function sparklinePath(values, { width, height, capacity = values.length, min, max }) {
  const numbers = values.filter((v) => v !== null);
  if (numbers.length === 0 || capacity < 2) return "";
  const lo = min ?? Math.min(0, ...numbers);
  let hi = max ?? Math.max(...numbers);
  if (hi <= lo) hi = lo + 1;
  const step = width / (capacity - 1);
  const offset = capacity - values.length;
  const parts = [];
  let penDown = false;
  for (const [i, value] of values.entries()) {
    if (value === null) {
      penDown = false;
      continue;
    }
    const x = (offset + i) * step;
    const clamped = Math.min(hi, Math.max(lo, value));
    const y = height - ((clamped - lo) / (hi - lo)) * height;
    parts.push(`${penDown ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`);
    penDown = true;
  }
  return parts.join(" ");
}
