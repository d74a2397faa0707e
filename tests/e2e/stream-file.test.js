// docs/DEVELOPING.md's "Stream a video file" commands, run exactly as printed: a clip made at
// run time goes through the studio page in headless Chromium → WHIP → local backend → WHEP,
// and the figures the command prints show frames coming back.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { relayBinary } from "./harness.mjs";

const root = new URL("../../", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "rtc-stream-file-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function documentedBlock(name) {
  const guide = readFileSync(join(root, "docs/DEVELOPING.md"), "utf8");
  const blocks = [...guide.matchAll(/<!-- run: ([\w-]+) -->\n```bash\n([\s\S]*?)```/g)];
  const found = blocks.filter(([, marker]) => marker === name).map(([, , body]) => body);
  assert.equal(found.length, 1, `one "${name}" block in docs/DEVELOPING.md`);
  return found[0];
}

/** Runs `script` in bash from the checkout; resolves with its output once it exits. */
function runBash(script, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `set -euo pipefail\n${script}`], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    const timer = setTimeout(() => {
      process.kill(-child.pid, "SIGKILL");
      reject(new Error(`timed out after ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ out, err });
      else reject(new Error(`exit ${code}:\n${out}\n${err}`));
    });
  });
}

test("the documented file streamer sends a clip through the pipeline and frames come back", async () => {
  const script = documentedBlock("stream-file");
  // The debug relay the suite already built (the command builds a release one without it);
  // TMPDIR keeps the clip out of the shared /tmp.
  const { out } = await runBash(
    script,
    { ...process.env, RTC_RELAY_BIN: relayBinary, TMPDIR: scratch },
    180_000,
  );
  assert.match(out, /clip\.mp4: 120 frames, 320x240 @ 24 fps, H\.264/);
  assert.match(out, /^stream str_\w+: clip\.mp4 at 512×512 @ 24 fps through WHIP → local → WHEP$/m);
  const seconds = [
    ...out.matchAll(
      /^t=\s*(\d+)s {2}posted\s+(\d+) {2}published\s+(\d+) {2}returned\s+(\d+) .*output (\S+)$/gm,
    ),
  ];
  assert.equal(seconds.length, 8, `eight per-second lines (--seconds 8 with --loop):\n${out}`);
  const returned = seconds.reduce((sum, line) => sum + Number(line[4]), 0);
  assert.ok(returned > 0, `frames came back over WHEP:\n${out}`);
  assert.match(out, /codec video\/H264/, "the publisher negotiated H.264");
  const total = out.match(
    /^total: (\d+) frames posted, (\d+) handed to the publisher, (\d+) returned over WHEP$/m,
  );
  assert.ok(total, out);
  assert.ok(Number(total[3]) >= returned);
  // Eight seconds of a looped five-second clip: the loop went on past the end of the file.
  assert.doesNotMatch(out, /the video file ended/);
});

/** Runs the streamer directly (its arguments are checked before anything is built). */
function streamFile(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn("node", [join(root, "scripts/stream-file.mjs"), ...args], {
      cwd: scratch,
      env: { ...process.env, RTC_RELAY_BIN: relayBinary, DAYDREAM_API_KEY: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.once("exit", (code) => resolve({ code, output }));
  });
}

test("bad arguments and files the browser cannot play are refused with the reason", async () => {
  const usage = /usage: stream-file\.sh VIDEO \[--loop\] \[--seconds N\] \[--backend local\|daydream\]/;
  const missing = await streamFile(["no-such-clip.mp4"]);
  assert.equal(missing.code, 2);
  assert.match(missing.output, /stream-file: .*no-such-clip\.mp4 is not a file/);
  assert.match(missing.output, usage);
  const notText = join(scratch, "notes.mp4");
  writeFileSync(notText, "not a video");
  for (const [args, reason] of [
    [[notText, "--seconds", "0"], "--seconds must be a positive number, not 0"],
    [[notText, "--backend", "cloud"], "unknown backend cloud"],
    [[notText, "--backend", "daydream"], "--backend daydream needs DAYDREAM_API_KEY in the environment"],
  ]) {
    const refused = await streamFile(args);
    assert.equal(refused.code, 2, refused.output);
    assert.ok(refused.output.includes(`stream-file: ${reason}`), refused.output);
  }
  const unplayable = await streamFile([notText, "--seconds", "2"]);
  assert.equal(unplayable.code, 1, unplayable.output);
  assert.match(
    unplayable.output,
    /stream-file: the studio refused to start: This browser cannot play notes\.mp4: /,
  );
});
