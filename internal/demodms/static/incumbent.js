// This page is written the way existing Vietnamese DMS front ends call the
// Government CA's plugin (vgcaplugin.js): global vgca_* functions taking a
// JSON string and calling back with a JSON string. It knows nothing of
// kyso; /sdk/vgcaplugin-compat.js provides the functions.
"use strict";
(function () {
  var docSelect = document.getElementById("doc");
  var statusEl = document.getElementById("status");
  var resultEl = document.getElementById("result");
  var replyEl = document.getElementById("reply");
  var pluginEl = document.getElementById("plugin-status");

  function setStatus(text, state, code) {
    statusEl.textContent = text;
    statusEl.setAttribute("data-state", state || "info");
    if (code !== undefined) statusEl.setAttribute("data-code", String(code)); else statusEl.removeAttribute("data-code");
  }

  // Callers poll until the plugin's functions exist.
  function waitForPlugin(done) {
    var tries = 0;
    (function poll() {
      if (typeof window.vgca_sign_approved === "function" && typeof window.vgca_sign_issued === "function") {
        done(true);
        return;
      }
      if (++tries > 50) {
        done(false);
        return;
      }
      setTimeout(poll, 200);
    })();
  }

  // Vietnam time with its offset, as DMS code sends IssuedDate
  // ("2019-03-12T12:00:00+07:00").
  function nowVN() {
    return new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 19) + "+07:00";
  }

  function loadDocuments() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/api/documents");
    xhr.onload = function () {
      var keep = docSelect.value || new URLSearchParams(location.search).get("doc") || "";
      var list = [];
      try { list = JSON.parse(xhr.responseText).documents || []; } catch (e) { list = []; }
      docSelect.innerHTML = "";
      for (var i = 0; i < list.length; i++) {
        var o = document.createElement("option");
        o.value = list[i].id;
        o.textContent = "#" + list[i].id + " · " + list[i].name + " — " + list[i].stateVi;
        docSelect.appendChild(o);
      }
      if (keep) docSelect.value = keep;
      if (!docSelect.value && list.length) docSelect.value = list[0].id;
    };
    xhr.send();
  }

  function show(rv) {
    replyEl.textContent = rv;
    var r;
    try {
      r = JSON.parse(rv);
    } catch (e) {
      setStatus("Lỗi: plugin trả lời không phải JSON.", "error", "BAD_REPLY");
      return null;
    }
    var fs = r.FileServer;
    if (typeof fs === "string" && fs) {
      try { fs = JSON.parse(fs); } catch (e) { /* kept as text */ }
    }
    resultEl.innerHTML = "";
    var dl = document.createElement("dl");
    dl.className = "meta";
    var rows = [["Status", r.Status], ["Message", r.Message], ["FileName", r.FileName], ["DocumentNumber", r.DocumentNumber], ["DocumentDate", r.DocumentDate],
      ["FileServer", typeof fs === "object" && fs !== null ? JSON.stringify(fs) : fs]];
    for (var i = 0; i < rows.length; i++) {
      if (rows[i][1] === undefined || rows[i][1] === null || rows[i][1] === "") continue;
      var dt = document.createElement("dt");
      dt.textContent = rows[i][0];
      var dd = document.createElement("dd");
      dd.textContent = String(rows[i][1]);
      dl.appendChild(dt);
      dl.appendChild(dd);
    }
    resultEl.appendChild(dl);
    resultEl.setAttribute("data-status", String(r.Status));
    return r;
  }

  function params(docId, profile, user) {
    var prms = {};
    prms["FileName"] = location.origin + "/download?docId=" + encodeURIComponent(docId);
    prms["FileUploadHandler"] = location.origin + "/upload?docId=" + encodeURIComponent(docId) + "&user=" + encodeURIComponent(user);
    prms["SessionId"] = "";
    prms["JWTToken"] = "";
    prms["MetaData"] = [
      { Key: "docId", Value: docId },
      { Key: "profile", Value: profile },
      { Key: "user", Value: user }
    ];
    return prms;
  }

  function onReply(button, what) {
    return function (rv) {
      button.disabled = false;
      var r = show(rv);
      if (!r) return;
      if (r.Status == 0) {
        setStatus(what + ": thành công.", "ok", 0);
      } else {
        setStatus("Lỗi [" + r.Status + "]: " + (r.Message || "ký số không thành công"), "error", r.Status);
      }
      loadDocuments();
    };
  }

  var btnApprove = document.getElementById("btn-vgca-approve");
  var btnIssue = document.getElementById("btn-vgca-issue");

  btnApprove.addEventListener("click", function () {
    var docId = docSelect.value;
    if (!docId) { setStatus("Hãy chọn một văn bản.", "error", "NO_DOCUMENT"); return; }
    if (typeof vgca_sign_approved !== "function") { setStatus("Chưa có plugin ký số (vgca_sign_approved).", "error", "NO_PLUGIN"); return; }
    var prms = params(docId, "approved", "lanhdao");
    btnApprove.disabled = true;
    setStatus("Đang ký phê duyệt…", "busy");
    vgca_sign_approved(JSON.stringify(prms), onReply(btnApprove, "Ký phê duyệt"));
  });

  btnIssue.addEventListener("click", function () {
    var docId = docSelect.value;
    if (!docId) { setStatus("Hãy chọn một văn bản.", "error", "NO_DOCUMENT"); return; }
    if (typeof vgca_sign_issued !== "function") { setStatus("Chưa có plugin ký số (vgca_sign_issued).", "error", "NO_PLUGIN"); return; }
    var prms = params(docId, "issued", "vanthu");
    prms["DocNumber"] = document.getElementById("doc-number").value;
    prms["IssuedDate"] = nowVN();
    prms["MetaData"].push({ Key: "DocNumber", Value: prms["DocNumber"] });
    btnIssue.disabled = true;
    setStatus("Đang ký phát hành…", "busy");
    vgca_sign_issued(JSON.stringify(prms), onReply(btnIssue, "Ký phát hành"));
  });

  waitForPlugin(function (ok) {
    pluginEl.textContent = ok ? "Đã có plugin ký số (vgca_sign_approved, vgca_sign_issued)." : "Không thấy plugin ký số: chưa nạp được /sdk/vgcaplugin-compat.js.";
    pluginEl.setAttribute("data-state", ok ? "ok" : "error");
  });
  loadDocuments();
  (function nextNumber() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/api/next-number?kind=issued");
    xhr.onload = function () {
      var input = document.getElementById("doc-number");
      try { if (!input.value) input.value = JSON.parse(xhr.responseText).number; } catch (e) { /* left empty */ }
    };
    xhr.send();
  })();
})();
