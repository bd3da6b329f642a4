// kyso JavaScript SDK: talks to the local kyso signing agent over its
// loopback WebSocket (docs/protocol.md, protocol 1).
export { connect, KysoClient, VERSION } from "./client";
export { KysoError } from "./errors";
export type * from "./types";
