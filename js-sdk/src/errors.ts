import type { Lang, SignedDocument } from "./types";

// User-facing messages by error code: [Vietnamese, English]. Every code of
// docs/protocol.md's error section, the handshake refusals, and the SDK's
// own codes (connection flow, transport).
const M: Record<string, [string, string]> = {
  // The bridge.
  BAD_MESSAGE: ["Yêu cầu gửi tới kyso không hợp lệ.", "The request sent to kyso was malformed."],
  UNKNOWN_METHOD: ["Phiên bản kyso đang chạy không hỗ trợ chức năng này.", "The running kyso agent does not support this function."],
  NOT_NEGOTIATED: ["Kết nối tới kyso chưa được thiết lập xong.", "The connection to kyso was not negotiated."],
  UNSUPPORTED_PROTOCOL: ["Phiên bản kyso không tương thích với trang này. Hãy cập nhật kyso.", "This kyso version is not compatible with this page. Please update kyso."],
  TOO_LARGE: ["Tài liệu quá lớn để ký.", "The document is too large to sign."],
  TOO_MANY_REQUESTS: ["Có quá nhiều yêu cầu đang xử lý. Vui lòng thử lại sau.", "Too many requests in progress. Please try again shortly."],
  DUPLICATE_ID: ["Yêu cầu bị trùng mã.", "Duplicate request id."],
  DOCUMENT_INCOMPLETE: ["Tài liệu gửi tới kyso không đầy đủ.", "The document did not reach kyso completely."],
  DOCUMENT_DIGEST_MISMATCH: ["Tài liệu bị thay đổi trong khi truyền.", "The document was altered in transit."],
  CANCELLED: ["Thao tác đã bị hủy.", "The operation was cancelled."],
  INTERNAL: ["kyso gặp lỗi nội bộ.", "kyso had an internal error."],
  // The agent.
  ORIGIN_NOT_ALLOWED: ["Trang web này chưa được phép sử dụng kyso để ký số.", "This website is not allowed to use kyso for signing."],
  ORIGIN_BLOCKED: ["Bạn đã từ chối trang web này gần đây. Hãy thử lại sau.", "You refused this website recently. Please try again later."],
  HASH_SIGNING_NOT_ALLOWED: ["Trang web này không được phép ký giá trị băm.", "This website may not sign hashes."],
  USER_CANCELLED: ["Bạn đã hủy thao tác ký.", "You cancelled the signing."],
  DIALOG_TIMEOUT: ["Hết thời gian chờ xác nhận trên kyso.", "The kyso dialog timed out."],
  NO_CERTIFICATE: ["Không tìm thấy chứng thư số phù hợp. Hãy cắm thiết bị ký số (USB token).", "No matching certificate. Please plug in your signing token."],
  CERTIFICATE_REQUIRED: ["Có nhiều chứng thư số; cần chọn một chứng thư.", "Several certificates match; one must be chosen."],
  CERT_EXPIRED: ["Chứng thư số đã hết hạn hoặc chưa có hiệu lực.", "The certificate is expired or not yet valid."],
  BUSY: ["kyso đang xử lý một yêu cầu ký khác.", "kyso is busy with another signing request."],
  PIN_FILE_REFUSED: ["Máy chủ ký số đã ngừng ký vì token từ chối mã PIN cấu hình sẵn. Hãy báo quản trị viên.", "The signing server stopped because the token refused its configured PIN. Tell your administrator."],
  BAD_REQUEST: ["kyso không thể thực hiện yêu cầu này.", "kyso cannot carry out this request."],
  // The token.
  PIN_INCORRECT: ["Mã PIN không đúng.", "Wrong PIN."],
  PIN_LOCKED: ["Thiết bị ký số đã bị khóa PIN. Hãy liên hệ nhà cung cấp.", "The token's PIN is locked. Contact your provider."],
  PIN_EXPIRED: ["Mã PIN đã hết hạn; cần đổi mã PIN.", "The PIN has expired and must be changed."],
  PIN_INVALID: ["Mã PIN không hợp lệ (sai độ dài hoặc ký tự).", "Invalid PIN (wrong length or characters)."],
  TOKEN_ABSENT: ["Chưa cắm thiết bị ký số (USB token).", "No signing token is plugged in."],
  TOKEN_REMOVED: ["Thiết bị ký số đã bị rút ra.", "The signing token was removed."],
  KEY_NOT_FOUND: ["Không tìm thấy khóa bí mật trên thiết bị ký số.", "The private key was not found on the token."],
  CERT_NOT_FOUND: ["Không tìm thấy chứng thư số.", "The certificate was not found."],
  MECHANISM_NOT_SUPPORTED: ["Thiết bị ký số không hỗ trợ thuật toán yêu cầu.", "The token does not support the requested algorithm."],
  FUNCTION_FAILED: ["Thiết bị ký số báo lỗi.", "The signing token reported an error."],
  MODULE_LOAD_FAILED: ["Không nạp được trình điều khiển thiết bị ký số.", "The token driver could not be loaded."],
  PASSWORD_INCORRECT: ["Mật khẩu không đúng.", "Wrong password."],
  // PDF.
  BAD_DOCUMENT: ["Tệp không phải PDF hợp lệ hoặc bị hỏng.", "The file is not a valid PDF or is damaged."],
  ENCRYPTED_DOCUMENT: ["Tệp PDF đã được mã hóa.", "The PDF is encrypted."],
  DOCUMENT_LOCKED: ["Tài liệu đã bị khóa, không thể ký thêm.", "The document is locked against further signatures."],
  FIELD_EXISTS: ["Trường chữ ký đã tồn tại.", "The signature field already exists."],
  BAD_PAGE: ["Số trang không hợp lệ.", "Invalid page number."],
  ANCHOR_NOT_FOUND: ["Không tìm thấy vị trí ký trong tài liệu.", "The signing position was not found in the document."],
  DIGEST_MISMATCH: ["Giá trị băm không khớp.", "Digest mismatch."],
  SIGNATURE_TOO_LARGE: ["Chữ ký quá lớn.", "The signature is too large."],
  // Timestamps.
  TSA_UNAVAILABLE: ["Không kết nối được máy chủ cấp dấu thời gian.", "The timestamp server is unavailable."],
  TSA_INVALID_RESPONSE: ["Máy chủ cấp dấu thời gian trả lời không hợp lệ.", "The timestamp server answered invalidly."],
  // Handshake refusals.
  NOT_WEBSOCKET: ["Kết nối tới kyso không hợp lệ.", "Invalid connection to kyso."],
  ORIGIN_MALFORMED: ["Địa chỉ trang web không hợp lệ.", "Malformed website origin."],
  HOST_NOT_ALLOWED: ["Địa chỉ kết nối tới kyso không hợp lệ.", "Invalid address for kyso."],
  ORIGIN_REQUIRED: ["Thiếu thông tin trang web khi kết nối kyso.", "The connection to kyso has no origin."],
  SECRET_INVALID: ["Khóa bí mật của ứng dụng cục bộ không đúng.", "Wrong local client secret."],
  TOO_MANY_CONNECTIONS: ["Có quá nhiều kết nối tới kyso.", "Too many connections to kyso."],
  SHUTTING_DOWN: ["kyso đang tắt.", "kyso is shutting down."],
  // The SDK.
  NOT_SECURE_CONTEXT: ["Trang phải được mở qua HTTPS để dùng kyso.", "The page must be served over HTTPS to use kyso."],
  LNA_DENIED: ["Trình duyệt đang chặn truy cập mạng cục bộ. Hãy cho phép trong cài đặt trang web.", "The browser blocks local network access. Allow it in the site settings."],
  LNA_PROMPT_DISMISSED: ["Bạn chưa cho phép trang truy cập mạng cục bộ. Hãy bấm lại và chọn Cho phép.", "Local network access was not granted. Click again and choose Allow."],
  LNA_PROMPT_REQUIRED: ["Cần bấm nút để cho phép trang kết nối tới kyso.", "A click is needed to let the page connect to kyso."],
  AGENT_NOT_RUNNING: ["Không kết nối được kyso. Hãy kiểm tra kyso đã được cài đặt và đang chạy.", "Cannot reach kyso. Check that it is installed and running."],
  SAFARI_NEEDS_WSS: ["Safari cần kết nối bảo mật tới kyso. Hãy dùng trình duyệt khác hoặc bật kết nối bảo mật trong kyso.", "Safari needs a secure connection to kyso. Use another browser or enable kyso's secure listener."],
  AGENT_DISCONNECTED: ["Mất kết nối tới kyso.", "The connection to kyso was lost."],
  TIMEOUT: ["kyso không phản hồi kịp thời.", "kyso did not answer in time."],
  PROTOCOL_MISMATCH: ["Phiên bản kyso không tương thích. Hãy cập nhật kyso.", "Incompatible kyso version. Please update kyso."],
  CONNECTION_REFUSED: ["kyso đã từ chối kết nối.", "kyso refused the connection."],
  DOWNLOAD_FAILED: ["Không tải được tài liệu.", "The document could not be downloaded."],
  UPLOAD_FAILED: ["Không tải lên được tài liệu đã ký.", "The signed document could not be uploaded."],
};

/** An error of kyso: a stable code, localised messages and details. */
export class KysoError extends Error {
  /** Stable code to branch on (docs/protocol.md, or the SDK's own). */
  code: string;
  details?: any;
  messageVi: string;
  messageEn: string;
  /** The agent's short English message, for developers. */
  agentMessage?: string;
  /** signPdfs stopped early: the documents signed before the stop. */
  signed?: SignedDocument[];

  constructor(code: string, details?: any, lang: Lang = "vi", agentMessage?: string) {
    const m = M[code] || ["Lỗi không xác định (" + code + ").", "Unexpected error (" + code + ")."];
    const n = details && details.retriesLeft;
    const left = typeof n == "number" && n >= 0;
    const vi = m[0] + (left ? " Còn " + n + " lần thử." : "");
    const en = m[1] + (left ? " " + n + " tries left." : "");
    super(lang == "en" ? en : vi);
    this.name = "KysoError";
    this.code = code;
    this.details = details;
    this.messageVi = vi;
    this.messageEn = en;
    this.agentMessage = agentMessage;
  }
}
