// Sample history and sparkline geometry.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SampleWindow, sparklinePath } from "../../www/js/sparkline.mjs";

test("the window keeps only the newest samples and records gaps", () => {
  const window = new SampleWindow(3);
  for (const v of [1, 2, Number.NaN, 4]) window.push(v);
  assert.deepEqual(window.values(), [2, null, 4]);
});

test("a window needs room for a line", () => {
  assert.throws(() => new SampleWindow(1), RangeError);
});

test("the path spans the box, newest sample at the right edge", () => {
  const path = sparklinePath([0, 10], { width: 100, height: 20, capacity: 2 });
  assert.equal(path, "M0.0 20.0 L100.0 0.0");
});

test("a window that is not full grows from the right", () => {
  const path = sparklinePath([5], { width: 100, height: 10, capacity: 5, min: 0, max: 10 });
  assert.equal(path, "M100.0 5.0");
});

test("gaps lift the pen and values are clamped to the scale", () => {
  const path = sparklinePath([1, null, 50], { width: 20, height: 10, capacity: 3, min: 0, max: 10 });
  assert.equal(path, "M0.0 9.0 M20.0 0.0");
});

test("nothing to draw gives an empty path; a flat line stays inside the box", () => {
  assert.equal(sparklinePath([null, null], { width: 10, height: 10 }), "");
  assert.equal(sparklinePath([0, 0], { width: 10, height: 10 }), "M0.0 10.0 L10.0 10.0");
});
