// KysoError's messages; needs no agent.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KysoError } from "../dist/kyso.mjs";

// Every code of docs/protocol.md's error section and handshake refusals,
// and the SDK's own.
const codes = `BAD_MESSAGE UNKNOWN_METHOD NOT_NEGOTIATED UNSUPPORTED_PROTOCOL TOO_LARGE TOO_MANY_REQUESTS
DUPLICATE_ID DOCUMENT_INCOMPLETE DOCUMENT_DIGEST_MISMATCH CANCELLED INTERNAL ORIGIN_NOT_ALLOWED ORIGIN_BLOCKED
HASH_SIGNING_NOT_ALLOWED USER_CANCELLED DIALOG_TIMEOUT NO_CERTIFICATE CERTIFICATE_REQUIRED CERT_EXPIRED BUSY PIN_FILE_REFUSED
BAD_REQUEST PIN_INCORRECT PIN_LOCKED PIN_EXPIRED PIN_INVALID TOKEN_ABSENT TOKEN_REMOVED KEY_NOT_FOUND
CERT_NOT_FOUND MECHANISM_NOT_SUPPORTED FUNCTION_FAILED MODULE_LOAD_FAILED PASSWORD_INCORRECT BAD_DOCUMENT
ENCRYPTED_DOCUMENT DOCUMENT_LOCKED FIELD_EXISTS BAD_PAGE ANCHOR_NOT_FOUND DIGEST_MISMATCH SIGNATURE_TOO_LARGE
TSA_UNAVAILABLE TSA_INVALID_RESPONSE NOT_WEBSOCKET ORIGIN_MALFORMED HOST_NOT_ALLOWED ORIGIN_REQUIRED
SECRET_INVALID TOO_MANY_CONNECTIONS SHUTTING_DOWN
NOT_SECURE_CONTEXT LNA_DENIED LNA_PROMPT_DISMISSED LNA_PROMPT_REQUIRED AGENT_NOT_RUNNING SAFARI_NEEDS_WSS
AGENT_DISCONNECTED TIMEOUT PROTOCOL_MISMATCH CONNECTION_REFUSED DOWNLOAD_FAILED UPLOAD_FAILED`.split(/\s+/);

test("every code has a Vietnamese and an English message", () => {
  const vi = new Set();
  for (const code of codes) {
    const e = new KysoError(code);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "KysoError");
    assert.equal(e.code, code);
    assert.doesNotMatch(e.messageVi, /không xác định/, code);
    assert.doesNotMatch(e.messageEn, /Unexpected error/, code);
    assert.notEqual(e.messageVi, e.messageEn, code);
    assert.equal(e.message, e.messageVi, "Vietnamese by default");
    assert.equal(new KysoError(code, undefined, "en").message, e.messageEn);
    vi.add(e.messageVi);
  }
  assert.ok(vi.size > codes.length - 5, "messages are specific");
});

test("PIN_INCORRECT says how many tries are left", () => {
  const e = new KysoError("PIN_INCORRECT", { retriesLeft: 2, ckr: "CKR_PIN_INCORRECT" });
  assert.equal(e.messageVi, "Mã PIN không đúng. Còn 2 lần thử.");
  assert.equal(e.messageEn, "Wrong PIN. 2 tries left.");
  assert.equal(new KysoError("PIN_INCORRECT", { retriesLeft: -1 }).messageVi, "Mã PIN không đúng.");
});

test("an unknown code is a generic failure that names the code", () => {
  const e = new KysoError("SOMETHING_NEW", { x: 1 }, "vi", "new thing");
  assert.equal(e.messageVi, "Lỗi không xác định (SOMETHING_NEW).");
  assert.equal(e.messageEn, "Unexpected error (SOMETHING_NEW).");
  assert.equal(e.agentMessage, "new thing");
  assert.deepEqual(e.details, { x: 1 });
});
