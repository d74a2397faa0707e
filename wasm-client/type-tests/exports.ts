// Compiled by `tsc` against the generated declarations: the package's TypeScript surface.
import init, {
  type AgentStreamInfo,
  type Broadcast,
  type BroadcastOptions,
  createAgent,
  createBroadcast,
  createPlayer,
  drawMarker,
  type FrameCounters,
  isRtcClientError,
  type JpegCodec,
  type MediaState,
  protocolVersion,
  readMarker,
  type StreamStats,
  version,
} from "../../www/pkg/rtc_client.js";

export async function load(): Promise<string> {
  await init();
  const v: string = version();
  const p: number = protocolVersion();
  return `${v}/${p}`;
}

export async function publishAndPlay(video: HTMLVideoElement): Promise<MediaState> {
  const options: BroadcastOptions = {
    whipUrl: "/v1/streams/str_1/whip",
    frameRate: 24,
    maxBitrateKbps: 2000,
    reconnect: { maxAttempts: 3, baseDelayMs: 250 },
  };
  const broadcast: Broadcast = createBroadcast(options);
  const off: () => void = broadcast.on("stateChange", ({ state, previous }) => {
    const s: MediaState = state;
    const p: MediaState = previous;
    console.log(s, p);
  });
  broadcast.on("error", (err) => console.log(err.code, err.status));
  broadcast.on("reconnect", (e) => console.log(e.attempt, e.delayMs, e.reason.code));
  const pixels = new Uint8Array(512 * 512 * 4);
  drawMarker(pixels, 512, 512, 4, 7);
  const marker: number | undefined = readMarker(pixels, 512, 512, 4);
  broadcast.pushFrame(pixels, 512, 512, "rgba8", marker);
  await broadcast.connect();
  broadcast.setVideo({ frameRate: 30 });
  const counters: FrameCounters = broadcast.frames;
  const stats: StreamStats | undefined = await broadcast.stats();
  console.log(counters.repeated, stats?.fps);
  off();

  const player = createPlayer("/v1/streams/str_1/whep", { token: "t" });
  player.on("frame", (frame: VideoFrame) => console.log(frame.timestamp));
  player.attach(video);
  try {
    await player.connect();
  } catch (err: unknown) {
    if (isRtcClientError(err) && err.code === "NOT_READY") {
      console.log("no publisher yet");
    }
  }
  await player.stop();
  await broadcast.stop();
  return broadcast.state;
}

export async function runAgent(): Promise<AgentStreamInfo[]> {
  const agent = createAgent({ baseUrl: "/rtc/api/", label: "type test" });
  agent.on("stream", ({ streamId, role, state }) => console.log(streamId, role, state));
  agent.on("stats", ({ stats }) => console.log(stats.bitrate_kbps));
  await agent.connect();
  const id: string | undefined = agent.agentId;
  const video: MediaStream | undefined = id ? agent.playerStream(id) : undefined;
  console.log(video?.id, agent.state);
  return agent.streams();
}

export function agentWithJpeg(codec: JpegCodec): Promise<void> {
  return createAgent({ link: "auto", jpeg: codec }).connect();
}
