// Compiled by `tsc` against the generated declarations: the package's TypeScript surface.
import init, { protocolVersion, version } from "../../comfy_extension/web/pkg/rtc_client.js";

export async function load(): Promise<string> {
  await init();
  const v: string = version();
  const p: number = protocolVersion();
  return `${v}/${p}`;
}
