// The phone page of m: pairs by the QR code's URL, then lists runs, follows
// a run's events, and decides its approvals and questions through the
// remote API (docs/api.md). Everything shown that an agent or a person
// wrote is inserted as text (textContent), never as HTML.
"use strict";

const TOKEN_KEY = "m.token";
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let stopView = () => {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function say(text) {
  statusLine.textContent = text;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

class Unpaired extends Error {}

async function api(method, path, body) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401) throw new Unpaired();
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

function unpaired() {
  localStorage.removeItem(TOKEN_KEY);
  stopView();
  say("");
  show(
    el("h2", { text: "This browser was unpaired" }),
    el("p", { text: "Pair it again: run `m device pair` on the computer and scan the new code." })
  );
}

function age(seconds) {
  const s = Math.max(0, Math.floor(Date.now() / 1000) - seconds);
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

function waitsFor(run) {
  const parts = [];
  for (const a of run.pending_approvals || []) parts.push(a.type + " approval");
  for (const q of run.pending_questions || []) parts.push("an answer");
  return parts.length ? "waits for " + parts.join(", ") : "";
}

// ---------------------------------------------------------------- pairing

async function pair() {
  const params = new URLSearchParams(location.hash.slice(1));
  const code = params.get("code");
  // The code leaves the address bar (and history) before anything else.
  history.replaceState(null, "", "/");
  if (!code) {
    show(el("p", { text: "This pairing link has no code. Scan the QR code of `m device pair` again." }));
    return;
  }
  say("Pairing…");
  const response = await fetch("/v1/pair", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code, name: "phone browser", platform: "web" }),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status !== 201) {
    say("");
    show(
      el("h2", { text: "Pairing failed" }),
      el("p", { class: "error", text: data.error || "status " + response.status }),
      el("p", { text: data.hint || "" })
    );
    return;
  }
  localStorage.setItem(TOKEN_KEY, data.token);
  say("Paired as " + data.name);
  route();
}

// ---------------------------------------------------------------- runs list

function runsView() {
  let timer = null;
  let stopped = false;
  const list = el("ul", { class: "runs", "aria-label": "Runs" });
  show(el("h2", { text: "Runs" }), list);
  async function refresh() {
    try {
      const { status, data } = await api("GET", "/v1/runs?limit=50");
      if (stopped) return;
      if (status !== 200) {
        say(data.error || "cannot list runs");
      } else {
        say("");
        list.replaceChildren(
          ...data.map((run) =>
            el(
              "li",
              {},
              el(
                "a",
                { href: "#/runs/" + run.id, "data-run": run.id },
                el("span", { class: "state " + run.state, text: run.state }),
                el("span", { class: "meta", text: " · " + run.repo + " · " + age(run.created_at) }),
                el("div", { class: "prompt", text: run.prompt }),
                el("div", { class: "meta", text: waitsFor(run) })
              )
            )
          )
        );
        if (!data.length) list.replaceChildren(el("li", {}, el("p", { text: "No runs yet." })));
      }
    } catch (e) {
      if (e instanceof Unpaired) return unpaired();
      say("offline; retrying");
    }
    if (!stopped) timer = setTimeout(refresh, 2000);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---------------------------------------------------------------- a run

function diffView(text) {
  const box = el("div", { class: "diff", role: "group", "aria-label": "Diff" });
  for (const line of (text || "").split("\n")) {
    let kind = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) kind = "file";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    else if (line.startsWith("@@")) kind = "hunk";
    box.append(el("div", { class: kind, text: line }));
  }
  return box;
}

function approvalCard(approval, onDecided) {
  const payload = approval.payload || {};
  const card = el("section", { class: "card approval", "aria-label": "Approval " + approval.id.slice(0, 8) });
  const asks = { diff: "Approve these changes?", command: "Run this command?" }[approval.type] || "Approve?";
  card.append(el("h3", { text: asks }));
  if (payload.title) card.append(el("p", { class: "prompt", text: String(payload.title) }));
  if (approval.type === "diff") {
    const stat = payload.stat;
    if (stat && typeof stat === "object") {
      card.append(el("p", { class: "meta", text: (stat.files || 0) + " file(s), +" + (stat.insertions || 0) + " −" + (stat.deletions || 0) }));
    } else if (payload.path) {
      card.append(el("p", { class: "meta", text: String(payload.path) }));
    }
    card.append(diffView(payload.patch || payload.diff || ""));
  } else if (approval.type === "command") {
    const argv = Array.isArray(payload.argv) ? payload.argv : null;
    card.append(el("div", { class: "command", text: "$ " + (argv ? argv.map((a) => JSON.stringify(a)).join(" ") : payload.command || "") }));
    if (payload.cwd) card.append(el("div", { class: "meta", text: "in " + payload.cwd }));
  } else if (payload.details) {
    card.append(el("p", { text: String(payload.details) }));
  }
  const note = el("p", { class: "meta", role: "status" });
  card.append(note);
  if (approval.state !== "pending") {
    note.textContent = "Already " + approval.state + (approval.rejection_reason ? ": " + approval.rejection_reason : "");
    return card;
  }
  const reasonBox = el("div", { hidden: "" });
  const reason = el("textarea", { id: "reason-" + approval.id, rows: "3" });
  reasonBox.append(el("label", { for: reason.id, text: "Why reject?" }), reason);
  async function send(decision) {
    const body = { decision, content_hash: approval.content_hash };
    if (decision === "reject") body.reason = reason.value;
    note.textContent = "Sending…";
    try {
      const { status, data } = await api("POST", "/v1/approvals/" + approval.id + "/decision", body);
      if (status === 200) {
        note.textContent = data.state === "approved" ? "Approved." : "Rejected.";
        actions.remove();
        reasonBox.remove();
        onDecided();
      } else if (status === 409) {
        const current = data.approval ? data.approval.state : data.state;
        const stale = data.code === "stale";
        note.textContent =
          (stale ? "This changed since you saw it: nothing was decided. " : "Already decided. ") +
          "It is " + current + (stale ? "; here it is as it stands now." : ".");
        actions.remove();
        reasonBox.remove();
        // A stale one is shown afresh, to be decided on what it is now.
        if (stale) setTimeout(() => onDecided(true), 1500);
      } else {
        note.textContent = (data.error || "status " + status) + (data.hint ? " (" + data.hint + ")" : "");
      }
    } catch (e) {
      if (e instanceof Unpaired) return unpaired();
      note.textContent = "Could not send; try again.";
    }
  }
  const approve = el("button", { type: "button", class: "primary", text: "Approve", onclick: () => send("approve") });
  const reject = el("button", {
    type: "button",
    class: "danger",
    text: "Reject",
    onclick: () => {
      if (reasonBox.hidden) {
        reasonBox.hidden = false;
        reject.textContent = "Send rejection";
        reason.focus();
      } else {
        send("reject");
      }
    },
  });
  const actions = el("div", { class: "actions" }, approve, reject);
  card.append(reasonBox, actions);
  return card;
}

// The form a question asks for (an ACP elicitation's schema: an object of
// text, choice, boolean and number fields), with the checks `m reply`
// makes; the daemon checks again and its reason is shown if it refuses.
function fieldInput(id, name, field, required) {
  const label = field.title || name || "Your answer";
  const options =
    field.oneOf || field.anyOf ||
    (field.enum ? field.enum.map((v) => ({ const: v, title: String(v) })) : null);
  let input;
  let read;
  if (options) {
    input = el("select", { id });
    if (!required || field.default === undefined) input.append(el("option", { value: "", text: "Choose…" }));
    for (const option of options) {
      const o = el("option", { value: String(option.const), text: option.title || String(option.const) });
      if (field.default === option.const) o.selected = true;
      input.append(o);
    }
    read = () => {
      if (input.value === "") {
        if (required) throw new Error(label + ": choose one");
        return undefined;
      }
      return input.value;
    };
  } else if (field.type === "boolean") {
    input = el("select", { id }, el("option", { value: "true", text: "Yes" }), el("option", { value: "false", text: "No" }));
    if (field.default === false) input.value = "false";
    read = () => input.value === "true";
  } else if (field.type === "number" || field.type === "integer") {
    input = el("input", { id, type: "number", inputmode: "decimal", step: field.type === "integer" ? "1" : "any" });
    if (field.minimum !== undefined) input.min = String(field.minimum);
    if (field.maximum !== undefined) input.max = String(field.maximum);
    read = () => {
      if (input.value.trim() === "") {
        if (required) throw new Error(label + ": enter a number");
        return undefined;
      }
      const n = Number(input.value);
      if (Number.isNaN(n)) throw new Error(label + ": enter a number");
      if (field.type === "integer" && !Number.isInteger(n)) throw new Error(label + ": enter a whole number");
      if (field.minimum !== undefined && n < field.minimum) throw new Error(label + ": at least " + field.minimum);
      if (field.maximum !== undefined && n > field.maximum) throw new Error(label + ": at most " + field.maximum);
      return n;
    };
  } else {
    input = el("textarea", { id, rows: "3" });
    if (typeof field.default === "string") input.value = field.default;
    read = () => {
      const text = input.value;
      if (!text.trim()) {
        if (required) throw new Error(label + ": write an answer");
        return undefined;
      }
      if (field.minLength !== undefined && text.length < field.minLength) throw new Error(label + ": at least " + field.minLength + " characters");
      if (field.maxLength !== undefined && text.length > field.maxLength) throw new Error(label + ": at most " + field.maxLength + " characters");
      return text;
    };
  }
  const labelNode = el("label", { for: id, text: label + (required && name ? " (required)" : "") });
  const nodes = [labelNode, input];
  if (field.description) nodes.push(el("p", { class: "meta", text: field.description }));
  return { nodes, read, input };
}

function questionCard(runId, question, onAnswered) {
  const card = el("section", { class: "card question", "aria-label": "Question" });
  card.append(el("h3", { text: question.question || "Question" }));
  const schema = question.schema || null;
  const props = schema && schema.properties ? Object.entries(schema.properties) : [];
  const required = (schema && schema.required) || [];
  const fields = props.length
    ? props.map(([name, field], i) => ({ name, ...fieldInput("answer-" + question.seq + "-" + i, name, field, required.includes(name)) }))
    : [{ name: null, ...fieldInput("answer-" + question.seq, null, {}, true) }];
  for (const field of fields) card.append(...field.nodes);
  const note = el("p", { class: "meta", role: "status" });
  // One field takes the value itself; several, a JSON object of them.
  function body() {
    if (fields.length === 1) {
      const value = fields[0].read();
      if (value === undefined) throw new Error("write an answer");
      return typeof value === "string" ? { text: value } : { value };
    }
    const object = {};
    for (const field of fields) {
      const value = field.read();
      if (value !== undefined) object[field.name] = value;
    }
    return { text: JSON.stringify(object) };
  }
  const submit = el("button", {
    type: "button",
    class: "primary",
    text: "Answer",
    onclick: async () => {
      let answer;
      try {
        answer = body();
      } catch (e) {
        note.textContent = e.message;
        return;
      }
      note.textContent = "Sending…";
      try {
        const { status, data } = await api("POST", "/v1/runs/" + runId + "/reply", answer);
        if (status === 200) {
          note.textContent = "Answered.";
          submit.remove();
          onAnswered();
        } else {
          note.textContent = (data.error || "status " + status) + (data.hint ? " (" + data.hint + ")" : "");
        }
      } catch (e) {
        if (e instanceof Unpaired) return unpaired();
        note.textContent = "Could not send; try again.";
      }
    },
  });
  card.append(el("div", { class: "actions" }, submit), note);
  return card;
}

function eventLine(event) {
  const data = event.data || {};
  let text = "";
  switch (event.type) {
    case "output":
      text = (data.lines || []).join("\n");
      break;
    case "agent.message":
    case "agent.thought":
      text = data.text || "";
      break;
    case "tool.call":
    case "tool.update":
      text = [data.title, data.kind, data.status].filter(Boolean).join(" · ");
      break;
    case "approval.requested":
      text = data.approval_type + " approval asked";
      break;
    case "approval.resolved": {
      const by = data.by && data.by.kind ? data.by.kind + (data.by.name ? " " + data.by.name : "") : data.by;
      text = data.state + " by " + by + (data.reason ? ": " + data.reason : "");
      break;
    }
    case "input.requested":
      text = data.question || "";
      break;
    case "input.provided":
      text = data.text === null || data.text === undefined ? "(done)" : data.text;
      break;
    case "run.state":
    case "run.finished":
      text = data.state + (data.reason ? ": " + data.reason : "");
      break;
    case "error":
      text = data.message || "";
      break;
    case "run.created":
      text = "started" + (data.agent && data.agent.preset ? " with " + data.agent.preset : "");
      break;
    case "workspace.ready":
      text = data.path || "";
      break;
    default:
      // Other events are named only: their data is for m events --json.
      text = "";
  }
  return el(
    "li",
    { "data-seq": String(event.seq) },
    el("div", { class: "type", text: "#" + event.seq + " " + event.type }),
    text ? el("div", { class: event.type === "output" ? "output" : "", text }) : null
  );
}

// Follows the run's event stream with fetch (EventSource cannot send a
// token), resuming after a lost connection from the last seq seen.
function follow(runId, onEvent, onEnd) {
  let last = 0;
  let stopped = false;
  const controller = { abort: null };
  async function connect() {
    while (!stopped) {
      const abort = new AbortController();
      controller.abort = () => abort.abort();
      try {
        const headers = { Authorization: "Bearer " + localStorage.getItem(TOKEN_KEY) };
        if (last) headers["Last-Event-ID"] = String(last);
        const response = await fetch("/v1/runs/" + runId + "/events/stream", { headers, signal: abort.signal });
        if (response.status === 401) return unpaired();
        if (!response.ok) throw new Error("status " + response.status);
        say("");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = "message";
            let id = null;
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) type = line.slice(7);
              else if (line.startsWith("id: ")) id = Number(line.slice(4));
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (type === "event" && id !== null && id > last) {
              last = id;
              onEvent(JSON.parse(data));
            } else if (type === "end") {
              stopped = true;
              onEnd(JSON.parse(data).state);
              return;
            }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      say("reconnecting…");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  connect();
  return () => {
    stopped = true;
    if (controller.abort) controller.abort();
  };
}

function runView(runId) {
  const heading = el("h2", { text: "Run " + runId.slice(0, 8) });
  const summary = el("div", { class: "card" });
  const pending = el("div", { "aria-live": "polite" });
  const events = el("ol", { class: "events", "aria-label": "Events" });
  // Cancelling asks first, on the page itself: a real button to confirm
  // and one to step back, both reachable by keyboard.
  const cancelNote = el("p", { class: "meta", role: "status" });
  const confirmBox = el("div", { class: "card confirm", hidden: "" });
  const cancel = el("button", {
    type: "button",
    class: "danger",
    text: "Cancel run",
    onclick: () => {
      confirmBox.hidden = false;
      cancel.hidden = true;
      confirmYes.focus();
    },
  });
  const confirmYes = el("button", {
    type: "button",
    class: "danger",
    text: "Yes, cancel it",
    onclick: async () => {
      confirmBox.hidden = true;
      try {
        const { status, data } = await api("POST", "/v1/runs/" + runId + "/cancel", {});
        cancelNote.textContent = status === 200 ? "Cancelling…" : data.error || "status " + status;
      } catch (e) {
        if (e instanceof Unpaired) return unpaired();
        cancelNote.textContent = "Could not send; try again.";
      }
      refresh();
    },
  });
  const confirmNo = el("button", {
    type: "button",
    text: "Keep it running",
    onclick: () => {
      confirmBox.hidden = true;
      cancel.hidden = false;
      cancel.focus();
    },
  });
  confirmBox.append(
    el("p", { text: "Cancel this run? Its agent is stopped, and what it has not finished is lost." }),
    el("div", { class: "actions" }, confirmYes, confirmNo)
  );
  show(heading, summary, pending, el("div", { class: "actions" }, cancel), confirmBox, cancelNote, el("h2", { text: "Events" }), events);
  let shownPending = "";
  async function refresh(force) {
    if (force === true) shownPending = "";
    try {
      const { status, data: run } = await api("GET", "/v1/runs/" + runId);
      if (status !== 200) {
        summary.replaceChildren(el("p", { class: "error", text: run.error || "status " + status }));
        return;
      }
      summary.replaceChildren(
        el("div", {}, el("span", { class: "state " + run.state, text: run.state }), el("span", { class: "meta", text: " · " + run.repo + " · " + age(run.created_at) })),
        el("div", { class: "prompt", text: run.prompt })
      );
      const live = ["queued", "running", "waiting_input", "waiting_approval"].includes(run.state);
      if (!live) confirmBox.hidden = true;
      cancel.hidden = !live || !confirmBox.hidden;
      const key = JSON.stringify([(run.pending_approvals || []).map((a) => a.id), (run.pending_questions || []).map((q) => q.seq)]);
      if (key === shownPending) return;
      shownPending = key;
      const cards = [];
      for (const approval of run.pending_approvals || []) {
        const { data: full } = await api("GET", "/v1/approvals/" + approval.id);
        cards.push(approvalCard(full, refresh));
      }
      const question = (run.pending_questions || [])[0];
      if (question) cards.push(questionCard(runId, question, refresh));
      pending.replaceChildren(...cards);
    } catch (e) {
      if (e instanceof Unpaired) return unpaired();
    }
  }
  refresh();
  const stop = follow(
    runId,
    (event) => {
      events.append(eventLine(event));
      if (/^(approval|input|run)\./.test(event.type)) refresh();
    },
    () => refresh()
  );
  return stop;
}

// ---------------------------------------------------------------- routing

function route() {
  stopView();
  stopView = () => {};
  if (location.pathname === "/pair") return pair();
  if (!localStorage.getItem(TOKEN_KEY)) {
    show(
      el("h2", { text: "Not paired" }),
      el("p", { text: "Run `m device pair` on the computer where m runs, and open the link of its QR code." })
    );
    return;
  }
  const match = location.hash.match(/^#\/runs\/([0-9a-f-]+)$/);
  stopView = match ? runView(match[1]) : runsView();
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
