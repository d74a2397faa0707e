// The agent's player, the studio's player and a preview on one stream, pages straight from the relay.
import { playTogether } from "./play-together.mjs";

playTogether("direct");
