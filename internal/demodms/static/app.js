// The demo DMS's pages, written against the kyso JS SDK (global Kyso from
// /sdk/kyso.js). Every signing action starts in a click handler, and the
// SDK connection is opened there first: the browser's local-network
// permission prompt needs the user gesture.
"use strict";
(function () {
  var $ = function (sel) { return document.querySelector(sel); };
  var body = document.body;
  var PAGE = body.dataset.page;
  var state = { clientPromise: null, certs: [], docs: [] };

  // The certificate kind each page signs with.
  var KIND = { approve: "personal", issue: "organisation", appendix: "organisation", copy: "organisation", interagency: "organisation" };

  // ---- Messages -----------------------------------------------------------

  function localError(code, messageVi) {
    var e = new Error(messageVi);
    e.code = code;
    e.messageVi = messageVi;
    return e;
  }

  function setStatus(text, kind) {
    var el = $("#status");
    if (!el) return;
    el.textContent = text;
    el.dataset.state = kind || "info";
    delete el.dataset.code;
  }

  function showError(err) {
    var code = (err && err.code) || "LOI";
    var msg = (err && (err.messageVi || err.message)) || String(err);
    setStatus("Lỗi [" + code + "]: " + msg, "error");
    $("#status").dataset.code = code;
    if (window.console) console.error(err);
  }

  function setAgent(text, kind) {
    var el = $("#agent-status");
    if (!el) return;
    el.textContent = text;
    el.dataset.state = kind || "info";
  }

  // ---- kyso ---------------------------------------------------------------

  function noop() {}

  // client connects once, from a click; a failed connection is retried
  // at the next click.
  function client() {
    if (typeof window.Kyso === "undefined" || typeof window.Kyso.connect !== "function") {
      var missing = Promise.reject(localError("SDK_MISSING",
        "Chưa có thư viện kyso (/sdk/kyso.js). Hãy chạy make demo để dựng thư viện rồi tải lại trang."));
      missing.catch(noop); // reported by whoever waits on it
      return missing;
    }
    if (!state.clientPromise) {
      setAgent("Đang kết nối tác tử ký số kyso…", "busy");
      state.clientPromise = window.Kyso.connect({ userGesture: true }).then(function (c) {
        setAgent("Đã kết nối tác tử ký số kyso.", "ok");
        if (typeof c.on === "function") {
          c.on("disconnected", function () { setAgent("Mất kết nối tới tác tử kyso; đang kết nối lại…", "error"); });
          c.on("reconnected", function () { setAgent("Đã kết nối lại tác tử ký số kyso.", "ok"); });
          c.on("certificatesChanged", function (list) { if (Array.isArray(list)) fillCerts(list); });
          c.on("tokenRemoved", function () { setAgent("Token đã được rút ra.", "info"); });
          c.on("tokenInserted", function () { setAgent("Đã cắm token.", "ok"); });
        }
        return c;
      }, function (err) {
        state.clientPromise = null;
        setAgent("Không kết nối được tác tử ký số kyso.", "error");
        throw err;
      });
      state.clientPromise.catch(noop); // reported by whoever waits on it
    }
    return state.clientPromise;
  }

  function fillCerts(list) {
    var sel = $("#cert");
    if (!sel) return;
    var kind = KIND[PAGE];
    var keep = sel.value;
    state.certs = list.filter(function (c) { return !kind || !c.identity || c.identity.kind === kind; });
    sel.innerHTML = "";
    sel.appendChild(option("", "(chọn trong hộp thoại của kyso)"));
    state.certs.forEach(function (c) {
      var id = c.identity || {};
      var label = (id.name || "?") + (id.organization && id.organization !== id.name ? " · " + id.organization : "") +
        " · " + (c.issuer || "") + " · hết hạn " + fmtDate(c.notAfter);
      sel.appendChild(option(c.handle, label));
    });
    if (keep) sel.value = keep;
  }

  function loadCerts() {
    var p = client(); // in the click
    return p.then(function (c) {
      setStatus("Đang đọc danh sách chứng thư…", "busy");
      var filter = KIND[PAGE] ? { kind: KIND[PAGE] } : {};
      return c.listCertificates(filter);
    }).then(function (list) {
      fillCerts(list || []);
      setStatus("Có " + state.certs.length + " chứng thư phù hợp.", state.certs.length ? "ok" : "warn");
    });
  }

  function chosenCert() {
    var sel = $("#cert");
    return sel && sel.value ? sel.value : "";
  }

  // ---- The DMS's own API -------------------------------------------------

  function api(path, init) {
    return fetch(path, Object.assign({ credentials: "same-origin" }, init || {})).then(function (r) {
      var ct = r.headers.get("Content-Type") || "";
      var parse = ct.indexOf("json") >= 0 ? r.json() : r.text().then(function () { return null; });
      return parse.then(function (b) {
        if (!r.ok) {
          throw localError((b && b.code) || "HTTP_" + r.status, (b && (b.message || b.Message)) || "Máy chủ trả lời mã " + r.status);
        }
        return b;
      });
    });
  }

  function docBytes(id) {
    return fetch("/files/" + encodeURIComponent(id), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw localError("HTTP_" + r.status, "Không tải được văn bản (mã " + r.status + ").");
      return r.arrayBuffer();
    }).then(function (b) { return new Uint8Array(b); });
  }

  function toBase64(u8) {
    var s = "";
    for (var i = 0; i < u8.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function asset(name, present) {
    if (!present) return Promise.resolve("");
    return fetch("/assets/" + name).then(function (r) {
      if (!r.ok) return "";
      return r.arrayBuffer().then(function (b) { return toBase64(new Uint8Array(b)); });
    });
  }

  function postSigned(id, name, data, profile, extra) {
    var fd = new FormData();
    fd.append("file", new Blob([data], { type: "application/pdf" }), name);
    fd.append("profile", profile);
    Object.keys(extra || {}).forEach(function (k) { if (extra[k]) fd.append(k, extra[k]); });
    return api("/api/documents/" + encodeURIComponent(id) + "/signed", { method: "POST", body: fd });
  }

  function loadDocs() {
    return api("/api/documents").then(function (b) {
      state.docs = (b && b.documents) || [];
      return state.docs;
    });
  }

  // ---- Formatting ---------------------------------------------------------

  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function fmtTime(s) {
    if (!s) return "";
    var d = new Date(s);
    if (isNaN(d)) return String(s);
    return d.toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" }) + " (giờ Việt Nam)";
  }

  function fmtDate(s) {
    if (!s) return "";
    var d = new Date(s);
    if (isNaN(d)) return String(s);
    return d.toLocaleDateString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" });
  }

  // todayVN is today's date in Vietnam (UTC+07:00), YYYY-MM-DD.
  function todayVN() {
    return new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
  }

  function docLabel(d) {
    return "#" + d.id + " · " + d.name + " — " + d.stateVi;
  }

  function historyText(h) {
    return h.profileVi + (h.signer ? " — " + h.signer : "") + (h.organization && h.organization !== h.signer ? " (" + h.organization + ")" : "") +
      (h.docNumber ? " — số " + h.docNumber : "") + " — " + fmtTime(h.at);
  }

  function fillDocSelect(sel, docs, prefer) {
    if (!sel) return;
    var keep = sel.value || new URLSearchParams(location.search).get("doc") || "";
    sel.innerHTML = "";
    if (!docs.length) sel.appendChild(option("", "(không có văn bản)"));
    docs.forEach(function (d) { sel.appendChild(option(d.id, docLabel(d))); });
    if (keep && docs.some(function (d) { return d.id === keep; })) {
      sel.value = keep;
    } else if (prefer) {
      var p = docs.filter(prefer)[0];
      if (p) sel.value = p.id;
    }
    sel.dispatchEvent(new Event("change"));
  }

  function showResult(doc, extra) {
    var box = $("#result");
    if (!box) return;
    box.innerHTML = "";
    var dl = el("dl", null, "meta");
    function row(k, v) { dl.appendChild(el("dt", k)); var dd = el("dd"); if (v instanceof Node) dd.appendChild(v); else dd.textContent = v; dl.appendChild(dd); }
    row("Văn bản", "#" + doc.id + " · " + doc.name);
    row("Trạng thái", doc.stateVi);
    row("Kích thước", doc.size + " byte");
    row("SHA-256", doc.sha256);
    var a = el("a", "Tải bản hiện tại");
    a.href = "/files/" + encodeURIComponent(doc.id) + "?download";
    a.id = "result-link";
    row("Tệp", a);
    var ul = el("ul");
    (doc.history || []).forEach(function (h) { ul.appendChild(el("li", historyText(h))); });
    row("Các lần ký", (doc.history || []).length ? ul : "chưa có");
    if (extra) Object.keys(extra).forEach(function (k) { row(k, extra[k]); });
    box.dataset.doc = doc.id;
    box.dataset.state = doc.state;
    box.appendChild(dl);
  }

  // ---- Verification report -------------------------------------------------

  var TIME_SOURCE = {
    timestamp: "theo dấu thời gian",
    claimed: "theo đồng hồ máy người ký (chưa được xác thực)",
    verification: "thời điểm kiểm tra"
  };
  var VERDICT = { valid: "Hợp lệ", invalid: "Không hợp lệ", indeterminate: "Chưa xác định được" };

  function renderReport(rep, title) {
    var box = $("#report");
    if (!box) return;
    box.innerHTML = "";
    box.appendChild(el("h3", title || "Kết quả kiểm tra chữ ký"));
    var v = el("p", "Kết luận: " + (VERDICT[rep.verdict] || rep.verdict), "verdict");
    v.id = "verdict";
    v.dataset.verdict = rep.verdict;
    box.appendChild(v);
    var sigs = rep.signatures || [];
    var info = "Số chữ ký: " + sigs.length + " · kiểm tra lúc " + fmtTime(rep.verifiedAt) +
      (rep.offline ? " · kiểm tra ngoại tuyến (không tra cứu OCSP/CRL)" : "") + " · SHA-256 tệp: " + rep.sha256;
    box.appendChild(el("p", info, "muted"));
    if (!sigs.length) {
      box.appendChild(el("p", "Văn bản không có chữ ký số."));
      return;
    }
    var t = el("table");
    t.id = "report-table";
    var head = el("tr");
    ["#", "Người ký", "Cơ quan, tổ chức", "CA cấp chứng thư", "Thời điểm ký", "Toàn vẹn", "Chứng thư tin cậy", "Hiệu lực chứng thư", "Kết luận", "Ghi chú"].forEach(function (h) { head.appendChild(el("th", h)); });
    var thead = el("thead");
    thead.appendChild(head);
    t.appendChild(thead);
    var tb = el("tbody");
    sigs.forEach(function (s) {
      var tr = el("tr");
      tr.id = "sig-" + s.index;
      tr.dataset.verdict = s.verdict;
      var signer = s.signer || {};
      var cert = s.signerCertificate || {};
      var when = s.signingTime ? fmtTime(s.signingTime) + (TIME_SOURCE[s.signingTimeSource] ? " — " + TIME_SOURCE[s.signingTimeSource] : "")
        : s.claimedTime ? fmtTime(s.claimedTime) + " — " + TIME_SOURCE.claimed : "";
      if (s.timestamp && s.timestamp.authority) when += " (TSA: " + s.timestamp.authority + ")";
      var org = [signer.organization, signer.organizationalUnit].filter(Boolean).join(", ");
      var ids = (signer.ids || []).map(function (i) { return i.type + ": " + i.value; }).join(", ");
      var cells = [
        String(s.index) + (s.type === "doc-timestamp" ? " (dấu thời gian văn bản)" : ""),
        (signer.name || cert.name || "") + (signer.title ? " — " + signer.title : "") + (ids ? " (" + ids + ")" : ""),
        org || (signer.kind === "organisation" ? signer.name : ""),
        s.issuer || cert.issuer || "",
        when,
        s.intact ? "Nguyên vẹn" : "Bị thay đổi",
        s.trusted ? "Có" : "Không",
        cert.notBefore ? fmtDate(cert.notBefore) + " – " + fmtDate(cert.notAfter) : "",
        VERDICT[s.verdict] || s.verdict
      ];
      cells.forEach(function (c, i) {
        var td = el("td", c);
        if (i === 5) td.className = s.intact ? "yes" : "no";
        if (i === 6) td.className = s.trusted ? "yes" : "no";
        tr.appendChild(td);
      });
      var notes = el("td");
      var ul = el("ul");
      (s.findings || []).forEach(function (f) {
        if (f.severity === "info") return;
        ul.appendChild(el("li", f.message + (f.detail ? ": " + f.detail : "")));
      });
      if (s.legacySHA1) ul.appendChild(el("li", "Chuỗi chứng thư cũ ký bằng SHA-1 (gốc G1 của Ban Cơ yếu Chính phủ)."));
      if (s.changes && s.changes.length) ul.appendChild(el("li", "Có " + s.changes.length + " thay đổi sau chữ ký này."));
      notes.appendChild(ul);
      tr.appendChild(notes);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    box.appendChild(t);
  }

  // ---- Actions ---------------------------------------------------------------

  // run wraps a click: the button is disabled until the work ends, and
  // errors show with their code and Vietnamese message.
  function onClick(id, work) {
    var btn = $(id);
    if (!btn) return;
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (btn.disabled) return;
      btn.disabled = true;
      var p;
      try {
        p = Promise.resolve(work(btn));
      } catch (e) {
        p = Promise.reject(e);
      }
      p.catch(showError).then(function () { btn.disabled = false; });
    });
  }

  function selectedDoc(selID) {
    var id = ($(selID || "#doc") || {}).value;
    if (!id) return Promise.reject(localError("NO_DOCUMENT", "Hãy chọn một văn bản."));
    return api("/api/documents/" + encodeURIComponent(id));
  }

  // verifyDoc asks the agent to verify a stored document and shows the
  // report.
  function verifyDoc(clientP, docID, title) {
    return Promise.all([clientP, docBytes(docID)]).then(function (r) {
      setStatus("Đang kiểm tra chữ ký…", "busy");
      return r[0].verifyPdf(r[1]);
    }).then(function (rep) {
      renderReport(rep, title);
      return rep;
    });
  }

  // requireSound stops when an earlier signature is broken, or when the
  // document has none yet and needs one (issuing: the leader signs first,
  // ND 30/2020 Điều 32).
  function requireSound(rep, needSignature) {
    var sigs = (rep && rep.signatures) || [];
    var broken = sigs.filter(function (s) { return !s.intact || s.verdict === "invalid"; });
    if (broken.length) {
      throw localError("BROKEN_SIGNATURE", "Chữ ký thứ " + broken[0].index + " không hợp lệ; không được ký tiếp lên văn bản này.");
    }
    if (needSignature && !sigs.length) {
      throw localError("NO_APPROVAL", "Văn bản chưa có chữ ký phê duyệt của người có thẩm quyền; văn thư chỉ ký phát hành sau khi lãnh đạo đã ký.");
    }
  }

  // sign is the common flow: connect (inside the click), fetch the current
  // bytes, sign with the agent, store the signed version.
  function sign(profile, opts) {
    var clientP = client(); // first, while the click's user activation lasts
    var docSel = opts.select || "#doc";
    var ctx = {};
    return selectedDoc(docSel).then(function (doc) {
      ctx.doc = doc;
      setStatus("Đang chuẩn bị văn bản…", "busy");
      return Promise.all([clientP, docBytes(doc.id), opts.build ? opts.build(doc) : {}]);
    }).then(function (r) {
      ctx.client = r[0];
      ctx.bytes = r[1];
      ctx.options = r[2];
      if (!opts.verifyFirst) return null;
      setStatus("Đang kiểm tra các chữ ký hiện có…", "busy");
      return ctx.client.verifyPdf(ctx.bytes).then(function (rep) {
        renderReport(rep, "Kiểm tra trước khi ký");
        requireSound(rep, opts.needSignature);
      });
    }).then(function () {
      var o = Object.assign({ name: ctx.doc.name, profile: profile }, ctx.options);
      var cert = chosenCert();
      if (cert) o.certificate = cert;
      setStatus("Đang ký: xác nhận và nhập PIN trong hộp thoại của kyso…", "busy");
      return ctx.client.signPdf(ctx.bytes, o);
    }).then(function (signed) {
      var data = signed instanceof Uint8Array ? signed : signed && signed.data;
      if (!data) throw localError("NO_RESULT", "Tác tử không trả về tệp đã ký.");
      ctx.signed = data;
      setStatus("Đang lưu bản đã ký…", "busy");
      var signer = "";
      var cert = chosenCert();
      state.certs.forEach(function (c) { if (c.handle === cert) signer = (c.identity || {}).name || ""; });
      return postSigned(ctx.doc.id, ctx.doc.name, data, profile, { docNumber: ctx.options.docNumber || "", signer: signer });
    }).then(function (saved) {
      ctx.saved = saved;
      setStatus("Đã ký (" + (saved.history.length ? saved.history[saved.history.length - 1].profileVi : profile) + ") và lưu văn bản #" + saved.id + ".", "ok");
      showResult(saved);
      refresh();
      return ctx;
    });
  }

  function issueOptions() {
    var num = ($("#doc-number") || {}).value || "";
    if (!num.trim()) return Promise.reject(localError("NO_NUMBER", "Hãy nhập số, ký hiệu văn bản."));
    var date = ($("#issued-date") || {}).value || todayVN();
    var mm = parseFloat(($("#seal-mm") || {}).value);
    return asset("seal.png", body.dataset.hasSeal === "true").then(function (seal) {
      var o = { docNumber: num.trim(), issuedDate: date, place: (($("#place") || {}).value || "").trim() };
      if (seal) o.sealImage = seal;
      if (mm > 0) o.sealMM = mm;
      return o;
    });
  }

  function nextNumber(kind, input) {
    if (!input) return Promise.resolve();
    return api("/api/next-number?kind=" + kind).then(function (n) {
      if (!input.value) input.value = n.number;
    }).catch(function () {});
  }

  // ---- Pages ---------------------------------------------------------------

  function refresh() {
    return loadDocs().then(function (docs) {
      if (PAGE === "index") renderIndex(docs);
      var own = docs.filter(function (d) { return !d.from; });
      switch (PAGE) {
        case "approve":
          fillDocSelect($("#doc"), docs, function (d) { return d.state === "new"; });
          break;
        case "issue":
          fillDocSelect($("#doc"), docs, function (d) { return d.state === "approved"; });
          break;
        case "interagency":
          fillDocSelect($("#doc"), own, function (d) { return d.state === "approved" || d.state === "issued"; });
          fillDocSelect($("#inbox"), docs.filter(function (d) { return !!d.from; }), function (d) { return d.state === "incoming"; });
          break;
        case "appendix":
        case "copy":
        case "verify":
          fillDocSelect($("#doc"), docs);
          break;
      }
    }).catch(showError);
  }

  function renderIndex(docs) {
    var tb = $("#documents");
    tb.innerHTML = "";
    if (!docs.length) {
      var tr0 = el("tr");
      var td0 = el("td", "Chưa có văn bản.", "muted");
      td0.colSpan = 6;
      tr0.appendChild(td0);
      tb.appendChild(tr0);
      return;
    }
    docs.forEach(function (d) {
      var tr = el("tr");
      tr.id = "doc-" + d.id;
      tr.dataset.state = d.state;
      tr.appendChild(el("td", d.id));
      var name = el("td");
      var a = el("a", d.name);
      a.href = "/files/" + encodeURIComponent(d.id);
      a.target = "_blank";
      a.rel = "noopener";
      name.appendChild(a);
      if (d.from) name.appendChild(el("div", "Đến từ: " + d.from.name, "muted"));
      tr.appendChild(name);
      tr.appendChild(el("td", d.stateVi));
      var hist = el("td");
      var ul = el("ul");
      (d.history || []).forEach(function (h) { ul.appendChild(el("li", historyText(h))); });
      if ((d.history || []).length) hist.appendChild(ul); else hist.textContent = "—";
      tr.appendChild(hist);
      tr.appendChild(el("td", fmtTime(d.updated)));
      var act = el("td");
      [["approve", "Phê duyệt"], ["issue", "Phát hành"], ["appendix", "Phụ lục"], ["copy", "Sao y"], ["interagency", "Liên thông"], ["verify", "Kiểm tra"], ["incumbent", "API VGCA"]].forEach(function (p) {
        var l = el("a", p[1]);
        l.href = "/" + p[0] + "?doc=" + encodeURIComponent(d.id);
        act.appendChild(l);
        act.appendChild(document.createTextNode(" "));
      });
      tr.appendChild(act);
      tb.appendChild(tr);
    });
  }

  function setup() {
    onClick("#btn-certs", loadCerts);

    switch (PAGE) {
      case "index": {
        var form = $("#upload-form");
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          var f = $("#upload-file").files[0];
          if (!f) { showError(localError("NO_FILE", "Hãy chọn tệp PDF.")); return; }
          var fd = new FormData();
          fd.append("file", f, f.name);
          setStatus("Đang tải lên…", "busy");
          api("/api/documents", { method: "POST", body: fd }).then(function (d) {
            setStatus("Đã thêm văn bản #" + d.id + " · " + d.name + ".", "ok");
            form.reset();
            return refresh();
          }).catch(showError);
        });
        break;
      }
      case "approve":
        $("#doc").addEventListener("change", function () {
          var d = state.docs.filter(function (x) { return x.id === $("#doc").value; })[0];
          $("#page").placeholder = d && d.pages ? String(d.pages) : "1";
        });
        onClick("#btn-approve", function () {
          return sign("approved", {
            build: function (doc) {
              return asset("signature.png", body.dataset.hasSignature === "true").then(function (img) {
                var o = { reason: "Phê duyệt" };
                var page = parseInt($("#page").value, 10) || doc.pages || 0;
                if (page > 0) o.page = page;
                if (img) o.signatureImage = img;
                return o;
              });
            }
          });
        });
        break;
      case "issue":
        $("#issued-date").value = todayVN();
        nextNumber("issued", $("#doc-number"));
        onClick("#btn-check", function () {
          var clientP = client();
          return selectedDoc().then(function (doc) { return verifyDoc(clientP, doc.id); }).then(function (rep) {
            setStatus("Đã kiểm tra: " + (VERDICT[rep.verdict] || rep.verdict) + ".", rep.verdict === "invalid" ? "error" : "ok");
          });
        });
        onClick("#btn-issue", function () {
          return sign("issued", { build: issueOptions, verifyFirst: true, needSignature: true }).then(function () {
            $("#doc-number").value = "";
            return nextNumber("issued", $("#doc-number"));
          });
        });
        break;
      case "appendix":
        onClick("#btn-appendix", function () {
          return sign("appendix", {
            build: function () {
              var num = $("#doc-number").value.trim();
              if (!num) throw localError("NO_NUMBER", "Hãy nhập số, ký hiệu của văn bản chính.");
              return { docNumber: num };
            }
          });
        });
        break;
      case "copy":
        onClick("#btn-copy", function () {
          return sign("copy", { build: function () { return { copyForm: $("#copy-form").value }; } });
        });
        break;
      case "interagency":
        $("#issued-date").value = todayVN();
        nextNumber("issued", $("#doc-number"));
        nextNumber("income", $("#arrival-number"));
        onClick("#btn-issue", function () {
          return sign("issued", { build: issueOptions, verifyFirst: true, needSignature: true });
        });
        onClick("#btn-forward", function () {
          var id = $("#doc").value;
          var to = $("#to").value;
          if (!id) throw localError("NO_DOCUMENT", "Hãy chọn một văn bản.");
          if (!to) throw localError("NO_AGENCY", "Không có cơ quan nhận.");
          setStatus("Đang gửi liên thông…", "busy");
          return api("/api/forward/" + encodeURIComponent(id) + "?to=" + encodeURIComponent(to), { method: "POST" }).then(function (r) {
            var link = $("#forward-link");
            link.href = r.url;
            link.classList.remove("hidden");
            setStatus("Đã gửi văn bản #" + r.document.id + " sang " + $("#to").selectedOptions[0].textContent + " (văn bản đến #" + r.incoming.id + ").", "ok");
            showResult(r.document);
            return refresh();
          });
        });
        onClick("#btn-verify-incoming", function () {
          var clientP = client();
          var id = $("#inbox").value;
          if (!id) throw localError("NO_DOCUMENT", "Chưa có văn bản đến.");
          return verifyDoc(clientP, id, "Kiểm tra văn bản đến").then(function (rep) {
            setStatus("Đã kiểm tra văn bản đến: " + (VERDICT[rep.verdict] || rep.verdict) + ".", rep.verdict === "invalid" ? "error" : "ok");
          });
        });
        onClick("#btn-income", function () {
          return sign("income", {
            select: "#inbox",
            verifyFirst: true,
            build: function () {
              var num = $("#arrival-number").value.trim();
              return num ? { docNumber: num } : {};
            }
          }).then(function (ctx) {
            $("#arrival-number").value = "";
            nextNumber("income", $("#arrival-number"));
            return ctx.client.verifyPdf(ctx.signed).then(function (rep) {
              renderReport(rep, "Kiểm tra sau khi ký tiếp nhận");
            });
          });
        });
        break;
      case "verify":
        onClick("#btn-verify", function () {
          var clientP = client();
          var f = $("#verify-file").files[0];
          var bytesP = f ? f.arrayBuffer().then(function (b) { return new Uint8Array(b); })
            : selectedDoc().then(function (d) { return docBytes(d.id); });
          setStatus("Đang kiểm tra chữ ký…", "busy");
          return Promise.all([clientP, bytesP]).then(function (r) {
            return r[0].verifyPdf(r[1]);
          }).then(function (rep) {
            renderReport(rep, f ? "Kết quả kiểm tra: " + f.name : undefined);
            setStatus("Đã kiểm tra: " + (VERDICT[rep.verdict] || rep.verdict) + ".", rep.verdict === "invalid" ? "error" : "ok");
          });
        });
        break;
    }
    refresh();
  }

  setup();
})();
