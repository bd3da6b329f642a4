// Package agent holds what a signing request means for kyso: policy,
// configuration, approval and orchestration over token, cms and pades. It
// knows nothing about WebSockets or GUIs; the bridge, the tray and the CLI
// are its edges.
package agent
