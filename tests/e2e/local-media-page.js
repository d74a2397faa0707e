// Plain browser WebRTC against the local media server: a WHIP publisher that paints a
// known colour pattern and WHEP viewers that check it. Loaded into a blank page served by
// the server, so every request is same-origin.

const WIDTH = 320;
const HEIGHT = 240;

/** The publisher's pattern: left half red, right half blue, a green bar that moves. */
function paint(ctx, frame) {
  ctx.fillStyle = "rgb(220,30,30)";
  ctx.fillRect(0, 0, WIDTH / 2, HEIGHT);
  ctx.fillStyle = "rgb(30,30,220)";
  ctx.fillRect(WIDTH / 2, 0, WIDTH / 2, HEIGHT);
  ctx.fillStyle = "rgb(30,200,30)";
  ctx.fillRect(0, (frame * 4) % (HEIGHT - 20), WIDTH, 8);
}

function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function preferH264(transceiver, kind) {
  const codecs = RTCRtpReceiver.getCapabilities(kind).codecs;
  const h264 = codecs.filter((c) => c.mimeType === "video/H264");
  const rest = codecs.filter((c) => c.mimeType === "video/rtx");
  transceiver.setCodecPreferences([...h264, ...rest]);
}

/** POSTs the complete offer (all candidates) and applies the answer. */
async function negotiate(pc, url) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGathering(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  }
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  return {
    location: response.headers.get("location"),
    etag: response.headers.get("etag"),
    playbackUrl: response.headers.get("livepeer-playback-url"),
  };
}

// Chromium gathers no candidates on a loopback-only network without media permission;
// the stream is kept on window so the permission (and its track) stays alive.
async function ensurePermission() {
  window.permissionStream ??= await navigator.mediaDevices.getUserMedia({ video: true });
}

window.publish = async (whipUrl) => {
  await ensurePermission();
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const ctx = canvas.getContext("2d");
  const stream = canvas.captureStream(30);
  let frame = 0;
  paint(ctx, frame);
  const timer = setInterval(() => paint(ctx, ++frame), 33);
  const pc = new RTCPeerConnection();
  const transceiver = pc.addTransceiver(stream.getVideoTracks()[0], {
    direction: "sendonly",
    streams: [stream],
  });
  preferH264(transceiver, "video");
  const session = await negotiate(pc, whipUrl);
  window.publisher = {
    pc,
    session,
    stop: async () => {
      clearInterval(timer);
      const status = (await fetch(session.location, { method: "DELETE" })).status;
      pc.close();
      return status;
    },
  };
  return session;
};

/** Starts a viewer; resolves with timings once its first frame is painted. */
window.view = async (whepUrl, name) => {
  await ensurePermission();
  const started = performance.now();
  const pc = new RTCPeerConnection();
  const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
  preferH264(transceiver, "video");
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  document.body.append(video);
  const states = [];
  pc.addEventListener("connectionstatechange", () => states.push(pc.connectionState));
  const firstFrame = new Promise((resolve) => {
    pc.addEventListener("track", (event) => {
      video.srcObject = new MediaStream([event.track]);
      video.play();
      video.requestVideoFrameCallback(() => resolve(performance.now()));
    });
  });
  const session = await negotiate(pc, whepUrl);
  const shownAt = await firstFrame;
  window.viewers ??= {};
  window.viewers[name] = { pc, video, states, session };
  return { joinToFirstFrameMs: shownAt - started, location: session.location };
};

/** Samples the viewer's current picture at the middle of each half. */
window.sample = async (name) => {
  const { video } = window.viewers[name];
  await new Promise((resolve) => video.requestVideoFrameCallback(resolve));
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, 0, 0);
  const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
  const y = Math.round(canvas.height * 0.9);
  return {
    width: canvas.width,
    height: canvas.height,
    left: at(Math.round(canvas.width * 0.25), y),
    right: at(Math.round(canvas.width * 0.75), y),
  };
};

/** Resolves with the viewer's connection state once the stream has ended for it. */
window.viewerEnded = (name) => {
  const { pc, video } = window.viewers[name];
  const ended = () => ["closed", "failed", "disconnected"].includes(pc.connectionState);
  if (ended()) return Promise.resolve(pc.connectionState);
  return new Promise((resolve) => {
    pc.addEventListener("connectionstatechange", () => {
      if (ended()) resolve(pc.connectionState);
    });
    video.srcObject?.getVideoTracks()[0]?.addEventListener("ended", () => resolve("track-ended"));
  });
};
