/*
 * <site-help>: the embeddable help widget. Framework-free; styles isolated in a shadow root.
 *
 *   <script src="https://help.example/static/sitehelp/widget.js" defer></script>
 *   <site-help lang="de" consent="auto" position="bottom-right"></site-help>
 *
 * Attributes: lang (en|de|fr), position (bottom-right|bottom-left|inline), consent (auto|host|none),
 * api (the help server's origin; default: where this script came from), persist (session|local),
 * accent-color, background-color, text-color.
 *
 * Private by default: nothing is stored or requested until the visitor opens the widget (the
 * strings are fetched then) and sends a first message (the session starts then). The session
 * token lives in sessionStorage, or in localStorage when the host sets persist="local".
 * With consent="host" the host's consent tool calls `element.grantConsent()`.
 */
(() => {
  "use strict";
  if (customElements.get("site-help")) return;

  const SCRIPT_ORIGIN = document.currentScript ? new URL(document.currentScript.src, location.href).origin : location.origin;
  const LANGUAGES = ["en", "de", "fr"];
  const STORAGE_KEY = "sitehelp-session";
  // Only the launcher's label is needed before the catalogue is fetched (on open).
  const LAUNCHER = { en: "Help", de: "Hilfe", fr: "Aide" };
  const EXPIRED = ["session_expired", "invalid_session_token", "session_token_missing", "not_found"];

  const STYLE = `
    :host { all: initial; --sh-accent: #0b5ed7; --sh-bg: #ffffff; --sh-text: #1f2328; --sh-muted: #59636e;
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--sh-text); }
    :host([position="bottom-right"]), :host(:not([position])) { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000; }
    :host([position="bottom-left"]) { position: fixed; left: 1rem; bottom: 1rem; z-index: 2147483000; }
    :host([position="inline"]) { display: block; }
    * { box-sizing: border-box; }
    button, textarea { font: inherit; }
    button { cursor: pointer; border-radius: .4rem; border: 1px solid var(--sh-accent); background: var(--sh-bg); color: var(--sh-accent); padding: .35rem .7rem; }
    button.primary { background: var(--sh-accent); color: #fff; }
    button:disabled { opacity: .6; cursor: not-allowed; }
    :focus-visible { outline: 3px solid var(--sh-accent); outline-offset: 2px; }
    .launcher { border-radius: 2rem; padding: .6rem 1.1rem; background: var(--sh-accent); color: #fff; box-shadow: 0 2px 8px rgba(0,0,0,.25); }
    .panel { width: min(24rem, calc(100vw - 2rem)); height: min(34rem, calc(100vh - 2rem)); display: flex; flex-direction: column;
      background: var(--sh-bg); color: var(--sh-text); border: 1px solid #d0d7de; border-radius: .6rem; box-shadow: 0 4px 16px rgba(0,0,0,.2); overflow: hidden; }
    :host([position="inline"]) .panel { width: 100%; }
    .panel[hidden], [hidden] { display: none !important; }
    header { padding: .6rem .8rem; border-bottom: 1px solid #d0d7de; display: flex; gap: .5rem; align-items: start; }
    header .titles { flex: 1; }
    header h2 { font-size: 1rem; margin: 0; }
    header p { margin: 0; font-size: .8rem; color: var(--sh-muted); }
    header a { color: var(--sh-accent); }
    .log { flex: 1; overflow-y: auto; padding: .6rem .8rem; display: flex; flex-direction: column; gap: .5rem; }
    .msg { padding: .45rem .65rem; border-radius: .5rem; white-space: pre-wrap; word-wrap: break-word; max-width: 90%; }
    .msg.user { align-self: flex-end; background: var(--sh-accent); color: #fff; }
    .msg.assistant { align-self: flex-start; background: #f1f3f5; color: var(--sh-text); }
    .msg.assistant[aria-busy="true"]::after { content: "▍"; animation: blink 1s steps(2) infinite; }
    .who { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    .feedback { display: flex; gap: .3rem; align-items: center; flex-wrap: wrap; margin-top: .3rem; }
    .feedback button[aria-pressed="true"] { background: var(--sh-accent); color: #fff; }
    .feedback textarea { width: 100%; }
    .notice { font-size: .85rem; color: var(--sh-muted); align-self: center; text-align: center; }
    .alert { margin: 0 .8rem; padding: .45rem .65rem; border-radius: .4rem; background: #fff0f0; color: #8a1c1c; border: 1px solid #f3b7b7; }
    .alert:empty { display: none; }
    .consent { margin: 0 .8rem .5rem; padding: .6rem; border: 1px solid #d0d7de; border-radius: .4rem; }
    .consent p { margin: 0 0 .5rem; font-size: .9rem; }
    form { display: flex; gap: .4rem; padding: .6rem .8rem; border-top: 1px solid #d0d7de; align-items: end; }
    form label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
    form textarea { flex: 1; resize: none; min-height: 2.4rem; max-height: 8rem; padding: .4rem; border: 1px solid #8c959f; border-radius: .4rem; color: var(--sh-text); background: var(--sh-bg); }
    .tools { display: flex; gap: .4rem; padding: 0 .8rem .6rem; flex-wrap: wrap; }
    .tools button { font-size: .8rem; padding: .2rem .5rem; }
    .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    @keyframes blink { 50% { opacity: 0; } }
    @media (prefers-reduced-motion: reduce) { * { animation: none !important; transition: none !important; } }
  `;

  const element = (tag, attributes = {}, text = "") => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  };
  const fill = (template, values) => String(template).replace(/%\((\w+)\)s/g, (_, key) => (key in values ? values[key] : ""));

  class SiteHelp extends HTMLElement {
    static get observedAttributes() { return ["lang", "accent-color", "background-color", "text-color"]; }

    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.catalogue = null;
      this.session = null; // {id, token}: in memory; in storage once a session started
      this.consented = false;
      this.inFlight = false;
      this.pending = null; // a message waiting for consent
      this.blockedUntil = 0;
      this.render();
    }

    get language() { const lang = (this.getAttribute("lang") || "en").slice(0, 2); return LANGUAGES.includes(lang) ? lang : "en"; }
    get consentMode() { const mode = this.getAttribute("consent"); return ["auto", "host", "none"].includes(mode) ? mode : "auto"; }
    get api() { return (this.getAttribute("api") || SCRIPT_ORIGIN).replace(/\/$/, "") + "/api/v1/help"; }
    get storage() { return this.getAttribute("persist") === "local" ? window.localStorage : window.sessionStorage; }

    attributeChangedCallback(name) {
      if (name === "lang" && this.catalogue) { this.catalogue = null; if (!this.panel.hidden) this.loadCatalogue(); }
      this.applyColours();
    }

    /** The host's consent tool says the visitor agreed (consent="host"). */
    grantConsent() {
      this.consented = true;
      this.consentWaiting.hidden = true;
      if (this.pending !== null) { const text = this.pending; this.pending = null; this.send(text); }
    }

    t(key) { return this.catalogue ? this.catalogue.strings[key] : ""; }
    errorText(code, values = {}) {
      const errors = this.catalogue ? this.catalogue.error_texts : {};
      return fill(errors[code] || errors.error || code, values);
    }

    applyColours() {
      const map = { "accent-color": "--sh-accent", "background-color": "--sh-bg", "text-color": "--sh-text" };
      for (const [attribute, property] of Object.entries(map)) {
        const value = this.getAttribute(attribute);
        if (value) this.style.setProperty(property, value); else this.style.removeProperty(property);
      }
    }

    render() {
      this.root.append(element("style", {}, STYLE));
      this.launcher = element("button", { type: "button", class: "launcher", "aria-expanded": "false", part: "launcher" }, LAUNCHER[this.language]);
      this.launcher.addEventListener("click", () => this.open());

      this.panel = element("section", { class: "panel", role: "dialog", "aria-labelledby": "sh-title", hidden: "" });
      const header = element("header");
      const titles = element("div", { class: "titles" });
      this.heading = element("h2", { id: "sh-title" });
      this.notice = element("p");
      this.privacy = element("a", { target: "_blank", rel: "noopener" });
      titles.append(this.heading, this.notice, element("p"));
      titles.lastChild.append(this.privacy);
      this.closeButton = element("button", { type: "button", class: "close" }, "×");
      this.closeButton.addEventListener("click", () => this.close());
      header.append(titles, this.closeButton);

      // role=log for the history; announcements come from the status region below, once per
      // finished answer, so a streaming answer is never read out token by token.
      this.log = element("div", { class: "log", role: "log", "aria-live": "off", tabindex: "0" });
      this.status = element("div", { class: "sr-only", role: "status", "aria-live": "polite" });
      this.alert = element("div", { class: "alert", role: "alert" });

      this.consentBox = element("div", { class: "consent", hidden: "" });
      this.consentText = element("p");
      this.consentAccept = element("button", { type: "button", class: "primary" });
      this.consentDecline = element("button", { type: "button" });
      this.consentAccept.addEventListener("click", () => this.acceptConsent());
      this.consentDecline.addEventListener("click", () => { this.consentBox.hidden = true; this.input.focus(); });
      this.consentBox.append(this.consentText, this.consentAccept, document.createTextNode(" "), this.consentDecline);
      this.consentWaiting = element("p", { class: "notice", hidden: "" });

      this.form = element("form");
      const label = element("label", { for: "sh-input" });
      this.input = element("textarea", { id: "sh-input", rows: "1" });
      this.sendButton = element("button", { type: "submit", class: "primary" });
      this.form.append(label, this.input, this.sendButton);
      this.inputLabel = label;
      this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); this.submit(); }
      });
      this.panel.addEventListener("keydown", (event) => { if (event.key === "Escape") this.close(); });

      this.tools = element("div", { class: "tools", hidden: "" });
      this.exportButton = element("button", { type: "button" });
      this.deleteButton = element("button", { type: "button" });
      this.exportButton.addEventListener("click", () => this.exportConversation());
      this.deleteButton.addEventListener("click", () => this.deleteConversation());
      this.tools.append(this.exportButton, this.deleteButton);

      this.panel.append(header, this.log, this.status, this.alert, this.consentBox, this.consentWaiting, this.form, this.tools);
      this.root.append(this.launcher, this.panel);
      this.applyColours();
    }

    async open() {
      this.launcher.hidden = true;
      this.launcher.setAttribute("aria-expanded", "true");
      this.panel.hidden = false;
      this.input.focus();
      if (!this.catalogue) await this.loadCatalogue();
      if (!this.session) await this.restore();
    }

    close() {
      this.panel.hidden = true;
      this.launcher.hidden = false;
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
    }

    async loadCatalogue() {
      try {
        const response = await fetch(`${this.api}/i18n/${this.language}/`, { credentials: "omit" });
        if (!response.ok) throw new Error(String(response.status));
        this.catalogue = await response.json();
      } catch (error) {
        this.alert.textContent = "Help is unavailable right now.";
        return;
      }
      const c = this.catalogue;
      this.heading.textContent = this.t("title");
      this.notice.textContent = this.t("ai_notice");
      this.privacy.textContent = this.t("privacy");
      this.privacy.href = c.privacy_url;
      this.closeButton.setAttribute("aria-label", this.t("close"));
      this.launcher.setAttribute("aria-label", this.t("open"));
      this.inputLabel.textContent = this.t("input_label");
      this.input.placeholder = this.t("placeholder");
      this.sendButton.textContent = this.t("send");
      this.log.setAttribute("aria-label", this.t("history"));
      this.consentText.textContent = fill(this.t("consent_text"), { days: c.retention_days });
      this.consentAccept.textContent = this.t("consent_accept");
      this.consentDecline.textContent = this.t("consent_decline");
      this.consentWaiting.textContent = this.t("consent_waiting");
      this.exportButton.textContent = this.t("export");
      this.deleteButton.textContent = this.t("delete");
      this.tools.setAttribute("aria-label", this.t("conversation"));
    }

    // --- Session ---------------------------------------------------------------------------

    stored() {
      try { return JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) || window.localStorage.getItem(STORAGE_KEY) || "null"); }
      catch (error) { return null; }
    }

    forget() {
      this.session = null;
      this.tools.hidden = true;
      try { window.sessionStorage.removeItem(STORAGE_KEY); window.localStorage.removeItem(STORAGE_KEY); } catch (error) { /* storage blocked */ }
    }

    /** A session of an earlier page of this tab (or of an earlier visit, with persist="local"). */
    async restore() {
      const saved = this.stored();
      if (!saved || !saved.id || !saved.token) return;
      const response = await fetch(`${this.api}/sessions/${saved.id}/messages/?page_size=100`, { headers: { "X-Help-Session": saved.token }, credentials: "omit" });
      if (!response.ok) { this.forget(); return; }
      this.session = saved;
      this.consented = true;
      this.tools.hidden = false;
      const page = await response.json();
      for (const message of page.results) {
        this.bubble("user", message.question);
        const answer = this.bubble("assistant", message.answer);
        if (message.status === "complete") this.addFeedback(answer, message.id, message.feedback);
      }
    }

    async startSession() {
      const response = await fetch(`${this.api}/sessions/`, {
        method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ language: this.language, consent_mode: this.consentMode }),
      });
      if (!response.ok) { await this.showFailure(response); return false; }
      const body = await response.json();
      this.session = { id: body.session_id, token: body.token };
      try { this.storage.setItem(STORAGE_KEY, JSON.stringify(this.session)); } catch (error) { /* kept in memory only */ }
      this.tools.hidden = false;
      return true;
    }

    acceptConsent() {
      this.consented = true;
      this.consentBox.hidden = true;
      this.submit();
    }

    // --- Sending -------------------------------------------------------------------------------

    submit() {
      const text = this.input.value.trim();
      if (!text || this.inFlight || Date.now() < this.blockedUntil) return;
      if (!this.session && !this.consented && this.consentMode === "auto") {
        this.consentBox.hidden = false; // the typed message stays in the input
        this.consentAccept.focus();
        return;
      }
      if (!this.session && !this.consented && this.consentMode === "host") {
        this.pending = text;
        this.consentWaiting.hidden = false;
        return;
      }
      this.send(text);
    }

    setInFlight(busy) {
      this.inFlight = busy;
      this.sendButton.disabled = busy || Date.now() < this.blockedUntil;
      this.sendButton.setAttribute("aria-busy", String(busy));
    }

    async send(text, renewed = false) {
      this.setInFlight(true);
      this.alert.textContent = "";
      try {
        if (!this.session && !(await this.startSession())) return;
        const response = await fetch(`${this.api}/sessions/${this.session.id}/messages/`, {
          method: "POST", credentials: "omit",
          headers: { "Content-Type": "application/json", "X-Help-Session": this.session.token },
          body: JSON.stringify({ content: text }),
        });
        if (!response.ok) {
          const code = await this.showFailure(response, { quiet: !renewed });
          if (EXPIRED.includes(code) && !renewed) {
            this.forget();
            this.notify(this.t("session_renewed"));
            this.setInFlight(false);
            return this.send(text, true);
          }
          return;
        }
        this.input.value = "";
        this.bubble("user", text);
        await this.readAnswer(response);
      } catch (error) {
        this.alert.textContent = this.errorText("error");
      } finally {
        this.setInFlight(false);
      }
    }

    async readAnswer(response) {
      const answer = this.bubble("assistant", "");
      answer.setAttribute("aria-busy", "true");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let text = "";
      let messageId = null;
      const handle = (type, data) => {
        if (type === "message_start") messageId = data.message_id;
        else if (type === "delta") { text += data.text; answer.lastChild.textContent = text; }
        else if (type === "snapshot") { text = data.text; answer.lastChild.textContent = text; }
        else if (type === "message_stop") {
          answer.setAttribute("aria-busy", "false");
          this.status.textContent = `${this.t("assistant")}: ${text}`; // announced once, whole
          this.addFeedback(answer, messageId || data.message_id, null);
        } else if (type === "error") {
          answer.setAttribute("aria-busy", "false");
          this.alert.textContent = this.errorText(data.code);
        }
      };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          const data = [];
          for (const line of frame.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          if (data.length) handle(type, JSON.parse(data.join("\n")));
        }
      }
    }

    async showFailure(response, { quiet = false } = {}) {
      let error = { code: "error", details: {} };
      try { error = (await response.json()).error || error; } catch (parseError) { /* not JSON */ }
      const code = error.code;
      if (quiet && EXPIRED.includes(code)) return code;
      if (code === "rate_limited") {
        const seconds = Number(response.headers.get("Retry-After") || (error.details || {}).retry_after || 1);
        this.countdown(seconds);
      } else {
        this.alert.textContent = this.errorText(code, error.details || {});
      }
      return code;
    }

    countdown(seconds) {
      this.blockedUntil = Date.now() + seconds * 1000;
      this.sendButton.disabled = true;
      const tick = () => {
        const left = Math.ceil((this.blockedUntil - Date.now()) / 1000);
        if (left <= 0) { this.alert.textContent = ""; this.sendButton.disabled = this.inFlight; return; }
        this.alert.textContent = this.errorText("rate_limited", { seconds: left });
        setTimeout(tick, 1000);
      };
      tick();
    }

    // --- History, feedback, export, delete ----------------------------------------------------------

    bubble(role, text) {
      const node = element("div", { class: `msg ${role}` });
      node.append(element("span", { class: "who" }, `${this.t(role === "user" ? "you" : "assistant")}: `), element("span", {}, text));
      this.log.append(node);
      this.log.scrollTop = this.log.scrollHeight;
      return node;
    }

    notify(text) {
      this.log.append(element("p", { class: "notice" }, text));
      this.status.textContent = text;
    }

    addFeedback(answer, messageId, existing) {
      if (!this.catalogue || !this.catalogue.feedback_enabled || !messageId) return;
      const box = element("div", { class: "feedback" });
      const up = element("button", { type: "button", "aria-pressed": "false", "aria-label": this.t("helpful") }, "👍");
      const down = element("button", { type: "button", "aria-pressed": "false", "aria-label": this.t("not_helpful") }, "👎");
      const comment = element("textarea", { rows: "2", "aria-label": this.t("comment_label"), placeholder: this.t("comment_label"), hidden: "" });
      const commentSend = element("button", { type: "button", hidden: "" }, this.t("comment_send"));
      let rating = existing ? existing.rating : 0;
      const mark = () => { up.setAttribute("aria-pressed", String(rating === 1)); down.setAttribute("aria-pressed", String(rating === -1)); };
      const post = async (body) => {
        const response = await fetch(`${this.api}/sessions/${this.session.id}/feedback/`, {
          method: "POST", credentials: "omit",
          headers: { "Content-Type": "application/json", "X-Help-Session": this.session.token },
          body: JSON.stringify({ message_id: messageId, ...body }),
        });
        if (!response.ok) { await this.showFailure(response); return false; }
        this.status.textContent = this.t("feedback_thanks");
        return true;
      };
      const rate = async (value) => {
        if (await post({ rating: value })) { rating = value; mark(); comment.hidden = false; commentSend.hidden = false; }
      };
      up.addEventListener("click", () => rate(1));
      down.addEventListener("click", () => rate(-1));
      commentSend.addEventListener("click", async () => {
        if (await post({ rating, comment: comment.value })) { comment.hidden = true; commentSend.hidden = true; }
      });
      mark();
      box.append(up, down, comment, commentSend);
      answer.append(box);
    }

    async exportConversation() {
      if (!this.session) return;
      const response = await fetch(`${this.api}/sessions/${this.session.id}/export/`, { headers: { "X-Help-Session": this.session.token }, credentials: "omit" });
      if (!response.ok) { await this.showFailure(response); return; }
      const blob = new Blob([JSON.stringify(await response.json(), null, 2)], { type: "application/json" });
      const link = element("a", { href: URL.createObjectURL(blob), download: `help-conversation-${this.session.id}.json` });
      this.root.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    }

    async deleteConversation() {
      if (!this.session) return;
      const response = await fetch(`${this.api}/sessions/${this.session.id}/`, { method: "DELETE", headers: { "X-Help-Session": this.session.token }, credentials: "omit" });
      if (!response.ok && response.status !== 404) { await this.showFailure(response); return; }
      this.forget();
      this.log.replaceChildren();
      this.notify(this.t("deleted"));
      this.input.focus();
    }
  }

  customElements.define("site-help", SiteHelp);
})();
