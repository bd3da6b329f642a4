// Test helper shared by the upload tests: reading multipart/form-data.
import assert from "node:assert/strict";

// The parts of a multipart/form-data body: [{name, filename, type, data}].
export function parseMultipart(body, contentType) {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  assert.ok(boundary, `no boundary in ${contentType}`);
  const delim = Buffer.from("--" + (boundary[1] || boundary[2]));
  const parts = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delim, start);
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const sep = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, sep).toString();
    parts.push({
      name: /name="([^"]*)"/.exec(head)?.[1],
      filename: /filename="([^"]*)"/.exec(head)?.[1],
      type: /content-type:\s*(\S+)/i.exec(head)?.[1],
      data: new Uint8Array(part.subarray(sep + 4)),
    });
    pos = next;
  }
  return parts;
}
