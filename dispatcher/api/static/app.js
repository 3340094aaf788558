// The dispatcher dashboard: plain JS, no build step, no CDN. It polls the API once a second.
// The token comes from the URL fragment (#token=...; never sent to the server) or the form,
// is kept in sessionStorage and is sent as a Bearer token.
"use strict";

const STATUSES = ["queued", "sending", "retrying", "sent", "delivered", "read", "failed",
  "unknown", "rejected", "cancelled"];
let polls = 0;
let timer = null;
let generation = 0;  // a refresh loop from before the last start() stops itself

function fragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  return { token: params.get("token"), campaign: params.get("campaign") };
}

function token() {
  const given = fragment().token;
  if (given) {
    sessionStorage.setItem("dispatcher-token", given);
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    params.delete("token");  // keep the token out of the address bar and history
    history.replaceState(null, "", "#" + params.toString());
  }
  return sessionStorage.getItem("dispatcher-token");
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function show(id, visible) { document.getElementById(id).hidden = !visible; }

async function api(path) {
  const answer = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (answer.status === 401) {
    sessionStorage.removeItem("dispatcher-token");
    throw new Error("the token was refused");
  }
  if (!answer.ok) throw new Error(path + ": HTTP " + answer.status);
  return answer.json();
}

function bar(fraction) {
  const outer = el("div", null, { class: "bar" });
  const inner = el("div", null, { "data-testid": "progress" });
  inner.style.width = Math.round(fraction * 100) + "%";
  outer.appendChild(inner);
  return outer;
}

function renderList(data) {
  const body = document.getElementById("campaigns");
  body.replaceChildren();
  for (const c of data.campaigns) {
    const row = el("tr", null, { "data-testid": "campaign-row", "data-campaign-id": c.campaign_id });
    const name = el("td");
    const link = el("a", c.name || c.campaign_id, { href: "#campaign=" + encodeURIComponent(c.campaign_id),
      "data-testid": "name" });
    name.appendChild(link);
    row.appendChild(name);
    row.appendChild(el("td", c.state, { "data-testid": "state" }));
    const progress = el("td", null, { "data-progress": String(c.progress) });
    progress.appendChild(bar(c.progress));
    row.appendChild(progress);
    row.appendChild(el("td", c.reached.sent, { "data-testid": "reached-sent" }));
    row.appendChild(el("td", c.reached.delivered, { "data-testid": "reached-delivered" }));
    row.appendChild(el("td", c.reached.read, { "data-testid": "reached-read" }));
    row.appendChild(el("td", c.counts.failed, { "data-testid": "count-failed" }));
    row.appendChild(el("td", c.pending, { "data-testid": "pending" }));
    row.appendChild(el("td", c.total, { "data-testid": "total" }));
    body.appendChild(row);
  }
}

function eta(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.round(seconds);
  return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
}

function renderDetail(d) {
  document.getElementById("detail-title").textContent = d.name + " (" + d.campaign_id + ")";
  document.getElementById("detail-state").textContent = d.state;
  document.getElementById("detail-rate").textContent = d.rate_per_s.toFixed(1);
  document.getElementById("detail-eta").textContent = eta(d.eta_s);
  const barEl = document.getElementById("detail-bar");
  barEl.style.width = Math.round(d.progress * 100) + "%";
  barEl.setAttribute("data-progress", String(d.progress));
  const counts = document.getElementById("detail-counts");
  counts.replaceChildren();
  const names = STATUSES.concat(Object.keys(d.counts).filter((s) => !STATUSES.includes(s)));
  for (const status of names.concat(["total"])) {
    const row = el("tr");
    row.appendChild(el("td", status));
    const value = status === "total" ? d.total : d.counts[status];
    row.appendChild(el("td", value, { "data-testid": "detail-count-" + status }));
    counts.appendChild(row);
  }
  const failures = document.getElementById("failures");
  failures.replaceChildren();
  for (const f of d.failures) {
    const row = el("tr", null, { "data-testid": "failure-row" });
    row.appendChild(el("td", f.error_class, { "data-testid": "failure-class" }));
    row.appendChild(el("td", f.code, { "data-testid": "failure-code" }));
    row.appendChild(el("td", f.count, { "data-testid": "failure-count" }));
    row.appendChild(el("td", f.example));
    failures.appendChild(row);
  }
  const replies = document.getElementById("replies");
  replies.replaceChildren();
  for (const o of d.replies.options) {
    const row = el("tr", null, { "data-testid": "reply-row" });
    row.appendChild(el("td", o.id, { "data-testid": "reply-id" }));
    row.appendChild(el("td", o.title));
    row.appendChild(el("td", o.count, { "data-testid": "reply-count" }));
    replies.appendChild(row);
  }
}

async function refresh(gen) {
  if (gen !== generation) return;
  const campaign = fragment().campaign;
  try {
    if (campaign) {
      renderDetail(await api("/v1/campaigns/" + encodeURIComponent(campaign)));
    } else {
      renderList(await api("/v1/campaigns"));
    }
    show("list", !campaign);
    show("detail", !!campaign);
    show("error", false);
    polls += 1;
    document.getElementById("polls").textContent = String(polls);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    const box = document.getElementById("error");
    box.textContent = err.message;
    show("error", true);
    if (!token()) return start();
  }
  if (gen === generation) timer = setTimeout(() => refresh(gen), 1000);
}

function start() {
  clearTimeout(timer);
  if (!token()) {
    show("list", false);
    show("detail", false);
    show("login", true);
    return;
  }
  show("login", false);
  generation += 1;
  refresh(generation);
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("dispatcher-token", document.getElementById("token-input").value);
  start();
});
window.addEventListener("hashchange", start);
start();
