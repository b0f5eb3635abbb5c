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
  const empty = el("p", { text: "No runs yet.", hidden: "" });
  const rows = new Map();
  show(el("h2", { text: "Runs" }), list, empty);
  async function refresh() {
    try {
      const { status, data } = await api("GET", "/v1/runs?limit=50");
      if (stopped) return;
      if (status !== 200) {
        say(data.error || "cannot list runs");
      } else {
        say("");
        // A run is a link, not a button: it goes to a page with its own
        // address (back, reload and sharing work), and a screen reader
        // says "link", as it should for going somewhere; the actions
        // (approve, reject, answer, cancel) are buttons. Rows are updated
        // in place, never rebuilt, so the focus of someone tabbing through
        // the list stays where it is.
        const ids = new Set(data.map((run) => run.id));
        for (const [id, row] of rows) {
          if (!ids.has(id)) {
            row.remove();
            rows.delete(id);
          }
        }
        let before = null;
        for (const run of data) {
          let row = rows.get(run.id);
          if (!row) {
            row = el("li", {}, el("a", { href: "#/runs/" + run.id, "data-run": run.id }));
            rows.set(run.id, row);
            // Newest first: a new run goes above the ones already shown.
            if (before) before.after(row);
            else list.prepend(row);
          }
          row.firstChild.replaceChildren(
            el("span", { class: "state " + run.state, text: run.state }),
            el("span", { class: "meta", text: " · " + run.repo + " · " + age(run.created_at) }),
            el("div", { class: "prompt", text: run.prompt }),
            el("div", { class: "meta", text: waitsFor(run) })
          );
          before = row;
        }
        empty.hidden = data.length > 0;
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

// Who decided, in words: `by` of an approval or of `approval.resolved`.
function decider(by) {
  if (!by) return "";
  if (typeof by !== "object") return "by " + by;
  switch (by.kind) {
    case "human":
      return "at the terminal" + (by.tty ? " (" + by.tty + ")" : "");
    case "device":
      return "on " + by.name;
    case "policy":
      return "by the rule " + by.rule;
    case "agent":
      return "by the agent, which withdrew it";
    case "m":
      return "by m";
    case "deadline":
      return "because nobody answered within " + by.after;
    default:
      return "by " + by.kind;
  }
}

function decidedText(approval) {
  const how = decider(approval.decided_by);
  return (
    "Already " + approval.state + (how ? " " + how : "") +
    (approval.rejection_reason ? ": " + approval.rejection_reason : "") + "."
  );
}

// What a command approval runs: the line as the terminal shows it, each
// argument on its own (so spaces and quotes inside one are plain to see),
// and the directory it runs in.
function commandView(payload) {
  const nodes = [];
  const argv = Array.isArray(payload.argv) ? payload.argv.map(String) : null;
  const line = payload.command ? String(payload.command) : argv ? argv.join(" ") : "";
  nodes.push(el("div", { class: "command", text: "$ " + line }));
  if (argv && argv.length) {
    const list = el("ol", { class: "argv", "aria-label": "Arguments" });
    for (const arg of argv) list.append(el("li", {}, el("code", { text: arg })));
    nodes.push(el("p", { class: "meta", text: "Arguments (" + argv.length + "):" }), list);
  }
  nodes.push(el("p", { class: "meta cwd", text: "in " + (payload.cwd ? String(payload.cwd) : "(directory not given)") }));
  if (payload.description) nodes.push(el("p", { text: "The agent says: " + String(payload.description) }));
  return nodes;
}

// An approval's card. It is decided here with the content_hash of what it
// shows; decided elsewhere (the terminal, another device, a rule, m), it
// stays and says by whom, and a decision sent too late or on content that
// changed (409) says so and shows the approval as it stands.
function approvalCard(approval, onDecided) {
  const card = el("section", { class: "card approval" });
  const entry = {
    card,
    decidedHere: false,
    settled: false,
    // As it stands now, unless it was settled meanwhile (a decision sent
    // from here, or its refusal, which says more).
    update: (now) => {
      if (!entry.settled) render(now, "");
    },
  };
  function render(current, intro) {
    const payload = current.payload || {};
    entry.settled = current.state !== "pending";
    card.classList.toggle("decided", entry.settled);
    card.setAttribute("aria-label", "Approval " + current.id.slice(0, 8));
    card.dataset.approval = current.id;
    card.dataset.state = current.state;
    const asks = { diff: "Approve these changes?", command: "Run this command?" }[current.type] || "Approve?";
    const nodes = [el("h3", { text: asks })];
    if (payload.title) nodes.push(el("p", { class: "prompt", text: String(payload.title) }));
    if (current.type === "diff") {
      const stat = payload.stat;
      if (stat && typeof stat === "object") {
        nodes.push(el("p", { class: "meta", text: (stat.files || 0) + " file(s), +" + (stat.insertions || 0) + " −" + (stat.deletions || 0) }));
      } else if (payload.path) {
        nodes.push(el("p", { class: "meta", text: String(payload.path) }));
      }
      nodes.push(diffView(payload.patch || payload.diff || ""));
    } else if (current.type === "command") {
      nodes.push(...commandView(payload));
    } else if (payload.details) {
      nodes.push(el("p", { text: String(payload.details) }));
    }
    const note = el("p", { class: "meta note", role: "status", tabindex: "-1" });
    nodes.push(note);
    card.replaceChildren(...nodes);
    if (entry.settled) {
      note.textContent = intro + decidedText(current);
      return note;
    }
    note.textContent = intro;
    const reasonBox = el("div", { hidden: "" });
    const reason = el("textarea", { id: "reason-" + current.id, rows: "3" });
    reasonBox.append(el("label", { for: reason.id, text: "Why reject?" }), reason);
    async function send(decision) {
      const body = { decision, content_hash: current.content_hash };
      if (decision === "reject") body.reason = reason.value;
      note.textContent = "Sending…";
      try {
        const { status, data } = await api("POST", "/v1/approvals/" + current.id + "/decision", body);
        if (status === 200) {
          entry.decidedHere = true;
          entry.settled = true;
          note.textContent = data.state === "approved" ? "Approved." : "Rejected.";
          // The card goes once the run moves on: the status line, which a
          // reader hears, keeps saying what was done.
          say(note.textContent);
          // The focus was on the button that goes: it stays in the card.
          if (card.contains(document.activeElement)) note.focus();
          actions.remove();
          reasonBox.remove();
          onDecided();
        } else if (status === 409 && data.approval) {
          // Nothing was decided: say why, and show it as it is now.
          // A review whose worktree changed is closed and asked again
          // (asked_again, shown above as it comes); anything else stale is
          // shown as it is now, to be decided on that.
          let intro = "Nothing was decided by your tap. ";
          if (data.code === "stale") {
            intro = "It changed since you saw it, and nothing was decided. ";
            if (data.approval.state === "pending") intro += "Here it is as it stands now. ";
            else if (data.asked_again) intro += "It is asked again above, with what it holds now. ";
          }
          render(data.approval, intro).focus();
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
    return note;
  }
  render(approval, "");
  return entry;
}

// The form a question asks for (an ACP elicitation's schema: an object of
// text, choice, boolean and number fields), refusing on the page what
// `m reply` would refuse (src/question.rs), in its words; the daemon
// checks again, and its reason is shown if it refuses.
function fieldInput(id, name, field, required) {
  const title = field.title || name || "Your answer";
  // As `m reply` names a field: "Title (name)".
  const label = name && field.title && field.title !== name ? field.title + " (" + name + ")" : title;
  let input;
  const fail = (why) => {
    const error = new Error(label + ": " + why);
    error.input = input;
    throw error;
  };
  const options =
    field.oneOf || field.anyOf ||
    (field.enum ? field.enum.map((v) => ({ const: v, title: String(v) })) : null);
  let read;
  if (options) {
    input = el("select", { id });
    if (field.default === undefined) input.append(el("option", { value: "", text: "Choose…" }));
    for (const option of options) {
      const o = el("option", { value: String(option.const), text: option.title || String(option.const) });
      if (field.default === option.const) o.selected = true;
      input.append(o);
    }
    read = () => {
      if (input.value === "") return required ? fail("choose one") : undefined;
      return input.value;
    };
  } else if (field.type === "boolean") {
    // No answer is chosen for the human unless the form gives a default.
    input = el("select", { id });
    if (typeof field.default !== "boolean") input.append(el("option", { value: "", text: "Choose…" }));
    input.append(el("option", { value: "true", text: "Yes" }), el("option", { value: "false", text: "No" }));
    if (typeof field.default === "boolean") input.value = String(field.default);
    read = () => {
      if (input.value === "") return required ? fail("choose yes or no") : undefined;
      return input.value === "true";
    };
  } else if (field.type === "number" || field.type === "integer") {
    const whole = field.type === "integer";
    // type=text with a numeric keyboard: the page sees what was typed (a
    // number input hides text that is not a number), to say why it is not.
    input = el("input", { id, type: "text", inputmode: whole ? "numeric" : "decimal", autocomplete: "off" });
    if (typeof field.default === "number") input.value = String(field.default);
    read = () => {
      const text = input.value.trim();
      if (text === "") return required ? fail("enter " + (whole ? "a whole number" : "a number")) : undefined;
      const n = Number(text);
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) || !Number.isFinite(n)) {
        return fail("'" + text + "' is not " + (whole ? "a whole number" : "a number"));
      }
      if (whole && !/^[-+]?\d+$/.test(text)) return fail("'" + text + "' is not a whole number");
      if (typeof field.minimum === "number" && n < field.minimum) return fail("must be at least " + field.minimum);
      if (typeof field.maximum === "number" && n > field.maximum) return fail("must be at most " + field.maximum);
      return n;
    };
  } else {
    input = el("textarea", { id, rows: "3" });
    if (typeof field.default === "string") input.value = field.default;
    read = () => {
      const text = input.value;
      if (!text.trim()) return required ? fail("write an answer") : undefined;
      const length = [...text.trim()].length;
      if (typeof field.minLength === "number" && length < field.minLength) return fail("needs at least " + field.minLength + " characters");
      if (typeof field.maxLength === "number" && length > field.maxLength) return fail("takes at most " + field.maxLength + " characters");
      if (typeof field.pattern === "string") {
        let pattern = null;
        try {
          pattern = new RegExp(field.pattern, "u");
        } catch (e) {
          // A pattern this browser cannot read is left to the daemon.
        }
        if (pattern && !pattern.test(text.trim())) return fail("'" + text.trim() + "' does not match the pattern " + field.pattern);
      }
      const t = text.trim();
      if (field.format === "email" && !t.includes("@")) return fail("'" + t + "' is not an email address");
      if (field.format === "uri" && !t.includes(":")) return fail("'" + t + "' is not a URI");
      if (field.format === "date" && !/^\d{4}-\d{2}-\d{2}$/.test(t)) return fail("'" + t + "' is not a date (YYYY-MM-DD)");
      return text;
    };
  }
  const labelNode = el("label", { for: id, id: id + "-label", text: title + (required && name ? " (required)" : "") });
  const nodes = [labelNode, input];
  if (field.description) {
    const help = el("p", { class: "meta", id: id + "-help", text: field.description });
    input.setAttribute("aria-describedby", help.id);
    nodes.push(help);
  }
  return { nodes, read, input };
}

function questionCard(runId, question, onAnswered) {
  const card = el("section", { class: "card question", "aria-label": "Question" });
  const asked = el("h3", { id: "question-" + question.seq, text: question.question || "Question" });
  card.append(asked);
  const schema = question.schema || null;
  const props = schema && schema.properties ? Object.entries(schema.properties) : [];
  const required = (schema && schema.required) || [];
  const fields = props.length
    ? props.map(([name, field], i) => ({ name, ...fieldInput("answer-" + question.seq + "-" + i, name, field, required.includes(name)) }))
    : [{ name: null, ...fieldInput("answer-" + question.seq, null, {}, true) }];
  // A reader hears the question with each field: as the name of a lone
  // free-text field, else as the fields' description.
  for (const field of fields) {
    if (field.name === null) {
      field.input.setAttribute("aria-labelledby", asked.id + " " + field.nodes[0].id);
    } else {
      const described = field.input.getAttribute("aria-describedby");
      field.input.setAttribute("aria-describedby", asked.id + (described ? " " + described : ""));
    }
    card.append(...field.nodes);
  }
  const note = el("p", { class: "meta note", role: "status", tabindex: "-1" });
  // One field takes the value itself; several, a JSON object of them.
  function body() {
    if (fields.length === 1) {
      const value = fields[0].read();
      if (value === undefined) throw Object.assign(new Error("write an answer"), { input: fields[0].input });
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
      for (const field of fields) field.input.removeAttribute("aria-invalid");
      try {
        answer = body();
      } catch (e) {
        // Said beside the button, and the field at fault takes the focus.
        note.textContent = e.message;
        if (e.input) {
          e.input.setAttribute("aria-invalid", "true");
          e.input.focus();
        }
        return;
      }
      note.textContent = "Sending…";
      try {
        const { status, data } = await api("POST", "/v1/runs/" + runId + "/reply", answer);
        if (status === 200) {
          note.textContent = "Answered.";
          say("Answered.");
          if (card.contains(document.activeElement)) note.focus();
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
      text = data.state + " " + decider(data.by) + (data.reason ? ": " + data.reason : "");
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
  const approvals = el("div", { class: "approvals" });
  const questionBox = el("div");
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
  show(heading, summary, approvals, questionBox, el("div", { class: "actions" }, cancel), confirmBox, cancelNote, el("h2", { text: "Events" }), events);
  // The approvals on screen, by id; the open question's seq.
  const shown = new Map();
  let questionSeq = null;
  let announced = 0;
  let refreshing = false;
  let again = false;
  // One refresh at a time (events come in bursts); a call during one runs
  // it once more after, so the last state is always what is shown.
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        await update();
      } while (again);
    } catch (e) {
      if (e instanceof Unpaired) return unpaired();
    } finally {
      refreshing = false;
    }
  }
  async function update() {
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
    const pendingIds = (run.pending_approvals || []).map((a) => a.id);
    // One that left the pending list: decided here, it goes; decided
    // elsewhere, it stays and says so.
    for (const [id, entry] of shown) {
      if (pendingIds.includes(id)) continue;
      if (entry.decidedHere) {
        // A keyboard's focus on it goes to the start of the view, not
        // out of the page.
        const focusWasHere = entry.card.contains(document.activeElement);
        entry.card.remove();
        shown.delete(id);
        if (focusWasHere) main.focus({ preventScroll: true });
      } else if (!entry.settled) {
        const { status: found, data: now } = await api("GET", "/v1/approvals/" + id);
        if (found === 200) entry.update(now);
      }
    }
    // New ones on top, where they are seen first.
    for (const id of pendingIds) {
      if (shown.has(id)) continue;
      const { status: found, data: full } = await api("GET", "/v1/approvals/" + id);
      if (found !== 200) continue;
      const entry = approvalCard(full, refresh);
      shown.set(id, entry);
      approvals.prepend(entry.card);
    }
    // Told once per change, in the status line a reader hears.
    const waiting = pendingIds.length;
    if (waiting !== announced) {
      const waits = (n) => (n === 1 ? "An approval waits for you." : n + " approvals wait for you.");
      if (waiting) say(waits(waiting));
      else if (statusLine.textContent === waits(announced)) say("");
      announced = waiting;
    }
    const question = (run.pending_questions || [])[0];
    const seq = question ? question.seq : null;
    if (seq !== questionSeq) {
      questionSeq = seq;
      const focusWasHere = questionBox.contains(document.activeElement);
      questionBox.replaceChildren(...(question ? [questionCard(runId, question, refresh)] : []));
      if (focusWasHere) main.focus({ preventScroll: true });
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
