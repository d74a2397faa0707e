// .vscode/launch.json: every configuration's program, working folder, build task, cargo target,
// arguments and environment exist in this checkout, so F5 does not fail on a stale name.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const read = (path) => readFileSync(join(root, path), "utf8");
const launch = JSON.parse(read(".vscode/launch.json"));
const tasks = JSON.parse(read(".vscode/tasks.json"));
const inputIds = new Set(launch.inputs.map((input) => input.id));

/** `${workspaceFolder}` and `${input:…}` resolved; any other variable is an error. */
function resolve(value) {
  return value.replace(/\$\{([^}]+)\}/g, (_, name) => {
    if (name === "workspaceFolder") return root;
    const input = name.match(/^input:(.+)$/);
    assert.ok(input, `unsupported variable \${${name}}`);
    assert.ok(inputIds.has(input[1]), `\${${name}} is not declared in "inputs"`);
    return `<${input[1]}>`;
  });
}

/** The relay's flags and environment variables, as its clap `Config` declares them. */
function relaySettings() {
  const source = read("relay/src/config.rs");
  const flags = new Set(["--help", "--version"]);
  const env = new Set();
  for (const [, attrs, field] of source.matchAll(
    /#\[arg\(([^\]]*?)\)\]\s*(?:\/\/\/[^\n]*\n\s*)*pub (\w+):/g,
  )) {
    const long = attrs.match(/long = "([\w-]+)"/);
    if (long) flags.add(`--${long[1]}`);
    else if (/\blong\b/.test(attrs)) flags.add(`--${field.replaceAll("_", "-")}`);
    for (const [, name] of attrs.matchAll(/env = "(\w+)"/g)) env.add(name);
  }
  // Read from the environment only (`Secret::from_env`), never a flag.
  for (const [, name] of source.matchAll(/Secret::from_env\("(\w+)"\)/g)) env.add(name);
  return { flags, env };
}

/** Option names of a script that parses its arguments with `parseArgs({ options: {…} })`. */
function scriptOptions(path) {
  const source = read(path);
  const block = source.match(/options: \{([\s\S]*?)\n {2}\},/);
  assert.ok(block, `${path} has no parseArgs options`);
  return new Set([...block[1].matchAll(/^\s{4}(\w+): \{ type:/gm)].map(([, name]) => `--${name}`));
}

const byName = (type) => launch.configurations.filter((c) => c.type === type);

test("every configuration has a known type, a unique name and an existing working folder", () => {
  const names = launch.configurations.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const config of launch.configurations) {
    assert.ok(["lldb", "node", "chrome"].includes(config.type), `${config.name}: type ${config.type}`);
    assert.equal(config.request, "launch", config.name);
    if (config.cwd) assert.ok(statSync(resolve(config.cwd)).isDirectory(), `${config.name}: cwd`);
    if (config.preLaunchTask) {
      assert.ok(
        tasks.tasks.some((t) => t.label === config.preLaunchTask),
        `${config.name}: no task "${config.preLaunchTask}" in tasks.json`,
      );
    }
  }
  for (const compound of launch.compounds) {
    for (const name of compound.configurations) assert.ok(names.includes(name), `${compound.name}: ${name}`);
  }
});

test("the relay configurations build the relay binary and pass only flags and variables it reads", () => {
  const cargo = read("relay/Cargo.toml");
  const { flags, env } = relaySettings();
  assert.ok(flags.has("--addr") && flags.has("--backend") && env.has("RTC_LOG"), "config.rs was parsed");
  const relays = byName("lldb");
  assert.ok(relays.length >= 2);
  for (const config of relays) {
    const args = config.cargo.args;
    const bin = args[args.indexOf("--bin") + 1];
    assert.equal(args[args.indexOf("-p") + 1], "rtc-relay", config.name);
    assert.match(cargo, new RegExp(`\\[\\[bin\\]\\]\\nname = "${bin}"\\npath = "src/main.rs"`));
    assert.ok(existsSync(join(root, "relay/src/main.rs")));
    assert.deepEqual(config.cargo.filter, { name: bin, kind: "bin" });
    for (const arg of config.args.filter((a) => a.startsWith("--"))) {
      assert.ok(flags.has(arg), `${config.name}: rtc-relay has no ${arg}`);
    }
    const backend = config.args[config.args.indexOf("--backend") + 1];
    assert.ok(["local", "daydream"].includes(backend), `${config.name}: backend ${backend}`);
    for (const name of Object.keys(config.env))
      assert.ok(env.has(name), `${config.name}: rtc-relay reads no ${name}`);
    // The state folder is the one the docs and the studio configuration point at.
    assert.equal(resolve(config.env.RTC_RELAY_STATE_DIR), join(root, ".relay-state"));
    assert.match(read(".gitignore"), /^\/\.relay-state\/$/m);
  }
});

test("the file streamer configuration runs the script with arguments it accepts", () => {
  const [streamer] = byName("node");
  assert.ok(existsSync(resolve(streamer.program)), streamer.program);
  const options = scriptOptions("scripts/stream-file.mjs");
  assert.ok(options.has("--loop") && options.has("--seconds") && options.has("--backend"));
  const flags = streamer.args.filter((a) => a.startsWith("--"));
  for (const flag of flags) assert.ok(options.has(flag), `stream-file.mjs has no ${flag}`);
  const seconds = streamer.args[streamer.args.indexOf("--seconds") + 1];
  assert.ok(Number(seconds) > 0, `--seconds ${seconds}`);
  const positionals = streamer.args.filter(
    (a, i) => !a.startsWith("--") && streamer.args[i - 1] !== "--seconds",
  );
  assert.deepEqual(positionals.map(resolve), ["<video>"], "the one positional is the video input");
  // The build task makes what the streamer runs: the debug relay it defaults to and the wasm package.
  const task = tasks.tasks.find((t) => t.label === streamer.preLaunchTask);
  assert.match(task.command, /cargo build -p rtc-relay/);
  assert.ok(
    task.command.includes("scripts/build-wasm.sh") && existsSync(join(root, "scripts/build-wasm.sh")),
  );
  assert.match(read("tests/e2e/harness.mjs"), /join\(targetDir, "debug", "rtc-relay"\)/);
  const video = launch.inputs.find((input) => input.id === "video");
  assert.ok(
    video.description.includes("tests/e2e/make_video.py") &&
      existsSync(join(root, "tests/e2e/make_video.py")),
  );
});

test("the studio configuration opens the page the relay configurations serve", () => {
  const [studio] = byName("chrome");
  const url = new URL(resolve(studio.url));
  const relay = byName("lldb")[0];
  assert.equal(url.host, relay.args[relay.args.indexOf("--addr") + 1]);
  assert.equal(url.pathname, "/");
  assert.equal(url.searchParams.get("token"), "<relayToken>");
  assert.ok(existsSync(join(resolve(studio.webRoot), "index.html")), "webRoot holds the studio page");
});
