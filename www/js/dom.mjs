// Tiny element builder. Text always goes in as text nodes, never as HTML, so ids and
// messages from the network cannot inject markup.

// Set as properties: the attribute alone does not change the live state of an element made by
// script (a `muted` attribute does not mute it, and autoplay is then refused).
const PROPERTIES = new Set(["className", "textContent", "value", "checked", "disabled", "muted"]);

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [props] attributes; `on*` functions become listeners,
 *   `dataset` an object, the names in PROPERTIES properties, anything else an attribute
 * @param {...(Node|string|number|null|undefined|false)} children
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (PROPERTIES.has(key)) {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Same as `h` for SVG elements (attributes only). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Sets text only when it changed, so re-renders do not disturb selection or layout. */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** Replaces an element's children. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
