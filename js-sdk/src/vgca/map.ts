// kyso's answers in the incumbent plugin's shapes: certificates
// (GetCertInfo) and verification reports (VerifyPDF).
import type { CertificateInfo, VerificationReport } from "../types";
import { vnTime } from "./dates";

// ---- Distinguished names from the certificate's DER ----

// Short names of the attributes Vietnamese certificates carry, as Windows
// (and so the incumbent, a .NET program) prints them.
const ATTR: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "S",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "T",
  "2.5.4.42": "G",
  "1.2.840.113549.1.9.1": "E",
  "0.9.2342.19200300.100.1.1": "OID.0.9.2342.19200300.100.1.1",
  "0.9.2342.19200300.100.1.25": "DC",
};

interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // after the last content byte
}

function tlv(b: Uint8Array, p: number): Tlv {
  const tag = b[p++];
  let n = b[p++];
  if (n & 0x80) {
    let k = n & 0x7f;
    for (n = 0; k--; ) n = n * 256 + b[p++];
  }
  if (p + n > b.length) throw new Error("DER");
  return { tag, start: p, end: p + n };
}

// The children of a constructed element.
function kids(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; p = out[out.length - 1].end) out.push(tlv(b, p));
  return out;
}

function oid(b: Uint8Array, t: Tlv): string {
  const out = [Math.floor(b[t.start] / 40), b[t.start] % 40];
  for (let p = t.start + 1, v = 0; p < t.end; p++) {
    v = v * 128 + (b[p] & 0x7f);
    if (!(b[p] & 0x80)) out.push(v), (v = 0);
  }
  return out.join(".");
}

function str(b: Uint8Array, t: Tlv): string {
  const c = b.subarray(t.start, t.end);
  if (t.tag == 0x1e) {
    // BMPString: UTF-16BE.
    let s = "";
    for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i] << 8) | c[i + 1]);
    return s;
  }
  return new TextDecoder().decode(c);
}

// A Name as Windows prints it: the most specific RDN first, ", " between.
function dn(b: Uint8Array, name: Tlv): string {
  const parts: string[] = [];
  for (const set of kids(b, name))
    for (const atv of kids(b, set)) {
      const [o, v] = kids(b, atv);
      const id = oid(b, o);
      let s = str(b, v);
      if (/[,+="<>#;\n]|^\s|\s$/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
      parts.unshift((ATTR[id] || "OID." + id) + "=" + s);
    }
  return parts.join(", ");
}

/** Subject and issuer of a DER certificate, as the incumbent prints them. */
export function names(der: Uint8Array): { subject: string; issuer: string } {
  const tbs = kids(der, kids(der, tlv(der, 0))[0]);
  const i = tbs[0].tag == 0xa0 ? 1 : 0; // explicit version
  return { issuer: dn(der, tbs[i + 2]), subject: dn(der, tbs[i + 4]) };
}

/**
 * GetCertInfo's CertInfo from a kyso certificate: SerialNumber (upper-case
 * hex), Subject and Issuer (full DNs from the DER, most specific first),
 * NotBefore and NotAfter (ISO 8601 with +07:00), Base64 (the DER). Extra:
 * Handle (kyso's certificate handle), Kind (personal | organisation),
 * TokenLabel.
 */
export function certInfo(c: CertificateInfo) {
  let subject = "CN=" + c.identity.name;
  let issuer = "CN=" + c.issuer;
  try {
    ({ subject, issuer } = names(Uint8Array.from(atob(c.certificate), (x) => x.charCodeAt(0))));
  } catch {}
  return {
    SerialNumber: (c.serial || "").toUpperCase(),
    Subject: subject,
    Issuer: issuer,
    NotBefore: vnTime(c.notBefore),
    NotAfter: vnTime(c.notAfter),
    Base64: c.certificate,
    Handle: c.handle,
    Kind: c.identity.kind,
    TokenLabel: c.tokenLabel,
  };
}

// ---- Verification ----

// Findings about the signer's certificate (docs/verification.md).
const CERT_FINDINGS = new Set([
  "CHAIN_UNTRUSTED",
  "SHA1_CHAIN_REFUSED",
  "CERT_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CA_NOT_ALLOWED",
  "BAD_CERT_SIGNATURE",
  "KEY_USAGE_INVALID",
  "CERT_REVOKED",
  "REVOKED_NO_POE",
  "REVOCATION_UNKNOWN",
  "LEGACY_SHA1_CHAIN",
  "CERT_EXPIRED_SINCE",
  "REVOKED_AFTER_SIGNING",
]);

const STATUS: Record<string, number> = { valid: 0, invalid: 1, indeterminate: 2 };

/**
 * A kyso.verification/v1 report as the incumbent's VerifyPDF list, one
 * entry per signature (document timestamps are left out):
 *
 * - SigInfo.SignerCert: SerialNumber, Subject, Issuer, NotBefore, NotAfter
 *   (from signerCertificate), Name (the signer's CN);
 * - SigInfo.SigningTime (ISO 8601, +07:00), SigningTimeSource
 *   (timestamp | claimed | verification), TimeStamp (the signature
 *   timestamp's time, or ""), FieldName, Reason, Location;
 * - ValidationDetails.SignerCertStatus: {Status, Description}: 0 when no
 *   finding about the certificate weighs on the verdict, 1 when one makes
 *   it invalid (revoked, expired at signing, broken or refused chain, key
 *   usage), 2 when one leaves it indeterminate (untrusted chain, no
 *   revocation answer); Description: those findings' Vietnamese messages;
 * - ValidationDetails.Status (0 valid, 1 invalid, 2 indeterminate),
 *   Verdict (kyso's), Intact (integrity), Trusted (chain to an anchor),
 *   Findings [{Code, Severity, Message}].
 */
export function verifyList(r: VerificationReport) {
  return (r.signatures || [])
    .filter((s) => s.type != "doc-timestamp")
    .map((s: any) => {
      const c = s.signerCertificate || {};
      const f: any[] = s.findings || [];
      const certF = f.filter((x) => CERT_FINDINGS.has(x.code));
      const weigh = (sev: string) => certF.filter((x) => x.severity == sev);
      const bad = weigh("invalid");
      const unsure = weigh("indeterminate");
      const why = (bad.length ? bad : unsure.length ? unsure : certF).map((x) => x.message).join(" ");
      return {
        SigInfo: {
          SignerCert: {
            SerialNumber: (c.serial || "").toUpperCase(),
            Subject: c.subject || "",
            Issuer: c.issuer || "",
            NotBefore: vnTime(c.notBefore),
            NotAfter: vnTime(c.notAfter),
            Name: c.name || (s.signer && s.signer.name) || "",
          },
          SigningTime: vnTime(s.signingTime),
          SigningTimeSource: s.signingTimeSource || "",
          TimeStamp: vnTime(s.timestamp && s.timestamp.time),
          FieldName: s.field,
          Reason: s.reason || "",
          Location: s.location || "",
        },
        ValidationDetails: {
          SignerCertStatus: {
            Status: bad.length ? 1 : unsure.length ? 2 : 0,
            Description: why || "Chứng thư số hợp lệ.",
          },
          Status: STATUS[s.verdict] ?? 2,
          Verdict: s.verdict,
          Intact: s.intact,
          Trusted: s.trusted,
          Findings: f.map((x) => ({ Code: x.code, Severity: x.severity, Message: x.message })),
        },
      };
    });
}
