// Types of the kyso protocol v1 as the SDK exposes them. Field names are
// the JSON names of docs/protocol.md and agent/api.go. Every interface is
// open to members a newer agent adds (protocol 1 only grows).

/** Document bytes as a page usually has them. */
export type DocumentData = Blob | ArrayBuffer | Uint8Array;

export type Lang = "vi" | "en";

export interface ConnectOptions {
  /** Ports tried in order. Default [19571, 19572]. */
  ports?: number[];
  /** Loopback address. Default "127.0.0.1" (never "localhost"). */
  host?: string;
  /**
   * Bound on opening the WebSocket and negotiating, per port. Default
   * 150000 ms: the handshake waits while the agent asks the user to approve
   * a new origin (its dialog times out after 2 minutes).
   */
  timeoutMs?: number;
  /** WebSocket constructor; default globalThis.WebSocket. In Node 20 pass `ws`. */
  WebSocket?: typeof WebSocket;
  /** fetch used for /v1/hello and signAndUpload; default globalThis.fetch. */
  fetch?: typeof fetch;
  /**
   * Node only: headers of the WebSocket handshake and the hello request,
   * e.g. {Origin: "https://qlvb.example.gov.vn"} or {"X-Kyso-Secret": …}.
   * Browsers set Origin themselves and cannot send headers on a WebSocket.
   */
  headers?: Record<string, string>;
  /** Reconnect with back-off when the connection drops. Default true. */
  reconnect?: boolean;
  /** Language of KysoError.message. Default "vi". */
  lang?: Lang;
  /**
   * True when connect() runs in a user gesture (a click handler): only then
   * may the SDK raise the browser's Local Network Access prompt.
   */
  userGesture?: boolean;
}

export interface Limits {
  maxDocumentBytes: number;
  maxChunkBytes: number;
  maxInFlight: number;
  maxMessageBytes: number;
  [k: string]: unknown;
}

export interface HelloResult {
  protocol: number;
  version: string;
  capabilities: string[];
  limits: Limits;
  [k: string]: unknown;
}

export interface CertificateFilter {
  kind?: "personal" | "organisation";
  issuer?: string;
  validNow?: boolean;
  signing?: boolean;
  withKey?: boolean;
  tokenId?: string;
  handle?: string;
}

export interface Identity {
  name: string;
  organization?: string;
  organizationalUnit?: string;
  title?: string;
  locality?: string;
  province?: string;
  country?: string;
  email?: string;
  ids: { type: string; value: string }[] | null;
  kind: string;
  [k: string]: unknown;
}

export interface CertificateInfo {
  handle: string;
  identity: Identity;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  keySize: number;
  keyUsage: string[] | null;
  tokenId: string;
  tokenLabel: string;
  /** DER, base64. */
  certificate: string;
  [k: string]: unknown;
}

export interface TokenInfo {
  id: string;
  module: string;
  slotId: number;
  slotDescription: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  flags: Record<string, boolean>;
  pin: { countLow: boolean; finalTry: boolean; locked: boolean; toBeChanged: boolean };
  mechanisms: string[] | null;
  [k: string]: unknown;
}

export interface Status {
  version: string;
  modules: number;
  busy: boolean;
  tokens: TokenInfo[] | null;
  [k: string]: unknown;
}

export interface AnchorOptions {
  text: string;
  occurrence?: number;
  offsetX?: number;
  offsetY?: number;
  w?: number;
  h?: number;
  centerX?: boolean;
  after?: boolean;
}

/** agent.SignPDFOptions. Images are base64 PNG or JPEG. */
export interface SignPdfOptions {
  certificate?: string;
  profile?: "" | "approved" | "issued" | "appendix" | "copy" | "income" | "comment";
  page?: number;
  rectMM?: [number, number, number, number];
  anchor?: AnchorOptions;
  reason?: string;
  location?: string;
  docNumber?: string;
  issuedDate?: string;
  place?: string;
  copyForm?: string;
  showNameTime?: boolean;
  signatureImage?: string;
  sealImage?: string;
  sealMM?: number;
  level?: "" | "B-B" | "B-T" | "B-LT" | "B-LTA";
  hash?: "sha256" | "sha384" | "sha512";
  pss?: boolean;
  [k: string]: unknown;
}

/** A document's description in a result (the bytes travel in binary frames). */
export interface DocumentInfo {
  name: string;
  size: number;
  sha256: string;
  field?: string;
  level?: string;
  signer?: string;
  [k: string]: unknown;
}

/** A signed document: its description and its bytes. */
export interface SignedDocument extends DocumentInfo {
  data: Uint8Array;
}

export interface Progress {
  id: string;
  done: number;
  total: number;
  document?: string;
}

export interface SignPdfsOptions {
  options?: SignPdfOptions;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface SignHashOptions {
  alg?: "sha256" | "sha384" | "sha512";
  certificate?: string;
  pss?: boolean;
  timestamp?: boolean;
  description?: string;
  signal?: AbortSignal;
}

export interface SignHashResult {
  /** CMS SignedData, DER. */
  cms: Uint8Array;
  /** Handle of the signer's certificate. */
  signer: string;
}

export interface SignAndUploadOptions {
  /** What to sign: fetched with the page's own fetch (and cookies). */
  download: string | Request;
  /** Where the signed PDF is POSTed as multipart/form-data. */
  upload: string;
  /** Form field of the file. Default "file". */
  fieldName?: string;
  /** Merged into both requests (credentials, headers…); method and body are the SDK's. */
  fetchInit?: RequestInit;
  options?: SignPdfOptions;
  /** Document name; default from Content-Disposition or the URL. */
  name?: string;
  signal?: AbortSignal;
}

export interface VerificationReport {
  schema: string;
  file?: string;
  size: number;
  sha256: string;
  verdict: "valid" | "invalid" | "indeterminate" | string;
  verifiedAt: string;
  offline: boolean;
  docMDP: number;
  hasDSS: boolean;
  signatures: Array<{
    index: number;
    field: string;
    type: string;
    verdict: string;
    intact: boolean;
    trusted: boolean;
    [k: string]: unknown;
  }> | null;
  [k: string]: unknown;
}

export interface EventMap {
  tokenInserted: TokenInfo;
  tokenRemoved: TokenInfo;
  certificatesChanged: CertificateInfo[];
  progress: Progress;
  /** The connection dropped; details: {code, reason}. */
  disconnected: { code: number; reason: string };
  /** A connection was re-established after a drop. */
  reconnected: HelloResult;
}
