/* The admin AI assistant: a right-side drawer opened by the "AI" button in the admin header.
 *
 * Chats (list, "New chat", history), a question box, the explanation streaming in (SSE over
 * fetch, docs/streaming.md), then the result: a number, a table paged with "Show more", a
 * bar or line chart drawn as inline SVG, a CSV link, and the generated code (collapsible).
 * No dependencies; every text goes in through textContent. Keyboard: the button opens the
 * drawer and focuses the question; Escape closes it and gives focus back; Enter asks
 * (Shift+Enter for a new line).
 */
(function () {
  "use strict";

  var PAGE = 10;
  var SVG = "http://www.w3.org/2000/svg";
  var button = document.getElementById("aa-open");
  if (!button) return;
  var chatsUrl = button.getAttribute("data-api");
  var apiRoot = chatsUrl.replace(/\/chats$/, "");
  var stringsNode = document.getElementById("aa-strings");
  var T = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  var state = { chatId: null, busy: false, drawer: null };

  function t(key, values) {
    var text = T[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.replace("{" + name + "}", String(values[name]));
    });
    return text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(path, options) {
    options = options || {};
    var headers = { "Accept": "application/json" };
    if (options.body) {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken();
    }
    return fetch(apiRoot + path, {
      method: options.method || "GET",
      credentials: "same-origin",
      headers: headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
  }

  // --- The drawer ------------------------------------------------------------------------------

  function build() {
    var list = el("ul", { class: "aa-chats", "aria-label": t("chats") });
    var log = el("div", { class: "aa-log", "aria-live": "polite" });
    var input = el("textarea", { class: "aa-input", rows: "2", "aria-label": t("placeholder"), placeholder: t("placeholder") });
    var send = el("button", { type: "submit", class: "aa-send button default", text: t("send") });
    var form = el("form", { class: "aa-form" }, [input, send]);
    var close = el("button", { type: "button", class: "aa-close", "aria-label": t("close"), text: "×" });
    var fresh = el("button", { type: "button", class: "aa-new button", text: "+ " + t("new_chat") });
    var drawer = el("aside", { id: "aa-drawer", class: "aa-drawer", role: "dialog", "aria-modal": "false", "aria-label": t("title"), hidden: "" }, [
      el("div", { class: "aa-head" }, [el("h2", { text: t("title") }), fresh, close]),
      list,
      log,
      form,
    ]);
    document.body.appendChild(drawer);
    close.addEventListener("click", hide);
    fresh.addEventListener("click", function () { state.chatId = null; renderEmpty(); markActive(); input.focus(); });
    form.addEventListener("submit", function (event) { event.preventDefault(); ask(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); ask(); }
    });
    drawer.addEventListener("keydown", function (event) { if (event.key === "Escape") hide(); });
    state.drawer = { root: drawer, list: list, log: log, input: input, send: send };
  }

  function show() {
    if (!state.drawer) build();
    state.drawer.root.hidden = false;
    button.setAttribute("aria-expanded", "true");
    loadChats();
    if (!state.chatId) renderEmpty();
    state.drawer.input.focus();
  }

  function hide() {
    if (!state.drawer) return;
    state.drawer.root.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", function () {
    if (state.drawer && !state.drawer.root.hidden) hide(); else show();
  });

  // --- Chats -----------------------------------------------------------------------------------

  function loadChats() {
    return api("/chats?page_size=20").then(function (r) { return r.json(); }).then(function (body) {
      var list = state.drawer.list;
      list.textContent = "";
      (body.results || []).forEach(function (chat) {
        var item = el("button", { type: "button", class: "aa-chat", "data-id": chat.id, text: chat.title || t("untitled") });
        item.addEventListener("click", function () { openChat(chat.id); });
        list.appendChild(el("li", {}, [item]));
      });
      markActive();
    });
  }

  function markActive() {
    if (!state.drawer) return;
    Array.prototype.forEach.call(state.drawer.list.querySelectorAll(".aa-chat"), function (node) {
      if (node.getAttribute("data-id") === state.chatId) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
    });
  }

  function openChat(id) {
    state.chatId = id;
    markActive();
    var log = state.drawer.log;
    log.textContent = "";
    return api("/chats/" + id + "?page_size=100").then(function (r) { return r.json(); }).then(function (body) {
      (body.messages.results || []).forEach(function (message) {
        if (message.role === "user") {
          log.appendChild(el("div", { class: "aa-msg aa-user", text: message.content }));
        } else {
          var answer = answerNode();
          answer.text.textContent = message.content;
          if (message.result) renderResult(answer, message.result, message.id);
          log.appendChild(answer.root);
        }
      });
      log.scrollTop = log.scrollHeight;
    });
  }

  function renderEmpty() {
    var log = state.drawer.log;
    log.textContent = "";
    log.appendChild(el("p", { class: "aa-empty", text: t("empty") }));
  }

  // --- Asking ----------------------------------------------------------------------------------

  function answerNode() {
    var text = el("div", { class: "aa-text" });
    var result = el("div", { class: "aa-result" });
    var root = el("div", { class: "aa-msg aa-assistant" }, [text, result]);
    return { root: root, text: text, result: result };
  }

  function ensureChat() {
    if (state.chatId) return Promise.resolve(state.chatId);
    return api("/chats", { method: "POST", body: {} }).then(function (r) { return r.json(); }).then(function (chat) {
      state.chatId = chat.id;
      return chat.id;
    });
  }

  function ask() {
    var d = state.drawer;
    var question = d.input.value.trim();
    if (!question || state.busy) return;
    state.busy = true;
    d.send.disabled = true;
    d.input.value = "";
    var empty = d.log.querySelector(".aa-empty");
    if (empty) empty.remove();
    d.log.appendChild(el("div", { class: "aa-msg aa-user", text: question }));
    var answer = answerNode();
    var typing = el("span", { class: "aa-typing", role: "status", text: t("thinking") });
    answer.text.appendChild(typing);
    d.log.appendChild(answer.root);
    d.log.scrollTop = d.log.scrollHeight;
    ensureChat()
      .then(function (chatId) { return stream(chatId, question, answer, typing); })
      .catch(function () { typing.remove(); answer.text.textContent = t("failed"); })
      .then(function () {
        state.busy = false;
        d.send.disabled = false;
        loadChats();
        window.setTimeout(loadChats, 3000); // the title arrives from a background task
      });
  }

  function stream(chatId, question, answer, typing) {
    var assistantId = null;
    return api("/chats/" + chatId + "/message", { method: "POST", body: { question: question } }).then(function (response) {
      if (!response.ok || !response.body) {
        return response.json().then(function (body) {
          typing.remove();
          answer.text.textContent = (body.error && body.error.message) || t("failed");
        });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var text = "";
      function handle(block) {
        var event = null, data = null;
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) event = line.slice(7);
          else if (line.indexOf("data: ") === 0) data = JSON.parse(line.slice(6));
        });
        if (!event || !data) return;
        if (event === "message_start") assistantId = data.assistant_message_id;
        else if (event === "delta" || event === "snapshot") {
          typing.remove();
          text = event === "delta" ? text + data.text : data.text;
          answer.text.textContent = text;
        } else if (event === "result") {
          typing.remove();
          renderResult(answer, data, assistantId);
        } else if (event === "error") {
          typing.remove();
          if (!text) answer.text.textContent = data.message || t("failed");
        }
        state.drawer.log.scrollTop = state.drawer.log.scrollHeight;
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, { stream: true });
          var blocks = buffer.split("\n\n");
          buffer = blocks.pop();
          blocks.forEach(handle);
          return pump();
        });
      }
      return pump();
    });
  }

  // --- Results ---------------------------------------------------------------------------------

  function renderResult(answer, result, messageId) {
    var box = answer.result;
    box.textContent = "";
    if (result.kind === "error") {
      box.appendChild(el("p", { class: "aa-error", role: "alert", text: (result.error && result.error.message) || t("failed") }));
    } else if (result.kind === "number") {
      box.appendChild(el("p", { class: "aa-number", text: formatCell(result.rows[0][0]) }));
    } else {
      if (result.kind === "chart" && result.chart) box.appendChild(chart(result));
      box.appendChild(table(result));
      if (result.truncated) box.appendChild(el("p", { class: "aa-note", text: t("capped", { rows: result.row_count }) }));
      if (messageId) {
        box.appendChild(el("a", { class: "aa-csv", href: apiRoot + "/results/" + messageId + "/csv", download: "", text: t("csv") }));
      }
    }
    if (result.code) {
      box.appendChild(el("details", { class: "aa-code" }, [el("summary", { text: t("code") }), el("pre", {}, [el("code", { text: result.code })])]));
    }
  }

  function formatCell(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return value.toLocaleString();
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function table(result) {
    var head = el("tr", {}, result.columns.map(function (name) { return el("th", { scope: "col", text: name }); }));
    var body = el("tbody");
    var wrap = el("div", { class: "aa-table" }, [el("table", {}, [el("thead", {}, [head]), body])]);
    var shown = 0;
    var status = el("p", { class: "aa-note", "aria-live": "polite" });
    var more = el("button", { type: "button", class: "aa-more button", text: t("show_more") });
    function page() {
      result.rows.slice(shown, shown + PAGE).forEach(function (row) {
        body.appendChild(el("tr", {}, row.map(function (value) { return el("td", { text: formatCell(value) }); })));
      });
      shown = Math.min(shown + PAGE, result.rows.length);
      status.textContent = t("showing", { shown: shown, total: result.total || result.rows.length });
      more.hidden = shown >= result.rows.length;
    }
    more.addEventListener("click", function () { page(); more.focus(); });
    page();
    return el("div", {}, [wrap, status, more]);
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    return node;
  }

  function chart(result) {
    var rows = result.rows;
    var width = 360, height = 180, pad = 24;
    var values = rows.map(function (row) { return Number(row[1]) || 0; });
    var max = Math.max.apply(null, values.concat([0])) || 1;
    var root = svg("svg", { class: "aa-chart", viewBox: "0 0 " + width + " " + height, role: "img" });
    var title = svg("title", {});
    title.textContent = result.chart.y + " / " + result.chart.x;
    root.appendChild(title);
    var step = (width - 2 * pad) / rows.length;
    var y = function (v) { return height - pad - (v / max) * (height - 2 * pad); };
    root.appendChild(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "aa-axis" }));
    if (result.chart.type === "line") {
      var points = values.map(function (v, i) { return (pad + step * (i + 0.5)).toFixed(1) + "," + y(v).toFixed(1); });
      root.appendChild(svg("polyline", { points: points.join(" "), class: "aa-line", fill: "none" }));
    } else {
      values.forEach(function (v, i) {
        var bar = svg("rect", { x: (pad + step * i + step * 0.1).toFixed(1), y: y(v).toFixed(1), width: (step * 0.8).toFixed(1), height: (height - pad - y(v)).toFixed(1), class: "aa-bar" });
        var tip = svg("title", {});
        tip.textContent = formatCell(rows[i][0]) + ": " + formatCell(v);
        bar.appendChild(tip);
        root.appendChild(bar);
      });
    }
    var first = svg("text", { x: pad, y: height - 6, class: "aa-label" });
    first.textContent = formatCell(rows[0][0]);
    var last = svg("text", { x: width - pad, y: height - 6, class: "aa-label", "text-anchor": "end" });
    last.textContent = formatCell(rows[rows.length - 1][0]);
    var top = svg("text", { x: 2, y: pad - 8, class: "aa-label" });
    top.textContent = formatCell(max);
    root.appendChild(first);
    root.appendChild(last);
    root.appendChild(top);
    return root;
  }
})();
