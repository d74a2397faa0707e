// The agent's player, the studio's player and a preview on one stream, pages and every call through
// the pack's own proxy (comfy_extension/rtc_node/proxy.py) behind the ComfyUI stand-in.
import { playTogether } from "./play-together.mjs";

playTogether("ComfyUI's proxy");
