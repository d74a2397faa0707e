// The frame settings form never overwrites what the user is typing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameForm, parseField } from "../../www/js/frame-form.mjs";

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

test("validation reports every bad field and returns only changed values", () => {
  const form = new FrameForm();
  form.applyServer({ frame_rate: 24, width: 512, height: 512 });
  form.edit("frame_rate", "0");
  form.edit("width", "513");
  form.edit("height", "abc");
  const result = form.validate();
  assert.equal(result.ok, false);
  assert.match(result.errors.frame_rate, /between 1 and 120/);
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
