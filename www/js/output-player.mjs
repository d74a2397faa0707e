// A <video> that plays a stream's processed output, driven by the connection policy in
// preview-connection.mjs. Shared by the preview page and the studio.

import { openPlayer } from "./media.mjs";
import { hasOutput, initialConnection, step } from "./preview-connection.mjs";

/**
 * @param {{
 *   client: ReturnType<import("./relay-client.mjs").createRelayClient>,
 *   video: HTMLVideoElement,
 *   loadWasm: () => Promise<Record<string, any>>,
 *   autoConnect: boolean,
 *   note?: (message: string, level?: string) => void,
 *   onChange?: () => void,
 * }} options
 */
export function createOutputPlayer({
  client,
  video,
  loadWasm,
  autoConnect,
  note = () => {},
  onChange = () => {},
}) {
  let connection = initialConnection({ autoConnect });
  let stream = null;
  let player = null;
  let playingId = null;
  let retryTimer = null;

  function dispatch(event) {
    const out = step(connection, event);
    connection = out.state;
    for (const effect of out.effects) perform(effect);
    onChange();
  }

  async function connect() {
    const target = stream;
    if (!target) {
      dispatch({ type: "failed", error: "no stream to play" });
      return;
    }
    await disconnect();
    note(`connecting to ${target.id}`);
    let opened = null;
    try {
      const wasm = await loadWasm();
      opened = openPlayer(wasm, {
        whepUrl: client.whepUrl(target.id),
        video,
        onState: (state) => {
          note(`player ${state}`);
          if (opened === player && (state === "failed" || state === "ended"))
            dispatch({ type: "lost", error: `player ${state}` });
        },
        onError: (message) => note(message, "error"),
      });
      player = opened;
      playingId = target.id;
      await opened.connect();
      if (opened !== player) return;
      note("playing");
      dispatch({ type: "connected" });
    } catch (err) {
      if (opened && opened !== player) return;
      note(`connect failed: ${err.message}`, "error");
      dispatch({ type: "failed", error: err.message });
    }
  }

  async function disconnect() {
    const closing = player;
    player = null;
    playingId = null;
    if (!closing) return;
    try {
      await closing.stop();
      note("disconnected");
    } catch (err) {
      note(`disconnect: ${err.message}`, "warn");
    }
  }

  function perform(effect) {
    switch (effect.type) {
      case "connect":
        connect();
        break;
      case "disconnect":
        disconnect();
        break;
      case "retry":
        clearTimeout(retryTimer);
        note(`retrying in ${Math.round(effect.delayMs / 1000)} s`);
        retryTimer = setTimeout(() => dispatch({ type: "retry" }), effect.delayMs);
        break;
      case "cancelRetry":
        clearTimeout(retryTimer);
        retryTimer = null;
        break;
    }
  }

  return {
    get connection() {
      return connection;
    },
    get playing() {
      return player !== null;
    },
    /** Follows the stream to show; a different stream ends the old connection first. */
    sync(next) {
      const switched = playingId !== null && next?.id !== playingId;
      stream = next ?? null;
      if (switched) dispatch({ type: "available", value: false });
      if (connection.available !== hasOutput(stream))
        dispatch({ type: "available", value: hasOutput(stream) });
    },
    userConnect: () => dispatch({ type: "userConnect" }),
    userDisconnect: () => dispatch({ type: "userDisconnect" }),
    setAutoConnect: (value) => dispatch({ type: "autoConnect", value }),
    async close() {
      clearTimeout(retryTimer);
      await disconnect();
    },
  };
}
