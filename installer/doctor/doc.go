// Package doctor answers the helpdesk's first questions about a kyso
// installation: is the agent running and on which port, which PKCS#11
// libraries load and why the others do not, which tokens and certificates
// are present and whether they are valid and trusted, which trust anchors
// are loaded, whether the timestamp authority answers, whether the
// browsers' policies let the configured web pages reach the agent, and
// whether the agent starts at login.
//
// Run makes every check and returns a Report of findings; each finding has
// a stable id, a severity, a one-line message and a one-line fix. The
// report is written for people (WriteText) or programs (WriteJSON, schema
// kyso.doctor/v1) in Vietnamese or English. `kyso doctor` prints it and
// the tray's "Chẩn đoán" shows it.
//
// Every check is an independent function of the Config. What touches the
// system (the instance socket, the /proc tree, /etc, the registry, the
// autostart entries, the token libraries, the network) is reached through
// Config fields that tests replace; nothing is kept between runs.
//
// # Finding ids and their details
//
// Ids are "area.outcome"; the area groups the text form. Details keys are
// stable per id:
//
//	version                      version, os, arch, go
//	config.policy                path, allowedOrigins | error
//	config.user                  path | error
//	config.settings              error (the agent would not start)
//	config.audit                 path
//	agent.running                pid, port, version
//	agent.serving                port (kyso answers, but not this user's kyso run)
//	agent.not-running            —
//	agent.unreachable            error (locked but not answering)
//	port.free|kyso|other|unknown port, state, version, error, processes[{pid,name,cmdline}], ownerError
//	module.loaded                path, configured, manufacturer, description, cryptokiVersion, libraryVersion
//	module.<reason>              path, configured, reason, error, detail, arch, dependency; reason is one of
//	                             missing, unreadable, not-file, wrong-os, wrong-arch, not-library,
//	                             not-pkcs11, dependency, init-failed, load-failed
//	module.none                  tried
//	token.present                label, tokenId, module, slot, manufacturer, model, serial, pin
//	token.pin-locked|pin-final-try|pin-count-low|pin-change   as token.present
//	token.none, token.timeout    error (timeout)
//	token.no-certificate         token, tokenId
//	cert.valid|expiring|expired|not-yet-valid   holder, kind, issuer, serial, handle, token, notBefore, notAfter, daysLeft
//	chain.trusted|system|untrusted|problem|unchecked   holder, handle, issuer, anchor, source, legacySHA1, code, error
//	trust.roots                  roots, subCAs, legacyRoots | error
//	trust.file                   path, certificates | error
//	trust.system                 path, certificates
//	tsa.none|unchecked|ok|unreachable|invalid   url, defaultLevel, milliseconds, code, error
//	browser.allowed|missing|blocked   browser, installed, sources, allowed, missing, blocked
//	browser.unreadable           browser, error
//	browser.no-origins, browser.none  —
//	autostart.installed|stale|absent|unknown   scope, files[{path,present,current}], systemd, error
//	<area>.timeout               seconds (the check overran its budget)
package doctor
