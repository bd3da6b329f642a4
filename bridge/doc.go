// Package bridge is kyso's loopback server: the edge through which web
// pages reach the agent. It binds to 127.0.0.1 only, gates every
// WebSocket handshake (exact Host, exact Origin decided by the agent, or
// the per-user secret for local clients), speaks protocol v1 (JSON text
// frames plus binary frames for document bytes, docs/protocol.md) and
// translates messages into agent.Service calls. It knows nothing about
// PDFs, tokens or dialogs: the agent decides, the bridge transports.
package bridge
