// The frame settings form never overwrites what the user is typing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { FrameForm, frameLimits, parseField } from "../../www/js/frame-form.mjs";

// The real catalog, as the relay's GET /v1/catalog serves it.
const CATALOG = JSON.parse(
  readFileSync(new URL("../../comfy_extension/catalog.json", import.meta.url), "utf8"),
);

test("relay values fill untouched fields", () => {
  const form = new FrameForm();
  assert.deepEqual(form.applyServer({ frame_rate: 24, width: 512, height: 512 }), [
    "frame_rate",
    "width",
    "height",
  ]);
  assert.equal(form.display("width"), "512");
  assert.deepEqual(
    form.applyServer({ frame_rate: 24, width: 512, height: 512 }),
    [],
    "unchanged values are not news",
  );
});

test("a field being edited keeps the user's text through relay updates", () => {
  const form = new FrameForm();
  form.applyServer({ frame_rate: 24, width: 512, height: 512 });
  form.edit("width", "76");
  assert.deepEqual(form.applyServer({ frame_rate: 30, width: 640, height: 512 }), ["frame_rate"]);
  assert.equal(form.display("width"), "76");
  assert.equal(form.display("frame_rate"), "30");
  assert.equal(form.isDirty("width"), true);
});

test("typing back the relay's value is not an edit", () => {
  const form = new FrameForm();
  form.applyServer({ width: 512 });
  form.edit("width", "600");
  form.edit("width", " 512 ");
  assert.equal(form.dirty, false);
});

test("the limits are the catalog's frame limits", () => {
  assert.deepEqual(frameLimits(CATALOG), {
    frame_rate: { min: 1, max: 60, step: 1 },
    width: { min: 64, max: 4096, step: 2 },
    height: { min: 64, max: 4096, step: 2 },
  });
  const limits = frameLimits({ frame: { ...CATALOG.frame, width: { min: 384, max: 1024, step: 64 } } });
  assert.match(parseField("width", "720", limits).error, /multiple of 64/);
  assert.deepEqual(parseField("width", "704", limits), { value: 704 });
});

test("before the catalog arrives only the form of the number is checked", () => {
  assert.deepEqual(parseField("frame_rate", "500"), { value: 500 });
  assert.match(parseField("frame_rate", "5.5").error, /whole number/);
});

test("validation reports every bad field and returns only changed values", () => {
  const form = new FrameForm();
  form.limits = frameLimits(CATALOG);
  form.applyServer({ frame_rate: 24, width: 512, height: 512 });
  form.edit("frame_rate", "0");
  form.edit("width", "513");
  form.edit("height", "abc");
  const result = form.validate();
  assert.equal(result.ok, false);
  assert.match(result.errors.frame_rate, /between 1 and 60/);
  assert.match(result.errors.width, /even/);
  assert.match(result.errors.height, /whole number/);
  form.edit("frame_rate", "30");
  form.edit("width", "640");
  form.edit("height", "512");
  assert.deepEqual(form.validate(), { ok: true, values: { frame_rate: 30, width: 640 }, errors: {} });
});

test("after saving, the relay's answer is the new baseline", () => {
  const form = new FrameForm();
  form.applyServer({ frame_rate: 24, width: 512, height: 512 });
  form.edit("width", "640");
  form.saved({ frame_rate: 24, width: 640, height: 512 });
  assert.equal(form.dirty, false);
  assert.equal(form.display("width"), "640");
  form.edit("height", "720");
  form.discard();
  assert.equal(form.display("height"), "512");
});

test("unknown fields are refused", () => {
  assert.ok(parseField("depth", "8").error);
  assert.throws(() => new FrameForm().edit("depth", "8"));
});
