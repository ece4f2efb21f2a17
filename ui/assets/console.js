// Acorn console glue beside dioxus-liveview's own (liveview.js). Served from 'self' under a
// strict Content-Security-Policy: no inline script, no eval. What it adds:
// - forms inside the LiveView root never submit natively (LiveView handles them over the socket);
// - the message box's draft survives a dropped connection: saved per page in sessionStorage,
//   restored into the re-rendered box after the reconnect;
// - reconnect: when the socket closes, a banner shows and the page is reloaded as soon as the
//   server answers again (a fresh LiveView with a fresh render);
// - navigation asked for by the server (an element with data-navigate, e.g. to the sign-in page
//   when the session expired);
// - copy buttons (data-copy = id of the element whose text is copied);
// - the address bar kept in step with a page's state (an element with data-url, e.g. the search
//   filters): history.replaceState, so the state can be bookmarked and survives a reconnect.
(function () {
  "use strict";
  var root = document.getElementById("main");
  var draftKey = "acorn-draft:" + location.pathname;
  window.__acorn = { connectedAt: null, firstRenderAt: null, renders: 0 };

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (root && root.contains(form) && !form.hasAttribute("data-native")) {
      e.preventDefault();
      var draft = form.querySelector("textarea[data-draft]");
      if (draft) { try { sessionStorage.removeItem(draftKey); } catch (_) {} }
    }
  }, true);

  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("textarea[data-draft]")) {
      try { sessionStorage.setItem(draftKey, t.value); } catch (_) {}
    }
  }, true);

  document.addEventListener("keydown", function (e) {
    // Ctrl/Cmd+Enter sends the message box.
    var t = e.target;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && t.matches && t.matches("textarea[data-draft]") && t.form) {
      e.preventDefault();
      t.form.requestSubmit();
    }
  });

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-copy]");
    if (!b) return;
    var src = document.getElementById(b.getAttribute("data-copy"));
    if (!src) return;
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard) { navigator.clipboard.writeText(src.textContent).then(done, function () {}); }
  });

  function restoreDraft(node) {
    var boxes = node.querySelectorAll ? node.querySelectorAll("textarea[data-draft]") : [];
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.dataset.restored) continue;
      box.dataset.restored = "1";
      var saved = null;
      try { saved = sessionStorage.getItem(draftKey); } catch (_) {}
      if (saved && !box.value) {
        box.value = saved;
        // Tell the LiveView component too, so its state matches what is shown.
        box.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
  }

  function scan(node) {
    if (!node.querySelectorAll) return;
    var nav = node.matches && node.matches("[data-navigate]") ? node : node.querySelector("[data-navigate]");
    if (nav) { location.assign(nav.getAttribute("data-navigate")); return; }
    var url = node.matches && node.matches("[data-url]") ? node : node.querySelector("[data-url]");
    if (url) {
      var to = url.getAttribute("data-url");
      // Same-origin console paths only; replaceState throws on anything else anyway.
      if (to && to.indexOf("/console/") === 0 && to !== location.pathname + location.search) {
        try { history.replaceState(null, "", to); } catch (_) {}
      }
    }
    restoreDraft(node);
    var logs = node.querySelectorAll("[data-autoscroll]");
    for (var i = 0; i < logs.length; i++) logs[i].scrollTop = logs[i].scrollHeight;
  }

  if (root) {
    new MutationObserver(function (records) {
      window.__acorn.renders++;
      if (!window.__acorn.firstRenderAt && root.firstChild) window.__acorn.firstRenderAt = performance.now();
      for (var i = 0; i < records.length; i++) {
        var r = records[i];
        if (r.type === "attributes") { scan(r.target); continue; }
        for (var j = 0; j < r.addedNodes.length; j++) scan(r.addedNodes[j]);
        if (r.target && r.target.closest) {
          var log = r.target.closest("[data-autoscroll]");
          if (log) log.scrollTop = log.scrollHeight;
        }
      }
      if (root.firstChild) document.documentElement.setAttribute("data-lv", "rendered");
    }).observe(root, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["data-navigate", "data-url"] });
  }

  function reconnect() {
    document.body.classList.add("lv-lost");
    document.documentElement.setAttribute("data-lv", "lost");
    var delay = 300;
    var attempt = function () {
      fetch(location.href, { method: "HEAD", cache: "no-store", credentials: "same-origin", redirect: "manual" })
        .then(function (r) {
          if (r.ok || r.type === "opaqueredirect" || (r.status >= 300 && r.status < 400)) location.reload();
          else retry();
        }, retry);
    };
    var retry = function () { delay = Math.min(delay * 2, 5000); setTimeout(attempt, delay); };
    setTimeout(attempt, delay);
  }

  var ws = window.ipc && window.ipc.ws;
  if (ws) {
    ws.addEventListener("open", function () {
      window.__acorn.connectedAt = performance.now();
      document.documentElement.setAttribute("data-lv", "connected");
    });
    ws.addEventListener("close", reconnect);
  }
})();
