// The ask page: follows the answer's event stream (the HTMX response holds its signed URL),
// keeps one question in flight, shows errors by their stable code, announces the finished answer once.
(() => {
  "use strict";
  const form = document.getElementById("ask-form");
  if (!form) return;
  const messages = JSON.parse(document.getElementById("ask-error-messages").textContent);
  const button = form.querySelector("button[type=submit]");
  const errorArea = document.getElementById("ask-errors");
  const fieldError = document.getElementById("question-error");
  const announcer = document.getElementById("ask-announce");
  let answering = false;

  const showError = (code) => {
    const alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.dataset.code = code;
    alert.textContent = messages[code] || messages.error;
    errorArea.replaceChildren(alert);
  };
  const setBusy = (busy) => {
    answering = busy;
    button.disabled = busy;
    form.setAttribute("aria-busy", String(busy));
  };

  form.addEventListener("htmx:beforeRequest", (event) => {
    if (answering) { event.preventDefault(); return; }
    errorArea.replaceChildren();
    fieldError.replaceChildren();
    announcer.textContent = "";
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    const target = document.querySelector("#ask-answer [data-stream-url]:not([data-state])");
    if (target) follow(target);
  });
  document.body.addEventListener("htmx:timeout", () => { setBusy(false); showError("timeout"); });
  document.body.addEventListener("htmx:sendError", () => { setBusy(false); showError("error"); });
  document.body.addEventListener("htmx:responseError", () => { setBusy(false); showError("error"); });

  function follow(target) {
    target.dataset.state = "streaming";
    setBusy(true);
    let text = "";
    const source = new EventSource(target.dataset.streamUrl);
    const finish = () => {
      source.close();
      target.dataset.state = "done";
      target.setAttribute("aria-busy", "false");
      setBusy(false);
    };
    source.addEventListener("delta", (event) => { text += JSON.parse(event.data).text; target.textContent = text; });
    source.addEventListener("snapshot", (event) => { text = JSON.parse(event.data).text; target.textContent = text; });
    source.addEventListener("message_stop", () => { finish(); announcer.textContent = text; });
    source.addEventListener("error", (event) => {
      if (event.data) { // the stream's terminal `error` event (a connection error has no data: it reconnects)
        finish();
        showError(JSON.parse(event.data).code);
      } else if (source.readyState === EventSource.CLOSED) {
        finish();
        showError("error");
      }
    });
  }
})();
